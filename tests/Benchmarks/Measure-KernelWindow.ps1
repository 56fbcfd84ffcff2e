<#
.SYNOPSIS
    The frozen window as the kernel sees it, per method: kernel hold, its user-space part and wall time per freeze+thaw
    pair on an idle filesystem, and for sets of filesystems with dirty data the set hold against the slowest member's
    FIFREEZE and against the sum of them. Against a C program making the raw ioctls, measured in the same run.
.DESCRIPTION
    Called by Invoke-Benchmark.ps1 (in its process: FsFreeze is imported already) and runnable on its own as root:
        dotnet pwsh tests/Benchmarks/Measure-KernelWindow.ps1 -ModulePath out/FsFreeze -RawPairPath out/bench/rawpair
    Every FIFREEZE and FITHAW is timed by the kernel (KernelTrace.psm1: a tracing instance of its own that follows this
    process and all it starts, so other people's freezes on the machine are not seen); wall time by CLOCK_MONOTONIC
    around each call in this process, the trace's clock too, which is how each call is attributed to the method
    iteration whose window it entered in. Methods run round robin.
    Returns an object with Pairs, Sets (one summary per method and case), Filesystems (the mount points it made) and
    Config; -OutFile also writes it as JSON.
    Safety: it freezes only loop filesystems it made; a guard process in a session of its own thaws them if this
    process dies or overruns; the finally block thaws, unmounts and detaches every one of them, also on Ctrl+C.
#>
[CmdletBinding()]
param(
    [string] $ModulePath,
    [Parameter(Mandatory)][string] $RawPairPath,
    [switch] $Quick,
    [string] $OutFile,
    # Return the result object (Invoke-Benchmark.ps1 does); run on its own, the tables and -OutFile are enough.
    [switch] $PassThru,
    # Instead of the Quick/full presets (for a partial run by hand).
    [string[]] $PairType, [string[]] $SetType, [int[]] $SetCount,
    # The pause between two methods' freezes (default 60 ms: a FIFREEZE soon after a thaw finds ext4 with nothing to
    # write); 0 measures back to back, as the first tracefs measurements of issue 9 did.
    [int] $SettleMs = -1,
    # Dirty data written on each member of a set before its freeze (default 4 MB).
    [int] $DirtyMB = 0
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$RawPairPath = (Resolve-Path -LiteralPath $RawPairPath).ProviderPath
if ($ModulePath) { Import-Module (Join-Path (Resolve-Path -LiteralPath $ModulePath).ProviderPath 'FsFreeze.psd1') }
elseif (-not (Get-Module FsFreeze)) { throw 'FsFreeze is not imported: pass -ModulePath.' }
Import-Module (Join-Path $PSScriptRoot '../TestHelpers.psm1')
Import-Module (Join-Path $PSScriptRoot 'BenchReport.psm1')
Import-Module (Join-Path $PSScriptRoot 'KernelTrace.psm1')

$kcfg = if ($Quick) {
    @{ PairTypes = @('ext4'); PairReps = 5; PairWarmup = 2; SetTypes = @('ext4'); SetCounts = @(1, 4); SetReps = 2; SetWarmup = 1; DirtyMB = 1; SettleMs = 60 }
}
else {
    @{ PairTypes = @('ext4', 'xfs', 'btrfs'); PairReps = 60; PairWarmup = 3; SetTypes = @('ext4', 'xfs', 'btrfs'); SetCounts = @(1, 4, 16, 64); SetReps = 4; SetWarmup = 1; DirtyMB = 4; SettleMs = 60 }
}
if ($PairType) { $kcfg.PairTypes = $PairType }
if ($SetType) { $kcfg.SetTypes = $SetType }
if ($SetCount) { $kcfg.SetCounts = $SetCount }
if ($SettleMs -ge 0) { $kcfg.SettleMs = $SettleMs }
if ($DirtyMB -gt 0) { $kcfg.DirtyMB = $DirtyMB }
$kcfg.GuardSeconds = 3600   # the guard's own deadline, past any run of this script

$made = [Collections.Generic.List[object]]::new()          # filesystems to tear down in finally
$madeMountPoints = [Collections.Generic.List[string]]::new()
$guards = [Collections.Generic.List[Diagnostics.Process]]::new()
$pairSummaries = [Collections.Generic.List[object]]::new()
$setSummaries = [Collections.Generic.List[object]]::new()

# Each method freezes the paths given and thaws them the other way round. rawpair and the fsfreeze(8) loop go one by one,
# in reverse; FsFreeze freezes and thaws the members of a wave side by side (the bench's sets are one wave), so the
# order of their calls says nothing: members are paired by descriptor (-ThawOrder ByFd) where one process freezes and
# thaws through the descriptors it keeps (rawpair, Use-FsFreeze, the watchdog), else by order (fsfreeze(8); Invoke-FsThaw
# after an in-process freeze, which opens each member anew: its pairing is nominal, the set's hold is what counts).
$rawC = 'raw C: rawpair (open, FIFREEZE, FITHAW, close)'
$methods = [ordered]@{
    $rawC                                             = {
        param([string[]] $Paths)
        $out = & $RawPairPath @Paths
        if ($LASTEXITCODE) { throw "rawpair failed with exit code $LASTEXITCODE." }
        $out
    }
    'fsfreeze -f; fsfreeze -u'                        = {
        param([string[]] $Paths)
        foreach ($p in $Paths) { & fsfreeze -f $p; if ($LASTEXITCODE) { throw "fsfreeze -f $p failed." } }
        for ($i = $Paths.Count - 1; $i -ge 0; $i--) { & fsfreeze -u $Paths[$i]; if ($LASTEXITCODE) { throw "fsfreeze -u $($Paths[$i]) failed." } }
    }
    'Invoke-FsFreeze -TimeoutSec 0 | Invoke-FsThaw'   = { param([string[]] $Paths) $null = Invoke-FsFreeze -Path $Paths -TimeoutSec 0 | Invoke-FsThaw }
    'Invoke-FsFreeze | Invoke-FsThaw (watchdog, 60 s)' = { param([string[]] $Paths) $null = Invoke-FsFreeze -Path $Paths | Invoke-FsThaw }
    'Use-FsFreeze {} -TimeoutSec 0'                   = { param([string[]] $Paths) Use-FsFreeze -Path $Paths -TimeoutSec 0 {} }
    'Use-FsFreeze {} (watchdog, 60 s)'                = { param([string[]] $Paths) Use-FsFreeze -Path $Paths {} }
}

$pairing = @{
    $rawC = 'ByFd'; 'fsfreeze -f; fsfreeze -u' = 'Reverse'; 'Invoke-FsFreeze -TimeoutSec 0 | Invoke-FsThaw' = 'Reverse'
    'Invoke-FsFreeze | Invoke-FsThaw (watchdog, 60 s)' = 'ByFd'; 'Use-FsFreeze {} -TimeoutSec 0' = 'ByFd'; 'Use-FsFreeze {} (watchdog, 60 s)' = 'ByFd'
}

function New-KwFilesystem([string] $Type) {
    # As Invoke-Benchmark's: ext4 initialises its inode tables and journal in mkfs, so it is idle right after mount.
    $opts = if ($Type -like 'ext*') { @('-E', 'lazy_itable_init=0,lazy_journal_init=0') } else { @() }
    $fs = New-LoopFilesystem -Type $Type -MkfsOption $opts
    $made.Add($fs)
    $madeMountPoints.Add($fs.MountPoint)
    $fs
}

function Start-ThawGuard([string[]] $MountPoint) {
    <#
    An independent thaw: a shell in a session of its own that, once this process is gone (or after GuardSeconds, if
    this process hangs), thaws each of these mount points that is still mounted. Stopped by Stop-ThawGuard.
    #>
    $script = 'exec </dev/null >/dev/null 2>&1; owner=$1; deadline=$2; shift 2
while kill -0 "$owner" && [ "$(cut -d. -f1 /proc/uptime)" -lt "$deadline" ]; do sleep 1; done
for m in "$@"; do mountpoint -q "$m" && fsfreeze -u "$m"; done'
    $uptime = [long]((Get-Content /proc/uptime).Split('.')[0])
    $psi = [Diagnostics.ProcessStartInfo]::new('setsid')   # not a group leader: setsid execs sh in place, same pid
    foreach ($a in @('sh', '-c', $script, 'fsfreeze-thaw-guard', "$PID", "$($uptime + $kcfg.GuardSeconds)") + $MountPoint) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $g = [Diagnostics.Process]::Start($psi)
    $guards.Add($g)
    $g
}

function Stop-ThawGuard($Guard) {
    # Only the guard we started, by its pid, once everything it guards is thawed.
    try { if (-not $Guard.HasExited) { $Guard.Kill($true) }; [void]$Guard.WaitForExit(5000) } catch { }   # with its sleep
    [void]$guards.Remove($Guard)
}

function Write-DirtyData([string[]] $Paths, [int] $MB) {
    # Freshly written, not synced: the page cache holds it dirty until the freeze (or FsFreeze's flush) writes it.
    $buf = [byte[]]::new(1MB)
    [Random]::new(42).NextBytes($buf)
    foreach ($p in $Paths) {
        $s = [IO.FileStream]::new((Join-Path $p 'dirty.bin'), [IO.FileMode]::Create, [IO.FileAccess]::Write, [IO.FileShare]::None, 1MB)
        try { for ($i = 0; $i -lt $MB; $i++) { $s.Write($buf, 0, $buf.Length) } } finally { $s.Dispose() }
    }
}

function Measure-TracedRoundRobin {
    <#
    Runs each method Reps times after Warmup rounds, round robin, under one kernel trace. Returns one object per
    measured iteration: Method, WallMs, the iteration's round (Measure-FreezeWindow) and the method's own output.
    #>
    param([string[]] $Paths, [int] $Reps, [int] $Warmup, [scriptblock] $Before)
    $windows = [Collections.Generic.List[object]]::new()
    $trace = Start-KernelTrace -ProcessId $PID
    try {
        for ($i = -$Warmup; $i -lt $Reps; $i++) {
            foreach ($name in $methods.Keys) {
                if ($Before) { & $Before }
                $t0 = Get-MonotonicNs
                $out = & $methods[$name] $Paths
                $t1 = Get-MonotonicNs
                if ($i -ge 0) { $windows.Add([pscustomobject]@{ Method = $name; T0 = $t0; T1 = $t1; Output = $out }) }
            }
        }
    }
    finally { $text = Stop-KernelTrace $trace }
    if ($text.LostEvents) { Write-Warning "The kernel trace lost $($text.LostEvents) events." }
    $calls = @($text | ConvertFrom-KernelTrace)
    # Each call to the window it entered in: one sweep, both lists in time order.
    $c = 0
    foreach ($w in $windows) {
        $bucket = [Collections.Generic.List[object]]::new()
        while ($c -lt $calls.Count -and $calls[$c].EnterNs -lt $w.T0) { $c++ }
        while ($c -lt $calls.Count -and $calls[$c].EnterNs -le $w.T1) { $bucket.Add($calls[$c]); $c++ }
        $round = @(Measure-FreezeWindow -Call $bucket.ToArray() -SetSize $Paths.Count -ThawOrder $pairing[$w.Method])
        if ($round.Count -ne 1) { throw "$($w.Method): expected one freeze round in its window, the trace has $($round.Count) ($($bucket.Count) calls)." }
        # The method's own time: its wall time less the time it spent inside FIFREEZE and FITHAW (the kernel's part, which
        # depends on the filesystem's state more than on the caller).
        [pscustomobject]@{ Method = $w.Method; WallMs = ($w.T1 - $w.T0) / 1e6; OwnMs = ($w.T1 - $w.T0) / 1e6 - $round[0].InCallsMs; Round = $round[0]; Output = $w.Output }
    }
}

function Get-RatioOrNaN([double] $Value, [double] $Base) { if ($Base -gt 0) { $Value / $Base } else { [double]::NaN } }

function Get-RawPairInProcessMs($Output) {
    # rawpair's own 'rep i open first-freeze last-thaw close' line: open to close inside the process, no exec.
    $f = "$(@($Output)[0])".Split(' ')
    if ($f.Count -lt 6) { return [double]::NaN }
    ([long]$f[5] - [long]$f[2]) / 1e6
}

# FsFreeze's state for this run: a tmpfs of its own, not the host's /run/fsfreeze (shared with every other freezer on
# the machine: hundreds of records there made each freeze slower, and the bench's records are nobody else's business).
$benchState = New-BenchStateDirectory
try {
    $sectionStarted = Get-Date
    Write-Host "Kernel window (tracefs syscall events)$(if ($Quick) { ', quick' })"

    # 1. One idle filesystem: kernel hold, its user-space part, wall, per method.
    foreach ($type in $kcfg.PairTypes) {
        $fs = New-KwFilesystem $type
        $guard = Start-ThawGuard @($fs.MountPoint)
        # Every method starts from the same state of the filesystem: a FIFREEZE within ~15 ms of the last FITHAW found
        # ext4 with nothing to write (under 1 ms here) and one later wrote the journal through the loop device (about 40 ms),
        # so in round robin the method started soonest after the previous one's thaw looked fastest. SettleMs apart: all alike.
        $settle = $kcfg.SettleMs
        $its = @(Measure-TracedRoundRobin -Paths @($fs.MountPoint) -Reps $kcfg.PairReps -Warmup $kcfg.PairWarmup -Before { Start-Sleep -Milliseconds $settle })
        & fsfreeze -u $fs.MountPoint 2>$null
        Stop-ThawGuard $guard
        Remove-LoopFilesystem $fs; [void]$made.Remove($fs)
        $base = $null
        foreach ($name in $methods.Keys) {
            $mine = @($its | Where-Object Method -EQ $name)
            $hold = [double[]]@($mine | ForEach-Object { $_.Round.SetHoldMs })
            $user = [double[]]@($mine | ForEach-Object { $_.Round.UserMs })
            $wall = [double[]]@($mine.WallMs)
            $own = [double[]]@($mine.OwnMs)
            $s = [pscustomobject]@{
                Type = $type; Method = $name; N = $mine.Count
                HoldMs = Get-Median $hold; UserMs = Get-Median $user; WallMs = Get-Median $wall; OwnMs = Get-Median $own
                FreezeMs = Get-Median ([double[]]@($mine | ForEach-Object { $_.Round.SumFreezeMs }))
                ThawMs = Get-Median ([double[]]@($mine | ForEach-Object { $_.Round.SumThawMs }))
                HoldP90Ms = Get-Percentile $hold 90; WallP90Ms = Get-Percentile $wall 90
                HoldRatio = [double]::NaN; UserRatio = [double]::NaN; WallRatio = [double]::NaN; UserOverRawMs = [double]::NaN
                FdMismatches = ($mine | ForEach-Object { $_.Round.FdMismatches } | Measure-Object -Sum).Sum
                InProcessWallMs = if ($name -eq $rawC) { Get-Median ([double[]]@($mine | ForEach-Object { Get-RawPairInProcessMs $_.Output })) } else { [double]::NaN }
                HoldSamplesMs = $hold; UserSamplesMs = $user; WallSamplesMs = $wall; OwnSamplesMs = $own
                WallVsFsfreeze = [double]::NaN; OwnVsFsfreeze = [double]::NaN
            }
            if (-not $base) { $base = $s }
            $s.HoldRatio = Get-RatioOrNaN $s.HoldMs $base.HoldMs
            $s.UserRatio = Get-RatioOrNaN $s.UserMs $base.UserMs
            $s.WallRatio = Get-RatioOrNaN $s.WallMs $base.WallMs
            $s.UserOverRawMs = $s.UserMs - $base.UserMs
            $pairSummaries.Add($s)
        }
        # fsfreeze(8) is the tool to beat on wall time: every method against it, from the same run.
        $util = $pairSummaries | Where-Object { $_.Type -eq $type -and $_.Method -like 'fsfreeze -f*' }
        foreach ($s in @($pairSummaries | Where-Object Type -EQ $type)) {
            $s.WallVsFsfreeze = Get-RatioOrNaN $s.WallMs $util.WallMs
            $s.OwnVsFsfreeze = Get-RatioOrNaN $s.OwnMs $util.OwnMs
        }
    }

    # 2. Sets of filesystems, each with DirtyMB freshly written: the set hold against its members' FIFREEZEs.
    foreach ($type in $kcfg.SetTypes) {
        $maxCount = ($kcfg.SetCounts | Measure-Object -Maximum).Maximum
        $fss = @(for ($i = 0; $i -lt $maxCount; $i++) { New-KwFilesystem $type })
        $guard = Start-ThawGuard @($fss.MountPoint)
        try {
            foreach ($n in $kcfg.SetCounts) {
                $paths = [string[]]@($fss[0..($n - 1)].MountPoint)
                $mb = $kcfg.DirtyMB
                $its = @(Measure-TracedRoundRobin -Paths $paths -Reps $kcfg.SetReps -Warmup $kcfg.SetWarmup -Before { Write-DirtyData $paths $mb })
                $base = $null
                foreach ($name in $methods.Keys) {
                    $mine = @($its | Where-Object Method -EQ $name)
                    $rounds = @($mine.Round)
                    $s = [pscustomobject]@{
                        Type = $type; Count = $n; DirtyMBEach = $mb; Method = $name; N = $mine.Count
                        SetHoldMs = Get-Median ([double[]]@($rounds.SetHoldMs))
                        SlowestFreezeMs = Get-Median ([double[]]@($rounds.SlowestFreezeMs))
                        SumFreezeMs = Get-Median ([double[]]@($rounds.SumFreezeMs))
                        HoldOverSlowest = Get-Median ([double[]]@($rounds | ForEach-Object { Get-RatioOrNaN $_.SetHoldMs $_.SlowestFreezeMs }))
                        HoldOverSum = Get-Median ([double[]]@($rounds | ForEach-Object { Get-RatioOrNaN $_.SetHoldMs $_.SumFreezeMs }))
                        FreezeSpanMs = Get-Median ([double[]]@($rounds.FreezeSpanMs))
                        UserMs = Get-Median ([double[]]@($rounds.UserMs))
                        WallMs = Get-Median ([double[]]@($mine.WallMs))
                        SetHoldSamplesMs = [double[]]@($rounds.SetHoldMs)
                        HoldRatio = [double]::NaN
                        # Members paired by reverse order whose freeze and thaw came from one process through different
                        # fds. 0 confirms the reverse order for a method that thaws through the fds it froze with
                        # (rawpair, Use-FsFreeze, the watchdog); Invoke-FsThaw after an in-process freeze opens each
                        # member anew, so its members all count here; fsfreeze(8) uses a process a call: never counted.
                        FdMismatches = ($rounds.FdMismatches | Measure-Object -Sum).Sum
                    }
                    if (-not $base) { $base = $s }
                    $s.HoldRatio = Get-RatioOrNaN $s.SetHoldMs $base.SetHoldMs
                    $setSummaries.Add($s)
                }
                Write-Host ("  {0} x {1}, {2} MB dirty each: set hold {3}" -f $n, $type, $mb,
                    (($setSummaries | Where-Object { $_.Type -eq $type -and $_.Count -eq $n } | ForEach-Object { "$($_.Method.Split(':')[0]) $($_.SetHoldMs.ToString('0.0')) ms" }) -join '; '))
            }
        }
        finally {
            foreach ($f in $fss) { & fsfreeze -u $f.MountPoint 2>$null }
            Stop-ThawGuard $guard
            foreach ($f in $fss) { Remove-LoopFilesystem $f; [void]$made.Remove($f) }
        }
    }

    $ms = { param($v) if ([double]::IsNaN($v)) { '' } else { $v.ToString('0.000') } }
    $x = { param($v) if ([double]::IsNaN($v) -or [double]::IsInfinity($v)) { '' } else { $v.ToString('0.00') + 'x' } }
    Write-Host 'Freeze+thaw pair on an idle filesystem, as the kernel saw it (medians; ratios against the raw C pair of the same run;'
    Write-Host 'the raw pair spends about a microsecond in user space, the trace''s resolution, so that part is compared by difference;'
    Write-Host '"own" is wall time less the time inside FIFREEZE and FITHAW; "x fsfreeze(8)" against fsfreeze -f; fsfreeze -u):'
    $pairSummaries | Format-Table Type, Method, @{ n = 'hold ms'; e = { & $ms $_.HoldMs }; a = 'right' }, @{ n = 'x'; e = { & $x $_.HoldRatio }; a = 'right' },
    @{ n = 'in user space ms'; e = { & $ms $_.UserMs }; a = 'right' }, @{ n = 'vs raw C'; e = { $_.UserOverRawMs.ToString('+0.000;-0.000') }; a = 'right' },
    @{ n = 'wall ms'; e = { & $ms $_.WallMs }; a = 'right' }, @{ n = 'x'; e = { & $x $_.WallRatio }; a = 'right' },
    @{ n = 'x fsfreeze(8)'; e = { & $x $_.WallVsFsfreeze }; a = 'right' }, @{ n = 'own ms'; e = { & $ms $_.OwnMs }; a = 'right' },
    @{ n = 'x fsfreeze(8)'; e = { & $x $_.OwnVsFsfreeze }; a = 'right' },
    @{ n = 'FIFREEZE ms'; e = { & $ms $_.FreezeMs }; a = 'right' }, @{ n = 'FITHAW ms'; e = { & $ms $_.ThawMs }; a = 'right' }, N |
        Out-String -Width 250 | Write-Host
    foreach ($p in @($pairSummaries | Where-Object Method -EQ $rawC)) {
        Write-Host ("rawpair inside its own process, {0}: open to close {1} ms; the rest of its wall time is starting the process." -f $p.Type, (& $ms $p.InProcessWallMs))
    }
    Write-Host 'Sets with dirty data: set hold (first FIFREEZE entry to last FITHAW exit) against the members'' own FIFREEZE durations (medians):'
    $setSummaries | Format-Table Type, Count, @{ n = 'MB each'; e = { $_.DirtyMBEach } }, Method, @{ n = 'set hold ms'; e = { $_.SetHoldMs.ToString('0.0') }; a = 'right' },
    @{ n = 'x raw C'; e = { & $x $_.HoldRatio }; a = 'right' }, @{ n = 'slowest FIFREEZE ms'; e = { $_.SlowestFreezeMs.ToString('0.0') }; a = 'right' },
    @{ n = 'hold/slowest'; e = { & $x $_.HoldOverSlowest }; a = 'right' }, @{ n = 'sum FIFREEZE ms'; e = { $_.SumFreezeMs.ToString('0.0') }; a = 'right' },
    @{ n = 'hold/sum'; e = { & $x $_.HoldOverSum }; a = 'right' }, @{ n = 'user ms'; e = { $_.UserMs.ToString('0.0') }; a = 'right' },
    @{ n = 'wall ms'; e = { $_.WallMs.ToString('0.0') }; a = 'right' }, N | Out-String -Width 250 | Write-Host

    $result = [pscustomobject]@{
        Config = $kcfg; Pairs = $pairSummaries.ToArray(); Sets = $setSummaries.ToArray(); Filesystems = $madeMountPoints.ToArray()
        DurationSec = [Math]::Round(((Get-Date) - $sectionStarted).TotalSeconds)
    }
    if ($OutFile) {
        $json = ($result | ConvertTo-Json -Depth 5) -replace '(?m)(:\s*)"?(NaN|-?Infinity)"?', '$1null'
        Set-Content -LiteralPath $OutFile -Value $json
    }
    if ($PassThru) { $result }
}
finally {
    # Thaw everything this section made (tolerating "not frozen"), stop the guards, then unmount and detach.
    foreach ($f in @($made)) { & fsfreeze -u $f.MountPoint 2>$null }
    foreach ($g in @($guards)) { Stop-ThawGuard $g }
    foreach ($f in @($made)) { Remove-LoopFilesystem $f }
    Remove-BenchStateDirectory $benchState
}
