<#
.SYNOPSIS
    Measures FsFreeze against the raw ioctl pair and fsfreeze(8) on loop filesystems it makes, and reports medians and ratios.
.DESCRIPTION
    Run by 'build.ps1 -Task Bench' (as root). Every method of a group is measured in the same run, round robin, so a
    ratio compares like with like. Writes out/bench/bench.json, out/bench/stall-vs-dirty.svg and out/bench/set-hold.svg.
    Safety: it freezes only loop filesystems it mounted itself under a temp directory it made, and its finally block
    thaws, stops the writers, unmounts and detaches every one of them, also on Ctrl+C.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string] $ModulePath,
    [Parameter(Mandatory)][string] $WriterPath,
    [Parameter(Mandatory)][string] $OutDir,
    # tests/Benchmarks/RawPair/rawpair.c, compiled: the raw ioctl pair the kernel-window section compares with.
    [Parameter(Mandatory)][string] $RawPairPath,
    # A few iterations and small sizes: checks the bench runs, says nothing about speed.
    [switch] $Quick
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
# Absolute from here on: the writer is started by a .NET API that knows nothing of the PowerShell location.
$ModulePath = (Resolve-Path -LiteralPath $ModulePath).ProviderPath
$WriterPath = (Resolve-Path -LiteralPath $WriterPath).ProviderPath
$OutDir = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($OutDir)

Import-Module (Join-Path $ModulePath 'FsFreeze.psd1')
Import-Module (Join-Path $PSScriptRoot '../TestHelpers.psm1')
Import-Module (Join-Path $PSScriptRoot 'BenchReport.psm1')

$cfg = if ($Quick) {
    @{ PairReps = 5; StallReps = 3; DirtyReps = 1; DirtyMB = @(0, 16); DirtyXfsMB = @(); StreamMB = 16; Counts = @(1, 2); CountReps = 2; ImportRuns = 3; Types = @('ext4') }
}
else {
    @{ PairReps = 200; StallReps = 40; DirtyReps = 3; DirtyMB = @(0, 64, 128, 256, 512); DirtyXfsMB = @(512); StreamMB = 512; Counts = @(1, 8, 32); CountReps = 15; ImportRuns = 30; Types = @('ext4', 'xfs') }
}
$WriterThresholdMs = 0.02
$HasTimeout = (Get-Command Invoke-FsFreeze).Parameters.ContainsKey('TimeoutSec')
# With a watchdog parameter, the plain rows pass -TimeoutSec 0 so they measure the freeze, not the watchdog.
$NoTimeout = if ($HasTimeout) { @{ TimeoutSec = 0 } } else { @{} }

$created = [Collections.Generic.List[object]]::new()
$writers = [Collections.Generic.List[Diagnostics.Process]]::new()
$background = [Collections.Generic.List[Diagnostics.Process]]::new()   # steady writers of section 3b, killed in finally
$rows = [Collections.Generic.List[object]]::new()
$dirtyPoints = [Collections.Generic.List[object]]::new()
$watchdogMemory = $null
$LoopDirectIo = $null
$allMountPoints = [Collections.Generic.List[string]]::new()   # reported in the JSON, so a test can check none is left

function Get-NowNs { [Diagnostics.Stopwatch]::GetTimestamp() * (1e9 / [Diagnostics.Stopwatch]::Frequency) }

function New-BenchFilesystem([string] $Type, [int] $SizeMB) {
    # ext4's lazy inode-table and journal init would keep writing for a while after mount, so no freeze would find the
    # filesystem idle (it measured 50 ms per fresh filesystem instead of under 1 ms): initialise everything in mkfs.
    $opts = if ($Type -like 'ext*') { @('-E', 'lazy_itable_init=0,lazy_journal_init=0') } else { @() }
    $fs = New-LoopFilesystem -Type $Type -SizeMB $SizeMB -MkfsOption $opts
    $created.Add($fs)
    $allMountPoints.Add($fs.MountPoint)
    if ($fs.Loop) { $script:LoopDirectIo = Get-Content "/sys/block/$(Split-Path -Leaf $fs.Loop)/loop/dio" -ErrorAction SilentlyContinue }
    $fs
}

function Remove-BenchFilesystem($Fs) {
    Remove-LoopFilesystem $Fs
    [void]$created.Remove($Fs)
}

function Add-Row {
    # One measured method. The ratio is filled in against the group's baseline once the group is done.
    param([string] $Group, [string] $Name, [double[]] $Samples, [switch] $Baseline, [string] $Note = '')
    $row = [pscustomobject]@{
        Group = $Group; Name = $Name; MedianMs = Get-Median $Samples; P10Ms = Get-Percentile $Samples 10
        P90Ms = Get-Percentile $Samples 90; N = $Samples.Count; Ratio = [double]::NaN; Baseline = [bool]$Baseline; Note = $Note
    }
    $rows.Add($row)
    $row
}

function Complete-Group([string] $Group) {
    $members = @($rows | Where-Object Group -EQ $Group)
    $base = $members | Where-Object Baseline | Select-Object -First 1
    if (-not $base) { return }
    foreach ($r in $members) { $r.Ratio = if ($base.MedianMs -gt 0) { $r.MedianMs / $base.MedianMs } else { [double]::NaN } }
}

