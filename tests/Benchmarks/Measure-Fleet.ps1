<#
.SYNOPSIS
    Fleet freezes (Use-FsFreezeFleet over SSH) on simulated hosts: the fleet barrier (first host frozen to last host
    frozen) and the longest host hold, for 1, 3 and 8 hosts (-Quick: 1 and 3), with the controller's own overhead
    separated from the snapshot. Section 8 of the Bench task; it also runs alone (as root).
.DESCRIPTION
    One fleet of simulated hosts (tests/SimHost: a network namespace, sshd with pwsh as its powershell subsystem and an
    ext4 /data1 per host, every image on one btrfs storage filesystem) and one controller (a child pwsh in the
    controller's network namespace, sessions over SSH to every host). For each fleet size, the first N sessions run
    Use-FsFreezeFleet -Path /data1 several times, after 4 MB of fresh dirty data on every host, with two scriptblocks:
    the snapshot (cp --reflink of the N data images on the storage filesystem) and an empty one. Per run:

    - barrier: the latest host's FrozenAt minus the earliest's (the hosts' clocks; here one machine's clock);
    - longest hold: the largest FrozenFor (a host's first FIFREEZE to its last FITHAW);
    - snapshot: the scriptblock's own time (the controller's clock);
    - controller overhead: longest hold minus snapshot, split into "before" (a host frozen until the scriptblock
      starts: the barrier and the answers coming back) and "after" (the scriptblock's end until a host is thawed);
    - freeze phase: first freeze request sent to last answer back (the controller's clock); dispatch: first request
      sent to last request sent (what the controller itself spends starting the N calls).

    Medians over the runs. The hosts, their sessions and the controller all share this machine's CPUs, so the numbers
    include that contention (8 hosts on 2 CPUs is far from 8 machines).
    Safety: everything is frozen inside simulated hosts (mount namespaces of their own, isolation checked); the fleet
    is removed in the finally block, also on Ctrl+C.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string] $ModulePath,
    [switch] $Quick,
    # Return the result object (Invoke-Benchmark.ps1 folds it into bench.json).
    [switch] $PassThru
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$ModulePath = (Resolve-Path -LiteralPath $ModulePath).ProviderPath
Import-Module (Join-Path $PSScriptRoot '../SimHost/SimHost.psm1')
Import-Module (Join-Path $PSScriptRoot 'BenchReport.psm1')

$sizes = if ($Quick) { @(1, 3) } else { @(1, 3, 8) }
$reps = if ($Quick) { 3 } else { 9 }
$started = Get-Date

Get-SimFleet -Orphaned | Remove-SimFleet
$null = Initialize-SimHostImage
$fleet = $null
try {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $fleet = New-SimFleet -Count ($sizes | Measure-Object -Maximum).Maximum -ModulePath $ModulePath -DataFilesystem ext4 -NamePrefix bench
    Write-Host "Fleet benchmark: $($fleet.Hosts.Count) simulated hosts with sshd up in $([Math]::Round($sw.Elapsed.TotalSeconds, 1)) s; sizes $($sizes -join ', '), $reps runs each."

    $controller = @'
$ErrorActionPreference = 'Stop'
Import-Module $env:SIMHOST_PSM1
Import-Module (Join-Path $env:BENCH_MODULE 'FsFreeze.psd1')
$conn = Get-Content -LiteralPath $env:SIMFLEET_CONNECTION -Raw | ConvertFrom-Json
$all = @(New-SimFleetSession -ConnectionFile $env:SIMFLEET_CONNECTION)
$snapDir = Join-Path $conn.Storage 'snapshots/bench'
$null = New-Item -ItemType Directory -Force -Path $snapDir
$runs = foreach ($n in [int[]]($env:BENCH_SIZES -split ',')) {
    $s = $all[0..($n - 1)]
    $images = @($conn.Hosts[0..($n - 1)] | ForEach-Object { ($_.Images | Where-Object Role -EQ 'data1').Image })
    # One warm-up per size: the hosts' first call of each cmdlet pays for loading and JIT, which a fleet that
    # freezes every night pays once per session.
    for ($i = -1; $i -lt [int]$env:BENCH_REPS; $i++) {
        foreach ($kind in 'snapshot', 'empty') {
            Invoke-Command -Session $s { head -c 4M /dev/urandom > /data1/bench-dirty.bin } | Out-Null
            $block = if ($kind -eq 'snapshot') {
                { foreach ($img in $images) { & cp --reflink=always -f $img (Join-Path $snapDir (Split-Path -Leaf $img)); if ($LASTEXITCODE) { throw "cp $img failed" } } }
            } else { {} }
            $t0 = [Diagnostics.Stopwatch]::GetTimestamp()
            $hosts = @(Use-FsFreezeFleet -Session $s -Path /data1 -LeaseSec 10 -ScriptBlock $block -ErrorAction Stop)
            $wall = [Diagnostics.Stopwatch]::GetElapsedTime($t0).TotalMilliseconds
            if ($i -lt 0) { continue }
            $frozen = @($hosts.FrozenAt | ForEach-Object { $_.ToUniversalTime() })
            $sbStart = $hosts[0].ScriptBlockStartedAt.ToUniversalTime(); $sbEnd = $hosts[0].ScriptBlockEndedAt.ToUniversalTime()
            [pscustomobject]@{
                Hosts = $n; Kind = $kind; Rep = $i; WallMs = $wall
                BarrierMs = (($frozen | Measure-Object -Maximum).Maximum - ($frozen | Measure-Object -Minimum).Minimum).TotalMilliseconds
                LongestHoldMs = ($hosts.FrozenForMs | Measure-Object -Maximum).Maximum
                SnapshotMs = ($sbEnd - $sbStart).TotalMilliseconds
                BeforeMs = (@($hosts | ForEach-Object { ($sbStart - $_.FrozenAt.ToUniversalTime()).TotalMilliseconds }) | Measure-Object -Maximum).Maximum
                AfterMs = (@($hosts | ForEach-Object { ($_.ThawedAt.ToUniversalTime() - $sbEnd).TotalMilliseconds }) | Measure-Object -Maximum).Maximum
                FreezePhaseMs = ((@($hosts.FreezeAnsweredAt) | Measure-Object -Maximum).Maximum - (@($hosts.FreezeSentAt) | Measure-Object -Minimum).Minimum).TotalMilliseconds
                DispatchMs = ((@($hosts.FreezeSentAt) | Measure-Object -Maximum).Maximum - (@($hosts.FreezeSentAt) | Measure-Object -Minimum).Minimum).TotalMilliseconds
                Held = -not @($hosts | Where-Object { -not $_.HeldThroughScriptBlock })
            }
        }
    }
}
$all | Remove-PSSession
'BENCH-RESULT ' + (ConvertTo-Json @($runs) -Compress)
'@
    $r = Invoke-SimFleetController $fleet $controller -TimeoutSec 1800 -Environment @{
        BENCH_MODULE = $ModulePath; BENCH_SIZES = ($sizes -join ','); BENCH_REPS = $reps
    }
    $line = $r.StdOut -split "`n" | Where-Object { $_.StartsWith('BENCH-RESULT ') } | Select-Object -Last 1
    if ($r.ExitCode -ne 0 -or -not $line) { throw "The fleet benchmark's controller failed (exit $($r.ExitCode)): $($r.StdErr.Trim()) $($r.StdOut.Trim())" }
    $runs = @($line.Substring(13) | ConvertFrom-Json)
    if ($runs | Where-Object { -not $_.Held }) { throw 'A fleet benchmark run was not consistent (a host did not hold through its scriptblock).' }

    $summary = foreach ($n in $sizes) {
        foreach ($kind in 'snapshot', 'empty') {
            $set = @($runs | Where-Object { $_.Hosts -eq $n -and $_.Kind -eq $kind })
            $m = { param($p) Get-Median ([double[]]@($set | ForEach-Object $p)) }
            [pscustomobject]@{
                Hosts = $n; ScriptBlock = $kind; Runs = $set.Count
                BarrierMs = & $m BarrierMs; LongestHoldMs = & $m LongestHoldMs; SnapshotMs = & $m SnapshotMs
                OverheadMs = Get-Median ([double[]]@($set | ForEach-Object { $_.LongestHoldMs - $_.SnapshotMs }))
                BeforeMs = & $m BeforeMs; AfterMs = & $m AfterMs; FreezePhaseMs = & $m FreezePhaseMs; DispatchMs = & $m DispatchMs; WallMs = & $m WallMs
                Samples = $set
            }
        }
    }
    $summary | Format-Table Hosts, ScriptBlock, Runs,
    @{ n = 'barrier ms'; e = { $_.BarrierMs.ToString('0.0') }; a = 'right' },
    @{ n = 'longest hold ms'; e = { $_.LongestHoldMs.ToString('0.0') }; a = 'right' },
    @{ n = 'snapshot ms'; e = { $_.SnapshotMs.ToString('0.0') }; a = 'right' },
    @{ n = 'overhead ms'; e = { $_.OverheadMs.ToString('0.0') }; a = 'right' },
    @{ n = 'before'; e = { $_.BeforeMs.ToString('0.0') }; a = 'right' },
    @{ n = 'after'; e = { $_.AfterMs.ToString('0.0') }; a = 'right' },
    @{ n = 'freeze phase ms'; e = { $_.FreezePhaseMs.ToString('0.0') }; a = 'right' },
    @{ n = 'dispatch ms'; e = { $_.DispatchMs.ToString('0.0') }; a = 'right' },
    @{ n = 'call ms'; e = { $_.WallMs.ToString('0') }; a = 'right' } | Out-String -Width 200 | Write-Host
    Write-Host 'Medians. overhead = longest hold - snapshot (the scriptblock): before (a host frozen until the scriptblock starts) plus after (its end until a host is thawed). Hosts and controller share this machine''s CPUs.'
    $result = [pscustomobject]@{
        Sizes = $sizes; Reps = $reps; DurationSec = [Math]::Round(((Get-Date) - $started).TotalSeconds)
        FleetStartSec = [Math]::Round($fleet.StartTime.TotalSeconds, 1); Summary = $summary
    }
    if ($PassThru) { $result }
}
finally {
    if ($fleet) { Remove-SimFleet $fleet }
}
