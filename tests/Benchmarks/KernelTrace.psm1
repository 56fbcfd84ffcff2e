# The frozen window as the kernel sees it: tracefs syscall events for FIFREEZE and FITHAW, in a tracing instance
# of our own, parsed into calls and grouped into freeze->thaw pairs. Used by the benchmark and its tests.
#
#   $trace = Start-KernelTrace -ProcessId $PID        # this process, its threads and everything it starts from now on
#   try { ... freeze and thaw ... } finally { $text = Stop-KernelTrace $trace }   # always removes the instance
#   $calls = $text | ConvertFrom-KernelTrace
#   $calls | Measure-FreezeWindow -SetSize 4          # rounds: hold, user-space part, per member
#
# What is traced. sys_enter_ioctl is filtered in the kernel on cmd == FIFREEZE || cmd == FITHAW. sys_exit_ioctl has no
# cmd field, so no kernel filter can pick the exits of those two calls alone: the exit filter is 'ret <= 0' (both
# calls return 0 or -errno; that only drops ioctls returning a positive value), and the parser pairs each
# FIFREEZE/FITHAW entry with the next sys_exit_ioctl of the same thread: a thread cannot make another syscall before
# this one returns. Volume: with -ProcessId, the instance records only those processes (every thread listed in
# /proc/PID/task, and the threads of the children they already have) and, through the 'event-fork' option, every thread and process they start afterwards (fsfreeze(8),
# rawpair, fsfreeze-watchdog and its freeze thread): their few ioctl exits. Without it, every ioctl exit of the machine
# that returns <= 0 is kept: about 50 a second on a busy 2-core test machine, far below the buffer (-BufferSizeKB per
# CPU); lost events are counted (the stats' overrun and dropped counts, and the text's LOST lines) and reported.
#
# Timestamps come from the instance's 'mono' trace clock: CLOCK_MONOTONIC, the clock of [Diagnostics.Stopwatch] on
# Linux and of clock_gettime(CLOCK_MONOTONIC) in C, so kernel events and user-space windows compare directly. The text
# has microsecond resolution.
Set-StrictMode -Version 3.0

$script:FIFREEZE = [uint64]0xC0045877L   # L: a bare hex literal this large is a negative int
$script:FITHAW = [uint64]0xC0045878L
$script:TracingRoot = '/sys/kernel/tracing'

function Write-TracefsFile {
    # Writes one value the way 'echo VALUE > FILE' does, without O_TRUNC (which these files do not need). A value
    # the kernel refuses (a bad filter) fails the write: that surfaces as an exception naming the file.
    param([string] $Path, [string] $Value)
    $bytes = [Text.Encoding]::ASCII.GetBytes("$Value`n")
    try {
        $s = [IO.FileStream]::new($Path, [IO.FileMode]::Open, [IO.FileAccess]::Write, [IO.FileShare]::ReadWrite, 1)
        try { $s.Write($bytes, 0, $bytes.Length) } finally { $s.Dispose() }
    }
    catch { throw "Writing '$Value' to $Path failed: $($_.Exception.Message)" }
}

function Initialize-Tracefs {
    # tracefs may not be mounted (this machine mounts nothing on /sys/kernel/tracing at boot). Mount it, and leave it
    # mounted: others may be using it by the time we finish, and unmounting is theirs to decide.
    if (Test-Path -LiteralPath "$script:TracingRoot/instances") { return }
    & mount -t tracefs nodev $script:TracingRoot 2>&1 | Out-Null
    if ($LASTEXITCODE -ne 0 -or -not (Test-Path -LiteralPath "$script:TracingRoot/instances")) {
        throw "tracefs is not available at $script:TracingRoot (mount -t tracefs failed with $LASTEXITCODE); tracing needs root."
    }
}