function Measure-RoundRobin {
    <#
    .SYNOPSIS
        Times each action $Reps times, interleaved (a, b, c, a, b, c, ...) after a warm-up, so drift hits all alike.
        Returns a hashtable name -> samples in ms.
    #>
    param([Collections.Specialized.OrderedDictionary] $Actions, [int] $Reps, [int] $Warmup = 5, [int] $SettleMs = 0)
    $samples = @{}
    foreach ($k in $Actions.Keys) { $samples[$k] = [Collections.Generic.List[double]]::new() }
    for ($i = -$Warmup; $i -lt $Reps; $i++) {
        foreach ($k in $Actions.Keys) {
            # Outside the timing: every action starts from the same filesystem state (see SettleMs in Measure-KernelWindow.ps1).
            if ($SettleMs) { Start-Sleep -Milliseconds $SettleMs }
            $t0 = Get-NowNs
            & $Actions[$k]
            $ms = ((Get-NowNs) - $t0) / 1e6
            if ($i -ge 0) { $samples[$k].Add($ms) }
        }
    }
    $samples
}

function Start-StallWriter([string] $Directory) {
    # The writer is a child process: a write to a frozen filesystem sleeps uninterruptibly, and this script must stay free to thaw.
    $psi = [Diagnostics.ProcessStartInfo]::new($WriterPath)
    foreach ($a in (Join-Path $Directory 'stall-writer.bin'), '4096', ([string]($WriterThresholdMs * 1000))) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $p = [Diagnostics.Process]::Start($psi)
    $writers.Add($p)
    $ready = $p.StandardOutput.ReadLineAsync()
    if (-not $ready.Wait(15000) -or -not "$($ready.Result)".StartsWith('ready')) { throw "The stall writer did not start: '$($ready.Result)'." }
    $p
}

function Stop-StallWriter($Process) {
    # Called only after every freeze of this run is thawed, so the writer is not stuck in a write.
    $Process.StandardInput.WriteLine('stop')
    $Process.StandardInput.Close()
    $out = $Process.StandardOutput.ReadToEndAsync()
    if (-not $out.Wait(15000)) { throw 'The stall writer did not report within 15 s.' }
    [void]$Process.WaitForExit(5000)
    [void]$writers.Remove($Process)
    Read-WriterGaps ($out.Result -split "`n" | Where-Object { $_ })
}

function Measure-Stalls {
    <#
    .SYNOPSIS
        Runs each action $Reps times (round robin) while a writer writes into $Fs, and returns name -> the stall the
        writer saw in each action's window. $Before runs ahead of each action, outside the window (e.g. making dirty data).
    #>
    param($Fs, [Collections.Specialized.OrderedDictionary] $Actions, [int] $Reps, [scriptblock] $Before, [scriptblock] $After)
    $writer = Start-StallWriter $Fs.MountPoint
    $windows = [Collections.Generic.List[object]]::new()
    try {
        for ($i = 0; $i -lt $Reps; $i++) {
            foreach ($k in $Actions.Keys) {
                $extra = if ($Before) { & $Before } else { $null }
                $t0 = Get-NowNs
                & $Actions[$k]
                $t1 = Get-NowNs
                $windows.Add([pscustomobject]@{ Name = $k; Start = [long]$t0; End = [long]$t1; Extra = $extra })
                Start-Sleep -Milliseconds 30   # let the writer run again before the next window
                if ($After) { & $After }
            }
        }
    }
    finally {
        & fsfreeze -u $Fs.MountPoint 2>$null   # should be thawed already; never leave the writer stuck
        $report = Stop-StallWriter $writer
    }
    foreach ($w in $windows) {
        [pscustomobject]@{ Name = $w.Name; StallMs = Get-WindowStall $report $w.Start $w.End $WriterThresholdMs; WindowMs = ($w.End - $w.Start) / 1e6; Extra = $w.Extra }
    }
}

function Invoke-DirectPair([string] $Path) {
    $fd = [FsFreeze.Native.FileDescriptorHandle]::OpenReadOnly($Path)
    try {
        [FsFreeze.Native.FreezeIoctl]::Freeze($fd, $Path)
        [FsFreeze.Native.FreezeIoctl]::Thaw($fd, $Path)
    }
    finally { $fd.Dispose() }
}

function Invoke-Fsfreeze8([string] $Path) {
    & fsfreeze -f $Path
    if ($LASTEXITCODE) { throw "fsfreeze -f $Path failed." }
    & fsfreeze -u $Path
    if ($LASTEXITCODE) { throw "fsfreeze -u $Path failed." }
}

function Get-DirtyKB {
    foreach ($line in [IO.File]::ReadAllLines('/proc/meminfo')) { if ($line.StartsWith('Dirty:')) { return [long]($line -replace '\D', '') } }
}

function Get-MachineInfo {
    $vm = [ordered]@{}
    foreach ($n in 'dirty_ratio', 'dirty_background_ratio', 'dirty_bytes', 'dirty_background_bytes', 'dirty_expire_centisecs', 'dirty_writeback_centisecs') {
        $vm[$n] = [long](Get-Content "/proc/sys/vm/$n")
    }
    $cpu = (Select-String -Path /proc/cpuinfo -Pattern '^model name\s*:\s*(.*)' | Select-Object -First 1).Matches.Groups[1].Value
    $tmpMount = [FsFreeze.MountTable]::Read().FindByPath((Resolve-Path ([IO.Path]::GetTempPath())).ProviderPath.TrimEnd('/'))
    [ordered]@{
        Kernel = (uname -r); Cpu = $cpu; Cpus = [Environment]::ProcessorCount
        MemTotalMB = [long]((Select-String -Path /proc/meminfo -Pattern '^MemTotal:\s*(\d+)').Matches.Groups[1].Value) / 1024
        Vm = $vm; PwshVersion = "$($PSVersionTable.PSVersion)"; FsFreezeVersion = "$((Get-Module FsFreeze).Version)"
        LoopBacking = "image files in $([IO.Path]::GetTempPath()) on $($tmpMount.FileSystemType) ($($tmpMount.Source)), loop direct I/O $(if ($script:LoopDirectIo -eq '1') { 'on' } else { "off (buffered; dio=$($script:LoopDirectIo))" })"
        HasTimeoutSec = $HasTimeout
        # Other work on the machine shows up as noise in every row: the load average at the start and at the end.
        LoadAverageStart = $LoadAtStart; LoadAverageEnd = (Get-Content /proc/loadavg)
    }
}

