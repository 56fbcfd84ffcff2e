# Fixtures for FsFreeze tests: real loop filesystems in a temp directory the test created, always torn down.
# Safety: only ever freeze what New-LoopFilesystem mounted. Teardown thaws (tolerating "not frozen") BEFORE
# unmounting, because an unmounted frozen filesystem stays frozen, invisibly.

Set-StrictMode -Version 3.0

function Invoke-Native {
    # Runs a native command; throws with its output when it fails. $rest is always an array: with one argument,
    # '$exe, $rest = $args' made it a string, and '@rest' then splatted it character by character
    # ('umount /tmp/x/mnt' ran 'umount / t m p ...').
    $exe = $args[0]
    $rest = @($args | Select-Object -Skip 1)
    $out = & $exe @rest 2>&1
    if ($LASTEXITCODE -ne 0) { throw "'$exe $($rest -join ' ')' failed ($LASTEXITCODE): $out" }
    $out
}

function New-LoopFilesystem {
    <#
    .SYNOPSIS
        Makes an image, a loop device and a mount of the given type under a fresh temp directory.
    .PARAMETER MountName
        The mount point's leaf name (may contain spaces).
    .PARAMETER Under
        Mount inside this existing directory (for nested mounts) instead of a new temp directory.
    #>
    param(
        [ValidateSet('ext4', 'xfs', 'btrfs', 'tmpfs', 'ext2', 'ext3', 'vfat')]
        [string] $Type = 'ext4',
        [string] $MountName = 'mnt',
        [int] $SizeMB = 0,
        [string] $Under,
        # Extra mkfs options, e.g. '-E', 'lazy_itable_init=0,lazy_journal_init=0' so ext4 is idle right after mount (benchmarks).
        [string[]] $MkfsOption = @()
    )
    $root = if ($Under) { $Under } else { New-TestDirectory }
    $fs = [pscustomobject]@{
        PSTypeName = 'FsFreeze.Test.LoopFilesystem'
        Type       = $Type
        Root       = $root
        OwnsRoot   = -not $Under
        Image      = $null
        Loop       = $null
        MountPoint = Join-Path $root $MountName
    }
    try {
        New-Item -ItemType Directory -Path $fs.MountPoint -Force | Out-Null
        if ($Type -eq 'tmpfs') {
            Invoke-Native mount -t tmpfs -o size=16m fsfreeze-test $fs.MountPoint | Out-Null
            return $fs
        }
        if ($SizeMB -eq 0) { $SizeMB = switch ($Type) { 'xfs' { 320 } 'btrfs' { 160 } default { 64 } } }
        $fs.Image = Join-Path $root "$MountName.img".Replace(' ', '_')
        Invoke-Native truncate -s "${SizeMB}M" $fs.Image | Out-Null
        switch ($Type) {
            'xfs' { Invoke-Native mkfs.xfs -q -f @MkfsOption $fs.Image | Out-Null }
            'btrfs' { Invoke-Native mkfs.btrfs -q -f @MkfsOption $fs.Image | Out-Null }
            'vfat' { Invoke-Native mkfs.vfat @MkfsOption $fs.Image | Out-Null }
            default { Invoke-Native "mkfs.$Type" -q -F @MkfsOption $fs.Image | Out-Null }
        }
        $fs.Loop = (Invoke-Native losetup -f --show $fs.Image | Select-Object -Last 1).Trim()
        Invoke-Native mount $fs.Loop $fs.MountPoint | Out-Null
        return $fs
    }
    catch {
        Remove-LoopFilesystem $fs
        throw
    }
}