function Start-KernelTrace {
    <#
    .SYNOPSIS
        Creates a uniquely named tracing instance recording every FIFREEZE and FITHAW entry and the ioctl exits, on the
        'mono' clock, and starts it. Returns the handle Stop-KernelTrace takes.
    .PARAMETER ProcessId
        Record only these processes (all their current threads) and every thread or process they start from now on.
        Without it, the whole machine.
    .PARAMETER BufferSizeKB
        Ring buffer per CPU.
    .PARAMETER AlsoSyscall
        More system calls to record the entry of (e.g. 'connect', 'accept4', 'write'): ConvertFrom-KernelTrace leaves
        them out; Get-KernelTraceSyscall lists them.
    #>
    [CmdletBinding()]
    param([int[]] $ProcessId, [ValidateRange(64, 1048576)][int] $BufferSizeKB = 4096, [ValidatePattern('^\w+$')][string[]] $AlsoSyscall = @())
    Initialize-Tracefs
    $name = 'fsfreeze-trace-{0}-{1}' -f $PID, [guid]::NewGuid().ToString('N').Substring(0, 8)
    $path = "$script:TracingRoot/instances/$name"
    [IO.Directory]::CreateDirectory($path) | Out-Null   # mkdir in instances/ creates the instance
    $trace = [pscustomobject]@{
        PSTypeName = 'FsFreeze.KernelTrace'; Name = $name; Path = $path; ProcessId = $ProcessId
        StartedNs = [long]0; Stopped = $false; AlsoSyscall = @()
    }
    try {
        Write-TracefsFile "$path/tracing_on" 0
        Write-TracefsFile "$path/buffer_size_kb" $BufferSizeKB
        Write-TracefsFile "$path/trace_clock" mono
        Write-TracefsFile "$path/options/record-tgid" 1
        Write-TracefsFile "$path/events/syscalls/sys_enter_ioctl/filter" ('cmd == 0x{0:x} || cmd == 0x{1:x}' -f $script:FIFREEZE, $script:FITHAW)
        Write-TracefsFile "$path/events/syscalls/sys_exit_ioctl/filter" 'ret <= 0'
        if ($ProcessId) {
            Write-TracefsFile "$path/options/event-fork" 1
            $tids = foreach ($p in $ProcessId) {
                $task = "/proc/$p/task"
                if (-not (Test-Path -LiteralPath $task)) { throw "No process $p to trace." }
                [IO.Directory]::GetDirectories($task) | ForEach-Object { [IO.Path]::GetFileName($_) }
                # Its children already running too (a pwsh's idle spare fsfreeze-watchdog, started before the trace: it
                # freezes for the next timed freeze), with their threads.
                foreach ($t in [IO.Directory]::GetDirectories($task)) {
                    $kids = try { [IO.File]::ReadAllText("$t/children").Split(' ', [StringSplitOptions]::RemoveEmptyEntries) } catch { @() }
                    foreach ($k in $kids) {
                        try { [IO.Directory]::GetDirectories("/proc/$k/task") | ForEach-Object { [IO.Path]::GetFileName($_) } } catch { }
                    }
                }
            }
            Write-TracefsFile "$path/set_event_pid" ($tids -join ' ')
        }
        Write-TracefsFile "$path/events/syscalls/sys_enter_ioctl/enable" 1
        Write-TracefsFile "$path/events/syscalls/sys_exit_ioctl/enable" 1
        foreach ($call in $AlsoSyscall) {
            if (-not (Test-Path -LiteralPath "$path/events/syscalls/sys_enter_$call")) { throw "The kernel has no syscall event sys_enter_$call." }
            Write-TracefsFile "$path/events/syscalls/sys_enter_$call/enable" 1
        }
        $trace.AlsoSyscall = $AlsoSyscall
        $trace.StartedNs = Get-MonotonicNs
        Write-TracefsFile "$path/tracing_on" 1
        $trace
    }
    catch {
        Remove-TraceInstance $path $AlsoSyscall
        throw
    }
}

function Stop-KernelTrace {
    <#
    .SYNOPSIS
        Stops the instance, reads its whole 'trace' text and removes the instance: always, also when reading fails.
        Returns an object with Text (the trace), LostEvents (ring-buffer overruns and drops, all CPUs) and Name.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0, ValueFromPipeline)] $Trace)
    process {
        $path = $Trace.Path
        try {
            Write-TracefsFile "$path/tracing_on" 0
            $text = [IO.File]::ReadAllText("$path/trace")
            $lost = 0L
            foreach ($stats in [IO.Directory]::GetDirectories("$path/per_cpu")) {
                foreach ($line in [IO.File]::ReadAllLines("$stats/stats")) {
                    if ($line -match '^(overrun|dropped events):\s*(\d+)') { $lost += [long]$Matches[2] }
                }
            }
            [pscustomobject]@{ PSTypeName = 'FsFreeze.KernelTraceText'; Name = $Trace.Name; Text = $text; LostEvents = $lost }
        }
        finally {
            $Trace.Stopped = $true
            Remove-TraceInstance $path $Trace.AlsoSyscall
        }
    }
}