# FsFreeze's state for this run: a tmpfs of its own, not the host's /run/fsfreeze (shared with every other freezer on
# the machine: hundreds of records there made each freeze slower, and the bench's records are nobody else's business).
$benchState = New-BenchStateDirectory
try {
    $started = Get-Date
    $LoadAtStart = Get-Content /proc/loadavg
    Write-Host "FsFreeze benchmark$(if ($Quick) { ' (quick: a smoke run, not a measurement)' })"

    # 1. An idle freeze+thaw pair, per filesystem type.
    foreach ($type in $cfg.Types) {
        $fs = New-BenchFilesystem $type 0
        $mp = $fs.MountPoint
        $actions = [ordered]@{
            'direct ioctl pair (open, FIFREEZE, FITHAW, close)' = { Invoke-DirectPair $mp }
            'Invoke-FsFreeze -NoFlush + Invoke-FsThaw'          = { $null = Invoke-FsFreeze -Path $mp -NoFlush @NoTimeout; $null = Invoke-FsThaw -Path $mp }
            'Invoke-FsFreeze (flush) + Invoke-FsThaw'           = { $null = Invoke-FsFreeze -Path $mp @NoTimeout; $null = Invoke-FsThaw -Path $mp }
            'fsfreeze -f + fsfreeze -u (2 processes)'           = { Invoke-Fsfreeze8 $mp }
            'floor: 2 calls of a no-op compiled cmdlet'         = { $null = Split-Path -Path $mp -Leaf; $null = Split-Path -Path $mp -Leaf }
        }
        $s = Measure-RoundRobin $actions $cfg.PairReps -SettleMs 60
        $group = "idle pair, $type"
        $first = $true
        foreach ($k in $actions.Keys) { $null = Add-Row $group $k $s[$k] -Baseline:$first; $first = $false }
        Complete-Group $group
        Remove-BenchFilesystem $fs
    }

    # 2. The stall a writer sees around an empty freeze on an idle filesystem.
    $fs = New-BenchFilesystem ext4 0
    $mp = $fs.MountPoint
    $actions = [ordered]@{
        'direct ioctl pair'                = { Invoke-DirectPair $mp }
        'Use-FsFreeze -NoFlush {}'         = { Use-FsFreeze -Path $mp -NoFlush @NoTimeout {} }
        'Use-FsFreeze {} (flush)'          = { Use-FsFreeze -Path $mp @NoTimeout {} }
        'fsfreeze -f; fsfreeze -u'         = { Invoke-Fsfreeze8 $mp }
        'no freeze (writer noise, 1 ms)'   = { $end = (Get-NowNs) + 1e6; while ((Get-NowNs) -lt $end) { } }
    }
    $stalls = Measure-Stalls $fs $actions $cfg.StallReps
    $group = 'writer stall, idle ext4'
    $first = $true
    foreach ($k in $actions.Keys) {
        $null = Add-Row $group $k ([double[]]@($stalls | Where-Object Name -EQ $k | ForEach-Object StallMs)) -Baseline:$first
        $first = $false
    }
    Complete-Group $group
    Remove-BenchFilesystem $fs

    # 3. The stall with dirty data: what the flush before FIFREEZE buys.
    $dirtySets = @(@{ Type = 'ext4'; Sizes = $cfg.DirtyMB }) + @(if ($cfg.DirtyXfsMB) { @{ Type = 'xfs'; Sizes = $cfg.DirtyXfsMB } })
    foreach ($set in $dirtySets) {
        $maxMB = ($set.Sizes | Measure-Object -Maximum).Maximum
        $fs = New-BenchFilesystem $set.Type ([int]($maxMB * 1.5 + 400))
        $mp = $fs.MountPoint
        $actions = [ordered]@{
            'fsfreeze -f; fsfreeze -u'  = { Invoke-Fsfreeze8 $mp }
            'Use-FsFreeze {} (flush)'   = { Use-FsFreeze -Path $mp @NoTimeout {} }
            'Use-FsFreeze -NoFlush {}'  = { Use-FsFreeze -Path $mp -NoFlush @NoTimeout {} }
        }
        foreach ($mb in $set.Sizes) {
            $dirtyFile = Join-Path $mp 'dirty.bin'
            # Written without fsync right before the freeze; the window starts after dd returns.
            $before = { if ($mb -gt 0) { & dd if=/dev/zero "of=$dirtyFile" bs=1M "count=$mb" status=none; if ($LASTEXITCODE) { throw 'dd failed' } }; Get-DirtyKB }
            $after = { Remove-Item -LiteralPath $dirtyFile -ErrorAction SilentlyContinue; & sync -f $mp }
            $stalls = Measure-Stalls $fs $actions $cfg.DirtyReps -Before $before -After $after
            foreach ($k in $actions.Keys) {
                $mine = @($stalls | Where-Object Name -EQ $k)
                $dirtyPoints.Add([pscustomobject]@{
                        Type = $set.Type; DirtyMB = $mb; Method = $k; StallMs = Get-Median ([double[]]$mine.StallMs)
                        StallSamplesMs = [double[]]$mine.StallMs; WindowMs = Get-Median ([double[]]$mine.WindowMs)
                        DirtyKBBefore = Get-Median ([double[]]$mine.Extra)
                    })
            }
            Write-Host ("  dirty {0} MB on {1}: {2}" -f $mb, $set.Type, (($dirtyPoints | Where-Object { $_.DirtyMB -eq $mb -and $_.Type -eq $set.Type } | ForEach-Object { "$($_.Method) $($_.StallMs.ToString('0.00')) ms" }) -join '; '))
        }
        $group = "writer stall, $maxMB MB dirty, $($set.Type)"
        foreach ($k in $actions.Keys) {
            $p = $dirtyPoints | Where-Object { $_.Type -eq $set.Type -and $_.DirtyMB -eq $maxMB -and $_.Method -eq $k }
            $null = Add-Row $group $k $p.StallSamplesMs -Baseline:($k -like 'fsfreeze*') -Note "Dirty before: $([Math]::Round($p.DirtyKBBefore / 1024)) MB (whole machine)"
        }
        Complete-Group $group
        Remove-BenchFilesystem $fs
    }

    # 3b. The same with a steady writer (about 50 MB/s appended, no fsync) that keeps dirtying data while syncfs runs:
    # what one syncfs leaves behind for FIFREEZE, against FsFreeze's flush, which repeats a slow pass (FlushPolicy).
    $mb = $cfg.StreamMB
    $fs = New-BenchFilesystem ext4 ([int]($mb * 1.5 + 1200))
    $mp = $fs.MountPoint
    $bpsi = [Diagnostics.ProcessStartInfo]::new('/bin/sh')
    foreach ($a in '-c', 'while :; do dd if=/dev/zero of="$1/stream.bin" bs=1M count=5 oflag=append conv=notrunc status=none || exit 1; sleep 0.1; done', 'steady', $mp) { $bpsi.ArgumentList.Add($a) }
    $steady = [Diagnostics.Process]::Start($bpsi)
    $background.Add($steady)
    $actions = [ordered]@{
        'fsfreeze -f; fsfreeze -u'                        = { Invoke-Fsfreeze8 $mp }
        'one syncfs, then the ioctl pair (single pass)'  = {
            $fd = [FsFreeze.Native.FileDescriptorHandle]::OpenReadOnly($mp)
            try { [FsFreeze.Native.Syncfs]::Flush($fd, $mp); [FsFreeze.Native.FreezeIoctl]::Freeze($fd, $mp); [FsFreeze.Native.FreezeIoctl]::Thaw($fd, $mp) }
            finally { $fd.Dispose() }
        }
        'Use-FsFreeze {} (flush)'                         = { Use-FsFreeze -Path $mp @NoTimeout {} }
        'Use-FsFreeze -NoFlush {}'                        = { Use-FsFreeze -Path $mp -NoFlush @NoTimeout {} }
    }
    $dirtyFile = Join-Path $mp 'dirty.bin'
    $before = { & dd if=/dev/zero "of=$dirtyFile" bs=1M "count=$mb" status=none; if ($LASTEXITCODE) { throw 'dd failed' }; Get-DirtyKB }
    # The steady writer's file goes too, so the filesystem never fills up.
    $after = { Remove-Item -LiteralPath $dirtyFile, (Join-Path $mp 'stream.bin') -ErrorAction SilentlyContinue; & sync -f $mp }
    try { $stalls = Measure-Stalls $fs $actions ([Math]::Max($cfg.DirtyReps, 2) + 1) -Before $before -After $after }
    finally { if (-not $steady.HasExited) { $steady.Kill() }; [void]$steady.WaitForExit(5000); [void]$background.Remove($steady); Start-Sleep -Milliseconds 300 }   # its last dd ends
    if ($steady.ExitCode -eq 1) { throw 'The steady background writer failed.' }
    $group = "writer stall, $mb MB dirty + steady 50 MB/s writer, ext4"
    foreach ($k in $actions.Keys) {
        $mine = @($stalls | Where-Object Name -EQ $k)
        $null = Add-Row $group $k ([double[]]$mine.StallMs) -Baseline:($k -like 'fsfreeze*') -Note "window $((Get-Median ([double[]]$mine.WindowMs)).ToString('0')) ms"
    }
    Complete-Group $group
    Remove-BenchFilesystem $fs

    # 4. Arming the timeout watchdog.
    $group = 'arming a timeout'
    if ($HasTimeout) {
        $fs = New-BenchFilesystem ext4 0
        $mp = $fs.MountPoint
        $actions = [ordered]@{
            'Invoke-FsFreeze -NoFlush -TimeoutSec 0 + Invoke-FsThaw'  = { $null = Invoke-FsFreeze -Path $mp -NoFlush -TimeoutSec 0; $null = Invoke-FsThaw -Path $mp }
            'Invoke-FsFreeze -NoFlush -TimeoutSec 60 + Invoke-FsThaw' = { $null = Invoke-FsFreeze -Path $mp -NoFlush -TimeoutSec 60; $null = Invoke-FsThaw -Path $mp }
        }
        $s = Measure-RoundRobin $actions ([Math]::Max(3, [int]($cfg.StallReps / 2))) -Warmup 2 -SettleMs 60
        $first = $true
        foreach ($k in $actions.Keys) { $null = Add-Row $group $k $s[$k] -Baseline:$first; $first = $false }
        Complete-Group $group
        # The watchdog's memory (the README's figure): its peak resident set (VmHWM) while it holds a freeze, after
        # its handshake, and the size of the executable. Its own pid, from the status it wrote.
        $null = Invoke-FsFreeze -Path $mp -NoFlush -TimeoutSec 60
        try {
            $watchdogPid = (Get-FsFreezeStatus -Path $mp).WatchdogPid
            $hwm = (Get-Content "/proc/$watchdogPid/status" | Where-Object { $_ -like 'VmHWM:*' }) -replace '\D', ''
            $watchdogMemory = [ordered]@{ Pid = $watchdogPid; PeakRssKB = [int]$hwm; FileKB = [Math]::Round((Get-Item (Join-Path $ModulePath 'fsfreeze-watchdog')).Length / 1024) }
        }
        finally { $null = Invoke-FsThaw -Path $mp }
        Write-Host ("  fsfreeze-watchdog holding a freeze: peak RSS {0:N1} MB; executable {1:N1} MB" -f ($watchdogMemory.PeakRssKB / 1024), ($watchdogMemory.FileKB / 1024))
        Remove-BenchFilesystem $fs
    }
    else {
        $rows.Add([pscustomobject]@{ Group = $group; Name = 'skipped'; MedianMs = [double]::NaN; P10Ms = [double]::NaN; P90Ms = [double]::NaN; N = 0; Ratio = [double]::NaN; Baseline = $false; Note = 'Invoke-FsFreeze has no -TimeoutSec in this build' })
    }

    # 5. Import-Module on top of a bare pwsh start: end to end with hyperfine (noisy: two ~0.5 s process starts are
    # subtracted), and timed inside fresh processes (the import alone, what the goal is about).
    $pwsh = Join-Path $PSHOME 'pwsh'
    $psd1 = Join-Path $ModulePath 'FsFreeze.psd1'
    $bare = "$pwsh -NoProfile -NonInteractive -c 1"
    $withImport = "$pwsh -NoProfile -NonInteractive -c 'Import-Module $psd1; 1'"
    $group = 'pwsh start'
    if (Get-Command hyperfine -ErrorAction Ignore) {
        $json = Join-Path ([IO.Path]::GetTempPath()) "fsfreeze-bench-hyperfine-$PID.json"
        try {
            & hyperfine -N --style none --warmup 3 --runs $cfg.ImportRuns --export-json $json $bare $withImport | Out-Null
            if ($LASTEXITCODE) { throw 'hyperfine failed.' }
            $hf = Get-Content $json -Raw | ConvertFrom-Json
        }
        finally { Remove-Item $json -ErrorAction SilentlyContinue }
        $null = Add-Row $group 'hyperfine: pwsh -NoProfile -c 1' ([double[]]($hf.results[0].times | ForEach-Object { $_ * 1000 })) -Baseline
        $imp = Add-Row $group 'hyperfine: pwsh -NoProfile -c "Import-Module FsFreeze; 1"' ([double[]]($hf.results[1].times | ForEach-Object { $_ * 1000 }))
        Complete-Group $group
        $imp.Note = "difference of medians: $(($imp.MedianMs - ($rows | Where-Object { $_.Group -eq $group -and $_.Baseline }).MedianMs).ToString('0.0')) ms"
    }
    else {
        $rows.Add([pscustomobject]@{ Group = $group; Name = 'skipped'; MedianMs = [double]::NaN; P10Ms = [double]::NaN; P90Ms = [double]::NaN; N = 0; Ratio = [double]::NaN; Baseline = $false; Note = 'hyperfine is not installed (Debian package hyperfine)' })
    }
    # Timed inside fresh processes, round robin with an empty manifest module: what PowerShell's own Import-Module costs
    # in a cold process is the floor; FsFreeze's own share is the difference.
    $emptyDir = Join-Path ([IO.Path]::GetTempPath()) "fsfreeze-bench-empty-$PID"
    New-Item -ItemType Directory -Force -Path $emptyDir | Out-Null
    Set-Content -LiteralPath (Join-Path $emptyDir 'Empty.psd1') -Value "@{ ModuleVersion = '1.0'; GUID = '$([guid]::NewGuid())'; FunctionsToExport = @(); CmdletsToExport = @() }"
    try {
        $timeImport = {
            param([string] $Manifest)
            $ms = & $pwsh -NoProfile -NonInteractive -c "`$t = [Diagnostics.Stopwatch]::GetTimestamp(); Import-Module '$Manifest'; [Diagnostics.Stopwatch]::GetElapsedTime(`$t).TotalMilliseconds.ToString([cultureinfo]::InvariantCulture)"
            if ($LASTEXITCODE) { throw "Import-Module '$Manifest' in a fresh pwsh failed." }
            [double]::Parse(($ms | Select-Object -Last 1), [cultureinfo]::InvariantCulture)
        }
        $empty = [Collections.Generic.List[double]]::new(); $mine = [Collections.Generic.List[double]]::new()
        for ($i = 0; $i -lt $cfg.ImportRuns; $i++) {
            $empty.Add((& $timeImport (Join-Path $emptyDir 'Empty.psd1')))
            $mine.Add((& $timeImport $psd1))
        }
    }
    finally { Remove-Item -LiteralPath $emptyDir -Recurse -Force -ErrorAction SilentlyContinue }
    $group = 'Import-Module'
    $emptyRow = Add-Row $group 'Import-Module of an empty manifest module (PowerShell''s own cost, cold process)' $empty.ToArray() -Baseline
    $importRow = Add-Row $group 'Import-Module FsFreeze (cold process)' $mine.ToArray()
    Complete-Group $group
    $importCostMs = $importRow.MedianMs - $emptyRow.MedianMs
    $importRow.Note = "FsFreeze's own share (difference of medians): $($importCostMs.ToString('0.0')) ms"

    # 6. Many filesystems in one call.
    foreach ($n in $cfg.Counts) {
        $many = @(for ($i = 0; $i -lt $n; $i++) { New-BenchFilesystem ext4 16 })
        $paths = [string[]]@($many.MountPoint)
        $actions = [ordered]@{
            "direct ioctls, $n fs"                                 = {
                $fds = foreach ($p in $paths) { [FsFreeze.Native.FileDescriptorHandle]::OpenReadOnly($p) }
                try {
                    for ($i = 0; $i -lt $paths.Count; $i++) { [FsFreeze.Native.FreezeIoctl]::Freeze($fds[$i], $paths[$i]) }
                    for ($i = $paths.Count - 1; $i -ge 0; $i--) { [FsFreeze.Native.FreezeIoctl]::Thaw($fds[$i], $paths[$i]) }
                }
                finally { foreach ($fd in $fds) { $fd.Dispose() } }
            }
            "Invoke-FsFreeze -NoFlush + Invoke-FsThaw, $n fs"      = { $null = Invoke-FsFreeze -Path $paths -NoFlush @NoTimeout; $null = Invoke-FsThaw -Path $paths }
            "Invoke-FsFreeze (flush) + Invoke-FsThaw, $n fs"       = { $null = Invoke-FsFreeze -Path $paths @NoTimeout; $null = Invoke-FsThaw -Path $paths }
            "fsfreeze -f each, then fsfreeze -u each, $n fs"       = {
                foreach ($p in $paths) { & fsfreeze -f $p; if ($LASTEXITCODE) { throw "fsfreeze -f $p failed." } }
                foreach ($p in $paths) { & fsfreeze -u $p }
            }
        }
        $s = Measure-RoundRobin $actions $cfg.CountReps -Warmup 2
        $group = "$n filesystems in one call"
        $first = $true
        foreach ($k in $actions.Keys) { $null = Add-Row $group $k $s[$k] -Baseline:$first -Note "per filesystem: $(((Get-Median ([double[]]$s[$k])) / $n).ToString('0.000')) ms"; $first = $false }
        Complete-Group $group
        foreach ($f in $many) { Remove-BenchFilesystem $f }
    }

    # 7. The frozen window as the kernel sees it (tracefs syscall events; Measure-KernelWindow.ps1 makes, guards and
    # removes its own filesystems): per method kernel hold, its user-space part and wall per pair against a raw C pair;
    # sets with dirty data: set hold against the slowest member's FIFREEZE and against the sum. Prints its own tables.
    $kernel = & (Join-Path $PSScriptRoot 'Measure-KernelWindow.ps1') -RawPairPath $RawPairPath -Quick:$Quick -PassThru
    $allMountPoints.AddRange([string[]]@($kernel.Filesystems))
    foreach ($type in @($kernel.Pairs.Type | Select-Object -Unique)) {
        $group = "kernel hold, idle pair, $type"
        foreach ($p in @($kernel.Pairs | Where-Object Type -EQ $type)) {
            $null = Add-Row $group $p.Method $p.HoldSamplesMs -Baseline:($p.Method -like 'raw C*') `
                -Note ("in user space {0} ms ({1} vs raw C); wall {2} ms ({3}x)" -f $p.UserMs.ToString('0.000'), $p.UserOverRawMs.ToString('+0.000;-0.000'), $p.WallMs.ToString('0.00'), $p.WallRatio.ToString('0.00'))
        }
        Complete-Group $group
    }
    foreach ($set in @($kernel.Sets | Group-Object Type, Count)) {
        $first = $set.Group[0]
        $group = "set hold, $($first.Count) x $($first.Type), $($first.DirtyMBEach) MB dirty each"
        foreach ($p in $set.Group) {
            $null = Add-Row $group $p.Method ([double[]]$p.SetHoldSamplesMs) -Baseline:($p.Method -like 'raw C*') `
                -Note ("slowest FIFREEZE {0} ms: hold {1}x it; {2}x the sum of FIFREEZEs; in user space {3} ms" -f $p.SlowestFreezeMs.ToString('0.0'),
                    $p.HoldOverSlowest.ToString('0.00'), $p.HoldOverSum.ToString('0.00'), $p.UserMs.ToString('0.00'))
        }
        Complete-Group $group
    }

    # 8. Fleets (issue 11): Use-FsFreezeFleet over SSH to simulated hosts (Measure-Fleet.ps1 makes, freezes only inside
    # and removes its own hosts): the fleet barrier and the longest host hold for 1, 3 and 8 hosts (-Quick: 1 and 3), the
    # snapshot (the scriptblock) as the baseline, so the ratio and the overhead rows show what the controller adds.
    $fleetBench = & (Join-Path $PSScriptRoot 'Measure-Fleet.ps1') -ModulePath $ModulePath -Quick:$Quick -PassThru
    foreach ($f in @($fleetBench.Summary | Where-Object ScriptBlock -EQ 'snapshot')) {
        $group = "fleet of $($f.Hosts) host(s), Use-FsFreezeFleet over SSH"
        $samples = @($f.Samples)
        $null = Add-Row $group 'snapshot (the scriptblock: cp --reflink of every host''s image)' ([double[]]$samples.SnapshotMs) -Baseline
        $null = Add-Row $group 'longest host hold (first FIFREEZE to last FITHAW)' ([double[]]$samples.LongestHoldMs)
        # A barrier across one host is 0 by definition: a row only where there is something to wait for.
        if ($f.Hosts -gt 1) {
            $null = Add-Row $group 'fleet barrier (first host frozen to last host frozen)' ([double[]]$samples.BarrierMs) `
                -Note "freeze phase (first request sent to last answer) $($f.FreezePhaseMs.ToString('0.0')) ms, of it sending the $($f.Hosts) requests $($f.DispatchMs.ToString('0.0')) ms"
        }
        $null = Add-Row $group 'controller overhead (longest hold - snapshot)' ([double[]]@($samples | ForEach-Object { $_.LongestHoldMs - $_.SnapshotMs })) `
            -Note "before the scriptblock $($f.BeforeMs.ToString('0.0')) ms, after it $($f.AfterMs.ToString('0.0')) ms (medians)"
        $empty = $fleetBench.Summary | Where-Object { $_.Hosts -eq $f.Hosts -and $_.ScriptBlock -eq 'empty' }
        $null = Add-Row $group 'longest host hold with an empty scriptblock (the controller alone)' ([double[]]@($empty.Samples).LongestHoldMs)
        Complete-Group $group
    }

    # Goals from issue 5, judged on this run's numbers.
    function Get-Row([string] $Group, [string] $Like) { $rows | Where-Object { $_.Group -eq $Group -and $_.Name -like $Like } | Select-Object -First 1 }
    $goals = [Collections.Generic.List[object]]::new()
    $pair = Get-Row 'idle pair, ext4' 'Invoke-FsFreeze -NoFlush*'
    $goals.Add([pscustomobject]@{ Goal = 'idle pair: cmdlets (-NoFlush) within 1.2x of the direct ioctl pair (ext4)'; Value = "$($pair.Ratio.ToString('0.00'))x"; Met = $pair.Ratio -le 1.2 })
    $stallUse = Get-Row 'writer stall, idle ext4' 'Use-FsFreeze {}*'
    $stallDirect = Get-Row 'writer stall, idle ext4' 'direct*'
    $delta = $stallUse.MedianMs - $stallDirect.MedianMs
    $goals.Add([pscustomobject]@{ Goal = 'idle stall: Use-FsFreeze within 0.5 ms of the direct ioctl pair'; Value = "$($delta.ToString('+0.000;-0.000')) ms (-NoFlush: $(((Get-Row 'writer stall, idle ext4' 'Use-FsFreeze -NoFlush*').MedianMs - $stallDirect.MedianMs).ToString('+0.000;-0.000')) ms)"; Met = $delta -le 0.5 })
    $maxDirty = ($cfg.DirtyMB | Measure-Object -Maximum).Maximum
    $dg = "writer stall, $maxDirty MB dirty, ext4"
    $flushRatio = (Get-Row $dg 'fsfreeze*').MedianMs / (Get-Row $dg 'Use-FsFreeze {} (flush)').MedianMs
    $goals.Add([pscustomobject]@{ Goal = "dirty stall ($maxDirty MB): FsFreeze with flush at least 4x shorter than fsfreeze(8)"; Value = "$($flushRatio.ToString('0.0'))x shorter"; Met = $flushRatio -ge 4 })
    if ($HasTimeout) {
        $arm = (Get-Row 'arming a timeout' '*TimeoutSec 60*').MedianMs - (Get-Row 'arming a timeout' '*TimeoutSec 0 *').MedianMs
        $goals.Add([pscustomobject]@{ Goal = 'arming -TimeoutSec 60 costs under ~25 ms more than -TimeoutSec 0'; Value = "+$($arm.ToString('0.0')) ms"; Met = $arm -lt 25 })
    }
    else {
        $goals.Add([pscustomobject]@{ Goal = 'arming a timeout under ~25 ms'; Value = 'skipped: no -TimeoutSec in this build'; Met = $null })
    }
    $goals.Add([pscustomobject]@{ Goal = 'Import-Module FsFreeze under 30 ms on top of a bare pwsh start'; Value = "$($importCostMs.ToString('0.0')) ms beyond an empty module ($($importRow.MedianMs.ToString('0')) ms in all)"; Met = $importCostMs -lt 30 })

    # Goals from issue 9, from the kernel's trace (Measure-KernelWindow.ps1) of this run.
    $kp = { param($Type, $Like) $kernel.Pairs | Where-Object { $_.Type -eq $Type -and $_.Method -like $Like } | Select-Object -First 1 }
    $fsfreezeMethods = @($kernel.Sets.Method | Select-Object -Unique | Where-Object { $_ -like 'Invoke-FsFreeze*' -or $_ -like 'Use-FsFreeze*' })
    $bigSet = ($kernel.Config.SetCounts | Where-Object { $_ -le 16 } | Measure-Object -Maximum).Maximum
    foreach ($type in @('ext4', 'xfs') | Where-Object { $_ -in $kernel.Config.SetTypes }) {
        $mine = @($kernel.Sets | Where-Object { $_.Type -eq $type -and $_.Count -eq $bigSet -and $_.Method -in $fsfreezeMethods })
        $worst = ($mine | Measure-Object HoldOverSlowest -Maximum).Maximum
        $raw = $kernel.Sets | Where-Object { $_.Type -eq $type -and $_.Count -eq $bigSet -and $_.Method -like 'raw C*' }
        $goals.Add([pscustomobject]@{ Goal = "$bigSet members with dirty data ($type): set held at most 2x its slowest member's FIFREEZE"
                Value = "FsFreeze $(($mine | ForEach-Object { $_.HoldOverSlowest.ToString('0.00') + 'x' }) -join ' / ') (one by one, raw C: $($raw.HoldOverSlowest.ToString('0.0'))x)"; Met = $worst -le 2 })
    }
    $useWd = & $kp 'ext4' 'Use-FsFreeze {} (watchdog*'
    $use0 = & $kp 'ext4' 'Use-FsFreeze {} -TimeoutSec 0'
    $goals.Add([pscustomobject]@{ Goal = 'empty default Use-FsFreeze: at most 0.2 ms of the frozen window in user space (ext4)'
            Value = "$($useWd.UserMs.ToString('0.000')) ms (-TimeoutSec 0: $($use0.UserMs.ToString('0.000')) ms)"; Met = $useWd.UserMs -le 0.2 })
    $invWd = & $kp 'ext4' 'Invoke-FsFreeze | Invoke-FsThaw (watchdog*'
    $inv0 = & $kp 'ext4' 'Invoke-FsFreeze -TimeoutSec 0 | Invoke-FsThaw'
    $goals.Add([pscustomobject]@{ Goal = 'Invoke-FsFreeze | Invoke-FsThaw with the watchdog: user space like the in-process pair (within 0.1 ms, ext4)'
            Value = "$($invWd.UserMs.ToString('0.000')) ms against $($inv0.UserMs.ToString('0.000')) ms"; Met = ($invWd.UserMs - $inv0.UserMs) -le 0.1 })
    $f8 = & $kp 'ext4' 'fsfreeze -f*'
    $goals.Add([pscustomobject]@{ Goal = 'default pair (Invoke-FsFreeze | Invoke-FsThaw, watchdog): wall time at most fsfreeze(8)''s (ext4)'
            Value = "$($invWd.WallMs.ToString('0.00')) ms against $($f8.WallMs.ToString('0.00')) ms ($($invWd.WallVsFsfreeze.ToString('0.00'))x); outside FIFREEZE/FITHAW $($invWd.OwnMs.ToString('0.00')) against $($f8.OwnMs.ToString('0.00')) ms"
            Met = $invWd.WallMs -le $f8.WallMs })

    # Report.
    $rows | Format-Table Group, Name, @{ n = 'median ms'; e = { $_.MedianMs.ToString('0.000') }; a = 'right' },
    @{ n = 'p10'; e = { $_.P10Ms.ToString('0.000') }; a = 'right' }, @{ n = 'p90'; e = { $_.P90Ms.ToString('0.000') }; a = 'right' },
    N, @{ n = 'ratio'; e = { if ([double]::IsNaN($_.Ratio)) { '' } else { $_.Ratio.ToString('0.00') + 'x' } }; a = 'right' }, Note | Out-String -Width 250 | Write-Host
    $dirtyPoints | Format-Table Type, DirtyMB, Method, @{ n = 'stall ms (median)'; e = { $_.StallMs.ToString('0.00') }; a = 'right' },
    @{ n = 'window ms'; e = { $_.WindowMs.ToString('0.0') }; a = 'right' }, @{ n = 'Dirty before MB'; e = { [Math]::Round($_.DirtyKBBefore / 1024) }; a = 'right' } | Out-String -Width 250 | Write-Host
    $goals | Format-Table Goal, Value, Met | Out-String -Width 250 | Write-Host

    New-Item -ItemType Directory -Force -Path $OutDir | Out-Null
    $result = [ordered]@{
        Generated = $started.ToUniversalTime().ToString('o'); DurationSec = [Math]::Round(((Get-Date) - $started).TotalSeconds)
        Quick = [bool]$Quick; Machine = Get-MachineInfo; WriterThresholdMs = $WriterThresholdMs
        Rows = $rows; Dirty = $dirtyPoints; Goals = $goals; Filesystems = $allMountPoints; Watchdog = $watchdogMemory
        KernelWindow = [ordered]@{ Config = $kernel.Config; Pairs = $kernel.Pairs; Sets = $kernel.Sets; DurationSec = $kernel.DurationSec }
        Fleet = [ordered]@{ Sizes = $fleetBench.Sizes; Reps = $fleetBench.Reps; DurationSec = $fleetBench.DurationSec; Summary = @($fleetBench.Summary | Select-Object -Property * -ExcludeProperty Samples) }
    }
    # NaN is not JSON: the skipped rows carry null instead.
    $jsonText = $result | ConvertTo-Json -Depth 6
    $jsonText = $jsonText -replace '(?m)(:\s*)"?NaN"?', '$1null'
    Set-Content -LiteralPath (Join-Path $OutDir 'bench.json') -Value $jsonText
    $ext4Points = @($dirtyPoints | Where-Object Type -EQ 'ext4')
    Set-Content -LiteralPath (Join-Path $OutDir 'stall-vs-dirty.svg') -Value (New-StallChartSvg $ext4Points "Writer stall around a freeze+thaw vs dirty data (ext4 on loop, $(uname -r))")
    Set-Content -LiteralPath (Join-Path $OutDir 'set-hold.svg') -Value (New-SetHoldChartSvg @($kernel.Sets) "How long a set with dirty data is held, against its slowest member's FIFREEZE (tracefs, $(uname -r))")
    Write-Host "Load average at start: $LoadAtStart; at the end: $(Get-Content /proc/loadavg) ($([Environment]::ProcessorCount) CPUs)."
    Write-Host "Wrote $(Join-Path $OutDir 'bench.json'), stall-vs-dirty.svg and set-hold.svg in $([Math]::Round(((Get-Date) - $started).TotalSeconds)) s."
}
finally {
    # Thaw everything this run made (tolerating "not frozen"), let the writers go, then unmount and detach.
    foreach ($fs in @($created)) { & fsfreeze -u $fs.MountPoint 2>$null }
    foreach ($p in @($background)) { try { if (-not $p.HasExited) { $p.Kill() }; [void]$p.WaitForExit(5000) } catch { } }
    foreach ($p in @($writers)) { try { $p.StandardInput.Close(); if (-not $p.WaitForExit(5000)) { $p.Kill() } } catch { } }
    foreach ($fs in @($created)) { Remove-LoopFilesystem $fs }
    Remove-BenchStateDirectory $benchState
}