function Remove-LoopFilesystem {
    # Thaw, unmount, detach, delete: each step tolerates what is already gone. What it cannot undo, and a
    # filesystem the test left frozen for teardown to thaw, is recorded in the run's ledger: Invoke-Tests.ps1
    # counts every such problem as a failure (a warning alone let leaks pass).
    param([Parameter(ValueFromPipeline)] $Filesystem)
    process {
        if (-not $Filesystem) { return }
        $problems = @()
        if (Test-IsMounted $Filesystem.MountPoint) {
            & fsfreeze -u $Filesystem.MountPoint 2>$null   # "Invalid argument" = was not frozen: fine
            if ($LASTEXITCODE -eq 0) { $problems += "$($Filesystem.MountPoint) was still frozen at teardown (thawed it now)" }
            & umount $Filesystem.MountPoint 2>&1 | Out-Null
            if ($LASTEXITCODE -ne 0) {
                Start-Sleep -Milliseconds 200   # a child process may still hold a file open
                & fsfreeze -u $Filesystem.MountPoint 2>$null
                & umount -l $Filesystem.MountPoint 2>&1 | Out-Null
                if ($LASTEXITCODE -ne 0) { $problems += "umount $($Filesystem.MountPoint) failed" }
            }
        }
        if ($Filesystem.Loop) {
            # Only while it is still ours: a device detached earlier may since carry another process's image.
            $backing = try { [IO.File]::ReadAllText("/sys/block/$(Split-Path -Leaf $Filesystem.Loop)/loop/backing_file").Trim() -replace ' \(deleted\)$', '' } catch { $null }
            if ($backing -and $backing -eq $Filesystem.Image) {
                & losetup -d $Filesystem.Loop 2>&1 | Out-Null
                if ($LASTEXITCODE -ne 0) { $problems += "losetup -d $($Filesystem.Loop) failed" }
            }
            elseif ($backing) { $problems += "$($Filesystem.Loop) no longer holds $($Filesystem.Image) (now $backing): left alone" }
        }
        if ($Filesystem.OwnsRoot -and (Test-Path $Filesystem.Root)) {
            if (-not (Get-Mounts | Where-Object { $_.StartsWith("$($Filesystem.Root)/") })) {
                Remove-Item -LiteralPath $Filesystem.Root -Recurse -Force -ErrorAction SilentlyContinue
            }
        }
        foreach ($p in $problems) { Add-TeardownProblem $p }
    }
}

function Get-Mounts {
    # Mount points from mountinfo, unescaped.
    foreach ($line in [IO.File]::ReadAllLines('/proc/self/mountinfo')) {
        $f = $line.Split(' ')
        [regex]::Replace($f[4], '\\([0-7]{3})', { param($m) [char][Convert]::ToInt32($m.Groups[1].Value, 8) })
    }
}

function Test-IsMounted([string] $Path) { (Get-Mounts) -contains $Path }

function Test-IsFrozen {
    <#
    .SYNOPSIS
        The kernel's only probe (FACTS.md): FIFREEZE. EBUSY = frozen (true); success = not frozen, and we froze it,
        so thaw at once (false). Any other failure (a missing or empty path, EPERM, EOPNOTSUPP) throws: it says
        nothing about a freeze, and a test asserting "frozen" must not pass on it.
    #>
    param([Parameter(Mandatory)][AllowEmptyString()][string] $Path)
    $out = (& env LC_ALL=C fsfreeze -f $Path 2>&1) -join ' '
    if ($LASTEXITCODE -eq 0) {
        $thaw = (& env LC_ALL=C fsfreeze -u $Path 2>&1) -join ' '
        if ($LASTEXITCODE -ne 0) { throw "Test-IsFrozen: froze '$Path' to probe it and could not thaw it: $thaw" }
        return $false
    }
    if ($out -match 'freeze failed: Device or resource busy') { return $true }
    throw "Test-IsFrozen: 'fsfreeze -f $Path' failed for another reason than EBUSY, so whether it is frozen is unknown: $out"
}