function Remove-TraceInstance([string] $Path, [string[]] $Also = @()) {
    # Disable the events first (the kernel would on rmdir too), then rmdir. rmdir says EBUSY while a file of the
    # instance is open (a reader of trace_pipe): retry for a while, then say so.
    if (-not (Test-Path -LiteralPath $Path)) { return }
    foreach ($e in @('sys_enter_ioctl', 'sys_exit_ioctl') + @($Also | ForEach-Object { "sys_enter_$_" })) {
        try { Write-TracefsFile "$Path/events/syscalls/$e/enable" 0 } catch { }
    }
    for ($i = 0; $i -lt 50; $i++) {
        try { [IO.Directory]::Delete($Path); return }
        catch { if (-not (Test-Path -LiteralPath $Path)) { return }; Start-Sleep -Milliseconds 100 }
    }
    Write-Warning "The tracing instance $Path could not be removed: remove it with 'rmdir $Path' once nothing holds its files open."
}

function Clear-KernelTrace {
    <#
    .SYNOPSIS
        Empties the instance's buffer, as 'echo > trace' does: the kernel clears it when 'trace' is opened for writing
        with O_TRUNC. A .NET FileStream opened with FileMode.Truncate left the events in place (measured here), so the
        shell does it.
    #>
    param([Parameter(Mandatory, Position = 0)] $Trace)
    & /bin/sh -c 'echo > "$1"' clear "$($Trace.Path)/trace"
    if ($LASTEXITCODE -ne 0) { throw "Clearing $($Trace.Path)/trace failed." }
}

function Get-MonotonicNs {
    # CLOCK_MONOTONIC in ns: .NET's Stopwatch on Linux, the trace's 'mono' clock.
    [long]([Diagnostics.Stopwatch]::GetTimestamp() * (1e9 / [Diagnostics.Stopwatch]::Frequency))
}

# One event line, with or without the TGID column (record-tgid). The comm can hold spaces and dashes ("Pipeline Execut",
# pwsh's pipeline thread): it is everything before the last '-<digits>' that is followed by the TGID or CPU column.
$script:LineRegex = [regex]::new('^\s*(?<comm>.*?)-(?<tid>\d+)\s+(?:\(\s*(?<tgid>[-\d]+)\)\s+)?\[(?<cpu>\d+)\]\s+(?:\S+\s+)?(?<sec>\d+)\.(?<frac>\d+):\s+(?<rest>.*)$', 'Compiled')
$script:EnterRegex = [regex]::new('^sys_ioctl\(fd:\s*(?<fd>\w+),\s*cmd:\s*(?<cmd>\w+),\s*arg:\s*(?<arg>\w+)\)', 'Compiled')
$script:ExitRegex = [regex]::new('^sys_ioctl\s*->\s*(?<ret>-?\w+)', 'Compiled')

function ConvertFrom-TraceNumber([string] $Text) {
    # The syscall events print small values in decimal and larger ones as 0x...; a negative return as 64-bit hex.
    if ($Text.StartsWith('0x')) { return [BitConverter]::ToInt64([BitConverter]::GetBytes([Convert]::ToUInt64($Text.Substring(2), 16)), 0) }
    [long]::Parse($Text, [cultureinfo]::InvariantCulture)
}

