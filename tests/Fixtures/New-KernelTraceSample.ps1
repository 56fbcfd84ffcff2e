<#
.SYNOPSIS
    Captures kernel-trace-sample.txt, the real tracefs text KernelTrace.Tests.ps1 parses. Run as root from the
    repository root after a build:  dotnet pwsh tests/Fixtures/New-KernelTraceSample.ps1 -RawPairPath out/bench/rawpair
.DESCRIPTION
    On two ext4 loop filesystems of its own (A, B) and traced with Start-KernelTrace -ProcessId $PID, in this order:
    rawpair -n 2 A; fsfreeze -f A, -f A again (EBUSY), -u A, -u A again (EINVAL); rawpair A B (a set of two: freeze
    A, B, thaw B, A); Invoke-FsFreeze -TimeoutSec 0 A | Invoke-FsThaw (pwsh's "Pipeline Execut" thread: a comm with a
    space); Invoke-FsFreeze A | Invoke-FsThaw (fsfreeze-watchdog: FIFREEZE in its 'freeze' thread, FITHAW in its main
    thread). A new capture has other pids and times: update the expectations in KernelTrace.Tests.ps1 with it.
#>
param([Parameter(Mandatory)][string] $RawPairPath, [string] $ModulePath = 'out/FsFreeze')
$RawPairPath = (Resolve-Path -LiteralPath $RawPairPath).ProviderPath
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path (Resolve-Path -LiteralPath $ModulePath).ProviderPath 'FsFreeze.psd1')
Import-Module (Join-Path $PSScriptRoot '../TestHelpers.psm1')
Import-Module (Join-Path $PSScriptRoot '../Benchmarks/KernelTrace.psm1')
$a = $b = $null
try {
    $a = New-LoopFilesystem -Type ext4 -MkfsOption '-E', 'lazy_itable_init=0,lazy_journal_init=0'
    $b = New-LoopFilesystem -Type ext4 -MkfsOption '-E', 'lazy_itable_init=0,lazy_journal_init=0'
    $trace = Start-KernelTrace -ProcessId $PID
    try {
        & $RawPairPath -n 2 $a.MountPoint | Out-Null
        & fsfreeze -f $a.MountPoint; & fsfreeze -f $a.MountPoint 2>$null; & fsfreeze -u $a.MountPoint; & fsfreeze -u $a.MountPoint 2>$null
        & $RawPairPath $a.MountPoint $b.MountPoint | Out-Null
        Invoke-FsFreeze -Path $a.MountPoint -TimeoutSec 0 | Invoke-FsThaw | Out-Null
        Invoke-FsFreeze -Path $a.MountPoint | Invoke-FsThaw | Out-Null
    }
    finally { $text = Stop-KernelTrace $trace }
    Set-Content -LiteralPath (Join-Path $PSScriptRoot 'kernel-trace-sample.txt') -Value $text.Text.TrimEnd() -NoNewline
    "rawpair, fsfreeze(8), Invoke-FsFreeze: captured $(@($text.Text -split "`n" | Where-Object { $_ -and -not $_.StartsWith('#') }).Count) lines, $($text.LostEvents) lost."
}
finally { Remove-LoopFilesystem $a; Remove-LoopFilesystem $b }