function Start-ProbeWriter {
    <#
    .SYNOPSIS
        Starts a child process that writes one file into $Directory. On a frozen filesystem it blocks
        (uninterruptibly), so the test thaws; it never waits on it unbounded.
    #>
    param([string] $Directory, [string] $Name = "probe-$([guid]::NewGuid().ToString('N')).txt",
        # Only create and write, no fsync: a writer that must not wait for I/O (the flush tests hold the I/O).
        [switch] $NoSync)
    $target = Join-Path $Directory $Name
    $psi = [Diagnostics.ProcessStartInfo]::new('/bin/sh')
    $psi.ArgumentList.Add('-c')
    $psi.ArgumentList.Add($NoSync ? 'printf written > "$1"' : 'printf written > "$1" && sync "$1"')
    $psi.ArgumentList.Add('probe')
    $psi.ArgumentList.Add($target)
    $psi.UseShellExecute = $false
    $p = [Diagnostics.Process]::Start($psi)
    [pscustomobject]@{ Process = $p; Path = $target }
}

function Wait-ProbeWriter {
    # True when the writer finished within the bound. Finishing proves it was not held; NOT finishing proves
    # nothing (a slow process start looks the same): use Wait-WriterBlocked for "it is held".
    param($Probe, [int] $TimeoutMs = 10000)
    $Probe.Process.WaitForExit($TimeoutMs)
}

function Get-TaskState {
    <#
    .SYNOPSIS
        State letter (R, S, D, ...) and wchan of each thread of a process, from /proc; nothing when it is gone.
    #>
    param([Parameter(Mandatory)][int] $ProcessId)
    foreach ($task in Get-ChildItem "/proc/$ProcessId/task" -Directory -ErrorAction SilentlyContinue) {
        try {
            $stat = [IO.File]::ReadAllText("$($task.FullName)/stat")
            $wchan = [IO.File]::ReadAllText("$($task.FullName)/wchan")
        }
        catch { continue }   # the thread or the process ended meanwhile
        # The command name in parentheses may hold spaces: the state is the first field after the last ')'.
        [pscustomobject]@{ Tid = [int]$task.Name; State = $stat.Substring($stat.LastIndexOf(')') + 2, 1); WChan = $wchan.Trim() }
    }
}

function Wait-ProcessState {
    <#
    .SYNOPSIS
        Polls (bounded) until a thread of the process is in -State (e.g. D) with a wchan matching -WChan (a
        wildcard). True when seen; false at the bound or once the process is gone.
    #>
    param([Parameter(Mandatory)][int] $ProcessId, [string] $State = 'D', [string] $WChan = '*', [int] $TimeoutMs = 10000)
    $deadline = [DateTime]::UtcNow.AddMilliseconds($TimeoutMs)
    do {
        $tasks = @(Get-TaskState $ProcessId)
        if ($tasks.Count -eq 0) { return $false }
        if ($tasks | Where-Object { $_.State -eq $State -and $_.WChan -like $WChan }) { return $true }
        Start-Sleep -Milliseconds 20
    } while ([DateTime]::UtcNow -lt $deadline)
    $false
}

function Wait-WriterBlocked {
    <#
    .SYNOPSIS
        True once the probe writer sleeps uninterruptibly where a frozen filesystem holds its writers (D state,
        wchan percpu_rwsem_wait: sb_start_write waiting for the thaw). A writer that is merely slow to start,
        or one that finished, is not blocked.
    #>
    param([Parameter(Mandatory)] $Probe, [int] $TimeoutMs = 10000)
    Wait-ProcessState -ProcessId $Probe.Process.Id -State D -WChan 'percpu_rwsem_wait' -TimeoutMs $TimeoutMs
}

function Get-TestLedger {
    # The run's ledger (Invoke-Tests.ps1 sets it): directories this run made, and teardown problems. $null when a
    # test file runs on its own, without Invoke-Tests.ps1.
    if ($env:FSFREEZE_TEST_LEDGER) { $env:FSFREEZE_TEST_LEDGER } else { $null }
}