function ConvertFrom-KernelTrace {
    <#
    .SYNOPSIS
        Turns the text of a trace (Stop-KernelTrace's object, or the text or lines themselves) into one object per
        FIFREEZE or FITHAW call: Pid (process, from the TGID column), Tid, Comm, Cmd ('FIFREEZE' or 'FITHAW'), Fd,
        Cpu (of the entry), EnterNs and ExitNs (CLOCK_MONOTONIC ns; ExitNs $null when the call had not returned or its
        exit was lost), Return (0 or -errno; $null without an exit), DurationMs. Ordered by entry.
    .DESCRIPTION
        Each call's exit is the next sys_ioctl exit of the same thread after its entry. Exits of other ioctls (the
        instance cannot filter them out) are consumed by nothing and dropped. A 'LOST EVENTS' line makes every call
        still waiting for its exit at that point uncertain: such calls are dropped with a warning rather than paired
        with a later, unrelated exit.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0, ValueFromPipeline)] $InputObject)
    begin { $lines = [Collections.Generic.List[string]]::new() }
    process {
        foreach ($item in $InputObject) {
            $text = if ($item -is [string]) { $item } elseif ($item.PSObject.Properties['Text']) { [string]$item.Text } else { [string]$item }
            foreach ($l in $text -split "`r?`n") { $lines.Add($l) }
        }
    }
    end {
        $calls = [Collections.Generic.List[object]]::new()
        $pending = @{}   # tid -> the call waiting for its exit ($null: some other ioctl is)
        foreach ($line in $lines) {
            if (-not $line -or $line.StartsWith('#')) { continue }
            if ($line -match 'LOST (\d+) EVENTS') {
                if ($pending.Count) { Write-Warning "The trace lost $($Matches[1]) events; dropping $($pending.Count) calls whose exit may be among them." }
                foreach ($c in @($pending.Values)) { if ($c) { [void]$calls.Remove($c) } }
                $pending.Clear()
                continue
            }
            $m = $script:LineRegex.Match($line)
            if (-not $m.Success) { continue }
            $tid = [int]$m.Groups['tid'].Value
            $ns = [long]$m.Groups['sec'].Value * 1000000000L + [long]($m.Groups['frac'].Value.PadRight(9, '0').Substring(0, 9))
            $rest = $m.Groups['rest'].Value
            $enter = $script:EnterRegex.Match($rest)
            if ($enter.Success) {
                $cmd = [uint64](ConvertFrom-TraceNumber $enter.Groups['cmd'].Value)
                $name = if ($cmd -eq $script:FIFREEZE) { 'FIFREEZE' } elseif ($cmd -eq $script:FITHAW) { 'FITHAW' } else { $null }
                if (-not $name) { $pending[$tid] = $null; continue }   # some other ioctl: its exit is not ours
                $tgid = $m.Groups['tgid'].Value
                $call = [pscustomobject]@{
                    PSTypeName = 'FsFreeze.KernelTrace.Call'
                    Pid = if ($tgid -match '^\d+$') { [int]$tgid } else { $null }; Tid = $tid; Comm = $m.Groups['comm'].Value.Trim()
                    Cmd = $name; Fd = [int](ConvertFrom-TraceNumber $enter.Groups['fd'].Value); Cpu = [int]$m.Groups['cpu'].Value
                    EnterNs = $ns; ExitNs = $null; Return = $null; DurationMs = $null
                }
                $calls.Add($call)
                $pending[$tid] = $call
                continue
            }
            $exit = $script:ExitRegex.Match($rest)
            if ($exit.Success -and $pending.ContainsKey($tid)) {
                $call = $pending[$tid]
                $pending.Remove($tid)
                if ($call) {
                    $call.ExitNs = $ns
                    $call.Return = ConvertFrom-TraceNumber $exit.Groups['ret'].Value
                    $call.DurationMs = ($ns - $call.EnterNs) / 1e6
                }
            }
        }
        $calls | Sort-Object EnterNs
    }
}

function Get-UnionNs {
    # Total length of the union of [start, end] intervals: time inside at least one call.
    param([object[]] $Intervals)
    $sorted = @($Intervals | Sort-Object { $_[0] })
    $total = 0L; $curS = $null; $curE = $null
    foreach ($iv in $sorted) {
        if ($null -eq $curS) { $curS = $iv[0]; $curE = $iv[1]; continue }
        if ($iv[0] -le $curE) { if ($iv[1] -gt $curE) { $curE = $iv[1] } }
        else { $total += $curE - $curS; $curS = $iv[0]; $curE = $iv[1] }
    }
    if ($null -ne $curS) { $total += $curE - $curS }
    $total
}

function Measure-FreezeWindow {
    <#
    .SYNOPSIS
        Groups FIFREEZE/FITHAW calls (ConvertFrom-KernelTrace) into rounds of freeze->thaw pairs and measures them.
    .DESCRIPTION
        A round is -SetSize successful FIFREEZEs followed by -SetSize successful FITHAWs, in order of entry; the calls
        must form whole rounds (else it throws: the trace holds something the caller did not expect). Failed calls
        (Return != 0) and calls without an exit are left out and counted in each round's Failed/NoExit.

        Which FITHAW thaws which member. The trace names no filesystem: a call has only a process and an fd, and fd
        numbers are per process and reused after a close; fsfreeze(8) freezes and thaws in two processes, and
        fsfreeze-watchdog freezes in one thread and thaws in another. So members are paired by order, which the caller
        knows: member k is the round's k-th FIFREEZE (by entry); -ThawOrder Reverse (FsFreeze, rawpair: last frozen,
        first thawed) pairs it with the k-th FITHAW from the end, Forward with the k-th. For one filesystem this is
        exact whoever calls: the kernel allows one userspace freeze at a time, so its successful FIFREEZEs and FITHAWs
        alternate. -ThawOrder ByFd pairs a FITHAW with the FIFREEZE of the same process and fd in the round instead
        (exact when one process freezes and thaws through descriptors it keeps open; throws when that does not hold).
        Each member's FdMatch compares the fds when one process froze and thawed it: $true the same fd, $null two
        processes. $false means either a wrong order or a process that thaws through a descriptor it opened anew
        (Invoke-FsThaw after an in-process Invoke-FsFreeze -TimeoutSec 0 does: the freeze's fds are closed by then).

        Per round: SetHoldMs (first FIFREEZE entry to last FITHAW exit), UserMs (the part of the hold inside no
        FIFREEZE/FITHAW: for one pair, FIFREEZE exit to FITHAW entry), InCallsMs, FreezeSpanMs (first FIFREEZE entry
        to last FIFREEZE exit), SlowestFreezeMs and SumFreezeMs (members' own FIFREEZE durations), SumThawMs, and
        Members (per member: HoldMs = its FIFREEZE entry to its FITHAW exit, UserMs = its FIFREEZE exit to its FITHAW
        entry, FreezeMs, ThawMs, processes and fds).
    .PARAMETER ProcessId
        Only calls made by these processes.
    .PARAMETER FromNs
        Only calls entered at or after this CLOCK_MONOTONIC time (ns); -ToNs: entered at or before.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, ValueFromPipeline)] [AllowEmptyCollection()] [object[]] $Call,
        [ValidateRange(1, 100000)] [int] $SetSize = 1,
        [ValidateSet('Reverse', 'Forward', 'ByFd')] [string] $ThawOrder = 'Reverse',
        [int[]] $ProcessId,
        [long] $FromNs = [long]::MinValue,
        [long] $ToNs = [long]::MaxValue
    )
    begin { $all = [Collections.Generic.List[object]]::new() }
    process { foreach ($c in $Call) { if ($c) { $all.Add($c) } } }
    end {
        $mine = @($all | Where-Object { $_.EnterNs -ge $FromNs -and $_.EnterNs -le $ToNs -and (-not $ProcessId -or $ProcessId -contains $_.Pid) } | Sort-Object EnterNs)
        $ok = @($mine | Where-Object { $null -ne $_.ExitNs -and $_.Return -eq 0 })
        $failed = @($mine | Where-Object { $null -ne $_.ExitNs -and $_.Return -ne 0 }).Count
        $noExit = @($mine | Where-Object { $null -eq $_.ExitNs }).Count
        $per = 2 * $SetSize
        if ($ok.Count % $per) {
            throw "Measure-FreezeWindow: $($ok.Count) successful calls do not form whole rounds of $SetSize FIFREEZE + $SetSize FITHAW ($(($ok | ForEach-Object { "$($_.Cmd)@$($_.Pid)" }) -join ', '))."
        }
        for ($r = 0; $r -lt $ok.Count / $per; $r++) {
            $chunk = $ok[($r * $per)..($r * $per + $per - 1)]
            $freezes = @($chunk[0..($SetSize - 1)])
            $thaws = @($chunk[$SetSize..($per - 1)])
            if (@($freezes | Where-Object Cmd -NE 'FIFREEZE').Count -or @($thaws | Where-Object Cmd -NE 'FITHAW').Count) {
                throw "Measure-FreezeWindow: round $r is not $SetSize FIFREEZE then $SetSize FITHAW: $(($chunk | ForEach-Object Cmd) -join ', ')."
            }
            $members = for ($k = 0; $k -lt $SetSize; $k++) {
                $f = $freezes[$k]
                $t = switch ($ThawOrder) {
                    'Reverse' { $thaws[$SetSize - 1 - $k] }
                    'Forward' { $thaws[$k] }
                    'ByFd' {
                        $match = @($thaws | Where-Object { $_.Pid -eq $f.Pid -and $_.Fd -eq $f.Fd })
                        if ($match.Count -ne 1) { throw "Measure-FreezeWindow: round $r, the FIFREEZE of process $($f.Pid) on fd $($f.Fd) has $($match.Count) FITHAWs on that fd." }
                        $match[0]
                    }
                }
                [pscustomobject]@{
                    Member = $k; FreezePid = $f.Pid; FreezeTid = $f.Tid; FreezeComm = $f.Comm; FreezeFd = $f.Fd
                    ThawPid = $t.Pid; ThawTid = $t.Tid; ThawComm = $t.Comm; ThawFd = $t.Fd
                    FreezeEnterNs = $f.EnterNs; FreezeExitNs = $f.ExitNs; ThawEnterNs = $t.EnterNs; ThawExitNs = $t.ExitNs
                    FreezeMs = ($f.ExitNs - $f.EnterNs) / 1e6; ThawMs = ($t.ExitNs - $t.EnterNs) / 1e6
                    HoldMs = ($t.ExitNs - $f.EnterNs) / 1e6; UserMs = ($t.EnterNs - $f.ExitNs) / 1e6
                    FdMatch = if ($f.Pid -ne $t.Pid) { $null } else { $f.Fd -eq $t.Fd }
                }
            }
            $first = ($freezes | Measure-Object EnterNs -Minimum).Minimum
            $last = ($thaws | Measure-Object ExitNs -Maximum).Maximum
            $inCalls = Get-UnionNs @($chunk | ForEach-Object { , @($_.EnterNs, $_.ExitNs) })
            $freezeMs = @($members | ForEach-Object FreezeMs)
            [pscustomobject]@{
                PSTypeName = 'FsFreeze.KernelTrace.Round'
                Round = $r; SetSize = $SetSize; FirstFreezeEnterNs = [long]$first; LastThawExitNs = [long]$last
                SetHoldMs = ($last - $first) / 1e6; InCallsMs = $inCalls / 1e6; UserMs = ($last - $first - $inCalls) / 1e6
                FreezeSpanMs = ((($freezes | Measure-Object ExitNs -Maximum).Maximum) - $first) / 1e6
                SlowestFreezeMs = ($freezeMs | Measure-Object -Maximum).Maximum; SumFreezeMs = ($freezeMs | Measure-Object -Sum).Sum
                SumThawMs = (@($members | ForEach-Object ThawMs) | Measure-Object -Sum).Sum
                FdMismatches = @($members | Where-Object { $_.FdMatch -eq $false }).Count
                Failed = $failed; NoExit = $noExit; Members = @($members)
            }
        }
    }
}