function New-TestDirectory {
    <#
    .SYNOPSIS
        mktemp -d /tmp/<Prefix>.XXXXXX, recorded in the run's ledger, so the run's final leak check looks for
        mounts, loop devices and watchdogs of this run there (and only there: other engineers' are not ours).
    #>
    param([string] $Prefix = 'fsfreeze-test')
    $dir = ((& mktemp -d "/tmp/$Prefix.XXXXXX") | Select-Object -Last 1).Trim()
    if ($LASTEXITCODE -ne 0 -or -not $dir) { throw "mktemp -d /tmp/$Prefix.XXXXXX failed" }
    $ledger = Get-TestLedger
    if ($ledger) { [IO.File]::AppendAllText($ledger, "dir`t$dir`n") }
    $dir
}

function Add-TeardownProblem {
    # A teardown step that failed, or found what the test should have undone: a warning now, a failure of the run
    # at its end (Invoke-Tests.ps1 reads the ledger).
    param([Parameter(Mandatory)][string] $Problem)
    Write-Warning "Teardown: $Problem"
    $ledger = Get-TestLedger
    if ($ledger) { [IO.File]::AppendAllText($ledger, "problem`t$($Problem -replace '[\r\n\t]', ' ')`n") }
}

Export-ModuleMember -Function New-LoopFilesystem, Remove-LoopFilesystem, Get-Mounts, Test-IsMounted, Test-IsFrozen, Start-ProbeWriter, Wait-ProbeWriter, Invoke-Native,
    Get-TaskState, Wait-ProcessState, Wait-WriterBlocked, New-TestDirectory, Add-TeardownProblem

function Get-PwshPath {
    # The pwsh running the tests; under 'dotnet pwsh' the process is dotnet, but $PSHOME/pwsh is an apphost.
    Join-Path $PSHOME 'pwsh'
}
Export-ModuleMember -Function Get-PwshPath

function New-NestedLoopFilesystem {
    <#
    .SYNOPSIS
        A loop filesystem mounted inside another one, with its image OUTSIDE the parent. An image on the parent
        would make the nested FIFREEZE write through the loop device into the frozen parent if the order were
        ever wrong, and hang the test process uninterruptibly instead of failing it.
    #>
    param([Parameter(Mandatory)] $Parent, [string] $Type = 'ext4', [string] $MountName = 'nested')
    $fs = New-LoopFilesystem -Type $Type
    Move-LoopFilesystem $fs "$($Parent.MountPoint)/$MountName"
}

function Move-LoopFilesystem {
    <#
    .SYNOPSIS
        Unmounts a New-LoopFilesystem fixture and mounts its device at -MountPoint, taken literally (New-Item and
        Join-Path would turn a '\' into '/'). Returns the fixture, whose teardown then unmounts the new place.
    #>
    param([Parameter(Mandatory)] $Filesystem, [Parameter(Mandatory)] [string] $MountPoint)
    try {
        & umount $Filesystem.MountPoint   # not Invoke-Native: with a single argument it splats the string's characters
        if ($LASTEXITCODE -ne 0) { throw "umount $($Filesystem.MountPoint) failed" }
        [IO.Directory]::CreateDirectory($MountPoint) | Out-Null
        $Filesystem.MountPoint = $MountPoint
        Invoke-Native mount $Filesystem.Loop $MountPoint | Out-Null
        return $Filesystem
    }
    catch {
        Remove-LoopFilesystem $Filesystem
        throw
    }
}

function Add-ExtraMount {
    <#
    .SYNOPSIS
        A second mount of a test filesystem: a bind mount of -Source (a directory of a test mount), or with
        -BtrfsSubvolume a mount of that subvolume of the test filesystem's loop device. Returns its mount point.
    #>
    param([Parameter(Mandatory)] $Filesystem, [Parameter(Mandatory)] [string] $Name, [string] $Source, [string] $BtrfsSubvolume)
    $target = "$($Filesystem.Root)/$Name"   # not Join-Path, which turns '\' into '/'

    [IO.Directory]::CreateDirectory($target) | Out-Null   # the provider cmdlets also turn '\' into '/'
    if ($BtrfsSubvolume) { Invoke-Native mount -o "subvol=$BtrfsSubvolume" $Filesystem.Loop $target | Out-Null }
    else { Invoke-Native mount --bind ($Source ? $Source : $Filesystem.MountPoint) $target | Out-Null }
    $target
}

function Remove-ExtraMount {
    # Thaws through it (tolerating "not frozen"), then unmounts it: the main fixture's teardown cannot see it.
    param([string] $MountPoint)
    if (-not $MountPoint -or -not (Test-IsMounted $MountPoint)) { return }
    & fsfreeze -u $MountPoint 2>$null
    if ($LASTEXITCODE -eq 0) { Add-TeardownProblem "$MountPoint was still frozen at teardown (thawed it now)" }
    & umount $MountPoint 2>&1 | Out-Null
    if ($LASTEXITCODE -ne 0) { & umount -l $MountPoint 2>&1 | Out-Null }
    if ($LASTEXITCODE -ne 0) { Add-TeardownProblem "umount $MountPoint failed" }
    try { [IO.Directory]::Delete($MountPoint) } catch { Add-TeardownProblem "rmdir $MountPoint failed: $_" }
}

function Start-PwshProcess {
    # The one way the tests start a child pwsh: argv as given (no shell, no quoting), stdout and stderr redirected,
    # in /, with this run's module path and the values of -Environment.
    param([Parameter(Mandatory)] [string[]] $Argv, [hashtable] $Environment = @{})
    $psi = [Diagnostics.ProcessStartInfo]::new($Argv[0])
    foreach ($a in $Argv[1..($Argv.Count - 1)]) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.WorkingDirectory = '/'
    $psi.Environment['FSFREEZE_TEST_MODULE'] = $env:FSFREEZE_TEST_MODULE
    foreach ($k in $Environment.Keys) { $psi.Environment[$k] = [string]$Environment[$k] }
    [Diagnostics.Process]::Start($psi)
}

function Invoke-ChildPwsh {
    <#
    .SYNOPSIS
        Runs -Command in a fresh child pwsh (-NoProfile -NonInteractive) and returns its exit code and output.
        Values go in through -Environment (no quoting of paths with spaces or tabs into the script).
        -Prefix runs it under another program, e.g. setpriv. The wait is bounded; on a timeout the child is killed.
    #>
    param(
        [Parameter(Mandatory)] [string] $Command,
        [hashtable] $Environment = @{},
        [string[]] $Prefix = @(),
        [int] $TimeoutMs = 60000,
        # Another pwsh than this one's (a copy that an unprivileged user can run).
        [string] $PwshPath = (Get-PwshPath)
    )
    $p = Start-PwshProcess -Argv (@($Prefix) + @($PwshPath, '-NoProfile', '-NonInteractive', '-Command', $Command)) -Environment $Environment
    $out = $p.StandardOutput.ReadToEndAsync()
    $err = $p.StandardError.ReadToEndAsync()
    $timedOut = -not $p.WaitForExit($TimeoutMs)
    if ($timedOut) { $p.Kill($true); $null = $p.WaitForExit(5000) }
    [pscustomobject]@{
        ExitCode = $timedOut ? -1 : $p.ExitCode
        TimedOut = $timedOut
        StdOut   = $out.Wait(5000) ? $out.Result : ''
        StdErr   = $err.Wait(5000) ? $err.Result : ''
        Lines    = @(($out.Wait(0) ? $out.Result : '') -split "`n" | ForEach-Object TrimEnd | Where-Object { $_ })
    }
}

function Get-ErrorSummary {
    # "Id|Category|Target" of an ErrorRecord, the form the tests assert on (also printed by child pwsh scripts).
    param([Parameter(ValueFromPipeline)] [System.Management.Automation.ErrorRecord] $ErrorRecord)
    process { '{0}|{1}|{2}' -f ($ErrorRecord.FullyQualifiedErrorId -split ',')[0], $ErrorRecord.CategoryInfo.Category, $ErrorRecord.TargetObject }
}

Export-ModuleMember -Function New-NestedLoopFilesystem, Move-LoopFilesystem, Add-ExtraMount, Remove-ExtraMount, Invoke-ChildPwsh, Get-ErrorSummary

function Start-BackgroundPwsh {
    <#
    .SYNOPSIS
        Starts -Command in a child pwsh (-NoProfile -NonInteractive) without waiting for it; values go in through
        -Environment. Read its stdout with Read-BackgroundLine (bounded); end it with Stop-BackgroundPwsh.
        -DefaultSigInt: started through 'env --default-signal=INT', so a real SIGINT reaches it even when this
        run inherited SIGINT ignored (a background job), as a Ctrl+C at a terminal would.
    #>
    param([Parameter(Mandatory)] [string] $Command, [hashtable] $Environment = @{}, [switch] $DefaultSigInt, [switch] $NewSession)
    $argv = @()
    if ($NewSession) { $argv += 'setsid' }   # a fresh child is no group leader, so setsid execs: the pid stays pwsh's
    if ($DefaultSigInt) { $argv += 'env', '--default-signal=INT' }
    $argv += (Get-PwshPath), '-NoProfile', '-NonInteractive', '-Command', $Command
    $p = Start-PwshProcess -Argv $argv -Environment $Environment
    [pscustomobject]@{ Process = $p; Pending = $null; Lines = [Collections.Generic.List[string]]::new(); StdErr = $p.StandardError.ReadToEndAsync() }
}

function Read-BackgroundLine {
    # The child's next stdout line, or $null when none came within the bound (or its output ended).
    param([Parameter(Mandatory)] $Child, [int] $TimeoutMs = 30000)
    if (-not $Child.Pending) { $Child.Pending = $Child.Process.StandardOutput.ReadLineAsync() }
    if (-not $Child.Pending.Wait($TimeoutMs)) { return $null }
    $line = $Child.Pending.Result
    $Child.Pending = $null
    if ($null -ne $line) { $Child.Lines.Add($line) }
    $line
}

function Stop-BackgroundPwsh {
    # Waits (bounded) for the child to end on its own, then kills it and its children. Call after the thaw: a
    # child asleep on a frozen filesystem cannot die before it.
    param($Child, [int] $WaitMs = 10000)
    if (-not $Child) { return }
    if (-not $Child.Process.WaitForExit($WaitMs)) { $Child.Process.Kill($true); [void]$Child.Process.WaitForExit(5000) }
}

function Get-ChildProcessId {
    # Pids whose parent is -ParentId (from /proc/*/stat).
    param([Parameter(Mandatory)][int] $ParentId)
    foreach ($d in [IO.Directory]::GetDirectories('/proc')) {
        $name = [IO.Path]::GetFileName($d)
        if ($name -notmatch '^\d+$') { continue }
        try { $stat = [IO.File]::ReadAllText("$d/stat") } catch { continue }
        $fields = $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')
        if ([int]$fields[1] -eq $ParentId) { [int]$name }
    }
}

function Start-IndependentThaw {
    <#
    .SYNOPSIS
        The net behind a test that freezes something the code under test may never thaw: a process in its own
        session that runs 'fsfreeze -u' on the mount point after -Seconds, whatever happens to this run. Returns
        its pid; Stop-IndependentThaw ends it once the test's own teardown has thawed.
    #>
    param([Parameter(Mandatory)][string] $MountPoint, [int] $Seconds = 60)
    $psi = [Diagnostics.ProcessStartInfo]::new('setsid')
    foreach ($a in 'sh', '-c', 'sleep "$1"; fsfreeze -u "$2"', 'thaw', [string]$Seconds, $MountPoint) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardError = $true
    ([Diagnostics.Process]::Start($psi)).Id
}

function Stop-IndependentThaw([int] $ProcessId) {
    if ($ProcessId -gt 0) { & pkill -TERM -P $ProcessId 2>$null; & kill -TERM $ProcessId 2>$null }
}

Export-ModuleMember -Function Start-BackgroundPwsh, Read-BackgroundLine, Stop-BackgroundPwsh, Get-ChildProcessId, Start-IndependentThaw, Stop-IndependentThaw

function Get-ProcStat {
    # The process group and session of a process, from /proc/PID/stat.
    param([Parameter(Mandatory)][int] $ProcessId)
    $stat = [IO.File]::ReadAllText("/proc/$ProcessId/stat")
    $f = $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')
    [pscustomobject]@{ Pid = $ProcessId; State = $f[0]; Ppid = [int]$f[1]; Pgrp = [int]$f[2]; Session = [int]$f[3] }
}
Export-ModuleMember -Function Get-ProcStat

function New-SpecialMount {
    <#
    .SYNOPSIS
        A filesystem the kernel cannot freeze, mounted under a fresh temp directory: overlay (layers beside it),
        proc, or FUSE (bindfs of a directory beside it). Torn down by Remove-LoopFilesystem (FUSE too: root may
        umount it, and bindfs then exits).
    #>
    param([Parameter(Mandatory)][ValidateSet('overlay', 'proc', 'fuse')] [string] $Type)
    $root = New-TestDirectory
    $fs = [pscustomobject]@{ PSTypeName = 'FsFreeze.Test.LoopFilesystem'; Type = $Type; Root = $root; OwnsRoot = $true; Image = $null; Loop = $null
        MountPoint = Join-Path $root 'mnt' }
    try {
        New-Item -ItemType Directory -Path $fs.MountPoint | Out-Null
        switch ($Type) {
            'overlay' {
                foreach ($d in 'lower', 'upper', 'work') { New-Item -ItemType Directory -Path (Join-Path $root $d) | Out-Null }
                Invoke-Native mount -t overlay overlay -o "lowerdir=$root/lower,upperdir=$root/upper,workdir=$root/work" $fs.MountPoint | Out-Null
            }
            'proc' { Invoke-Native mount -t proc proc $fs.MountPoint | Out-Null }
            'fuse' {
                New-Item -ItemType Directory -Path (Join-Path $root 'source') | Out-Null
                Invoke-Native bindfs (Join-Path $root 'source') $fs.MountPoint | Out-Null
            }
        }
        return $fs
    }
    catch {
        Remove-LoopFilesystem $fs
        throw
    }
}

function New-UnprivilegedPwsh {
    <#
    .SYNOPSIS
        What a real non-root user (uid and gid 65534, no groups) needs to run the module: a copy of this pwsh and
        of the built module where that user can read them (root's home, which holds both, is closed to it), and a
        HOME of its own. Returns Pwsh, Module, Home and Root; remove Root afterwards.
    #>
    $root = New-TestDirectory -Prefix 'fsfreeze-nobody'
    Invoke-Native chmod 755 $root | Out-Null
    Invoke-Native cp -r $PSHOME "$root/pwsh" | Out-Null
    Invoke-Native cp -r $env:FSFREEZE_TEST_MODULE "$root/FsFreeze" | Out-Null
    Invoke-Native cp "$PSScriptRoot/TestHelpers.psm1" "$root/TestHelpers.psm1" | Out-Null   # the clone may be closed to it too
    Invoke-Native chmod -R a+rX "$root/pwsh" "$root/FsFreeze" "$root/TestHelpers.psm1" | Out-Null
    New-Item -ItemType Directory -Path "$root/home" | Out-Null
    Invoke-Native chown 65534:65534 "$root/home" | Out-Null
    [pscustomobject]@{ Root = $root; Pwsh = "$root/pwsh/pwsh"; Module = "$root/FsFreeze"; Home = "$root/home"; Helpers = "$root/TestHelpers.psm1"
        Prefix = @('setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--') }
}

Export-ModuleMember -Function New-SpecialMount, New-UnprivilegedPwsh