function Get-KernelTraceSyscall {
    <#
    .SYNOPSIS
        The entries of the system calls Start-KernelTrace -AlsoSyscall recorded: Pid, Tid, Comm, Name ('connect', ...),
        Args (the text between the parentheses) and EnterNs (CLOCK_MONOTONIC ns), in order.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0, ValueFromPipeline)] $InputObject, [string[]] $Name)
    process {
        $text = if ($InputObject -is [string]) { $InputObject } elseif ($InputObject.PSObject.Properties['Text']) { [string]$InputObject.Text } else { [string]$InputObject }
        foreach ($line in $text -split "`r?`n") {
            $m = $script:LineRegex.Match($line)
            if (-not $m.Success) { continue }
            $call = [regex]::Match($m.Groups['rest'].Value, '^sys_(?<name>\w+)\((?<args>.*)\)\s*$')
            if (-not $call.Success -or $call.Groups['name'].Value -eq 'ioctl') { continue }
            if ($Name -and $call.Groups['name'].Value -notin $Name) { continue }
            $tgid = $m.Groups['tgid'].Value
            [pscustomobject]@{
                Pid = if ($tgid -match '^\d+$') { [int]$tgid } else { $null }; Tid = [int]$m.Groups['tid'].Value; Comm = $m.Groups['comm'].Value.Trim()
                Name = $call.Groups['name'].Value; Args = $call.Groups['args'].Value
                EnterNs = [long]$m.Groups['sec'].Value * 1000000000L + [long]($m.Groups['frac'].Value.PadRight(9, '0').Substring(0, 9))
            }
        }
    }
}

Export-ModuleMember -Function Start-KernelTrace, Stop-KernelTrace, Clear-KernelTrace, ConvertFrom-KernelTrace, Measure-FreezeWindow, Get-MonotonicNs, Get-KernelTraceSyscall
