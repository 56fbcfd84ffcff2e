#!/usr/bin/env pwsh
<#
.SYNOPSIS
    The consistent-backup demo: snapshot a filesystem that is being written to, with and without Use-FsFreeze.
.DESCRIPTION
    As root, with nothing to set up: makes a scratch ext4 image under a new temp directory, loop-mounts it, starts
    a writer (a child bash process) that keeps changing files, copies the image once inside Use-FsFreeze and once
    without freezing, and judges both copies (dumpe2fs -h, e2fsck -fy on a copy, file checksums against the
    writer's log). Prints a short report. Cleans up on every way out, Ctrl+C included: thaw, stop the writer,
    unmount, detach the loop device, delete the temp directory, in that order. When pwsh is killed outright
    (SIGKILL, SIGTERM) and runs no finally block, a guardian process (Watch-DemoCleanup.sh) does the same.
    Only the demo's own loop mount is ever frozen. The copies are written to the temp directory, which is on
    another filesystem (/), never into the frozen one.
.PARAMETER ModulePath
    The built module folder (build.ps1 -Task Build puts it in out/FsFreeze).
.PARAMETER TempParent
    Where to create the demo's temp directory; must not be the scratch filesystem itself.
.PARAMETER HoldFrozenSeconds
    Stay frozen this long after the copy. Only for testing interruption: a Ctrl+C then lands while frozen.
.OUTPUTS
    Exit code 0 when the frozen snapshot is consistent, 1 when it is not, 2 when the demo could not run,
    130 when interrupted (after cleaning up).
#>
[CmdletBinding()]
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '../../out/FsFreeze'),
    [ValidateRange(64, 512)][int] $ImageSizeMB = 256,
    [string] $TempParent = [IO.Path]::GetTempPath(),
    [ValidateRange(0.5, 10)][double] $WarmupSeconds = 2,
    [ValidateRange(0, 120)][int] $HoldFrozenSeconds = 0
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
Import-Module (Join-Path $PSScriptRoot 'BackupDemo.psm1') -Force

function Stop-DemoWriter([Diagnostics.Process] $Writer, [string] $StopFile) {
    # Ask first (it finishes the change it is making), then kill. Only ever called after the thaw: a writer
    # blocked on a frozen filesystem cannot die, so waiting on it then would be waiting for ourselves.
    if (-not $Writer -or $Writer.HasExited) { return }
    New-Item -ItemType File -Path $StopFile -Force | Out-Null
    if (-not $Writer.WaitForExit(3000)) {
        $Writer.Kill($true)
        if (-not $Writer.WaitForExit(5000)) { Write-Warning "The writer (pid $($Writer.Id)) did not exit." }
    }
}

function Remove-DemoScratch($State) {
    # Every step tolerates what is already gone and reports what it could not undo. Thaw BEFORE unmount:
    # an unmounted frozen filesystem stays frozen, invisibly, and its writer with it.
    if ($State.Mounted) {
        $thaw = Invoke-Tool -TimeoutSec 10 -FilePath fsfreeze -ArgumentList '-u', $State.MountPoint  # "Invalid argument" = not frozen: fine
        if ($thaw.ExitCode -eq 0) { Write-Host 'Cleanup: the scratch filesystem was still frozen; thawed it.' }
    }
    Stop-DemoWriter $State.Writer $State.StopFile
    if ($State.Mounted) {
        $umount = Invoke-Tool -TimeoutSec 20 -FilePath umount -ArgumentList $State.MountPoint
        if ($umount.ExitCode -ne 0) {
            Start-Sleep -Milliseconds 300
            $umount = Invoke-Tool -TimeoutSec 20 -FilePath umount -ArgumentList $State.MountPoint
        }
        if ($umount.ExitCode -eq 0) { $State.Mounted = $false } else { Write-Warning "Cleanup: umount $($State.MountPoint) failed: $($umount.Output -join ' ')" }
    }
    if ($State.Loop -and -not $State.Mounted) {
        $detach = Invoke-Tool -TimeoutSec 20 -FilePath losetup -ArgumentList '-d', $State.Loop
        if ($detach.ExitCode -eq 0) { $State.Loop = $null } else { Write-Warning "Cleanup: losetup -d $($State.Loop) failed: $($detach.Output -join ' ')" }
    }
    if ($State.TempDir -and -not $State.Mounted -and -not $State.Loop) {
        Remove-Item -LiteralPath $State.TempDir -Recurse -Force -ErrorAction SilentlyContinue
    }
    elseif ($State.TempDir) { Write-Warning "Cleanup: left $($State.TempDir) in place because something there is still in use." }
    # All undone: the guardian has nothing left to do. Otherwise it stays, and retries once this process is gone.
    if ($State.Guardian -and -not $State.Mounted -and -not $State.Loop -and -not $State.Guardian.HasExited) {
        $State.Guardian.Kill()
        $State.Guardian.WaitForExit(2000) | Out-Null
    }
}

function Start-DemoGuardian($State, [string] $Image, [int] $MaxSeconds) {
    # finally blocks do not run when pwsh is killed (SIGKILL, SIGTERM): a process of its own, in its own session
    # so Ctrl+C does not reach it, then thaws and cleans up the scratch filesystem if the demo could not.
    $psi = [Diagnostics.ProcessStartInfo]::new('setsid')
    foreach ($a in (Join-Path $PSScriptRoot 'Watch-DemoCleanup.sh'), [string]$PID, $State.TempDir, $State.MountPoint, $State.Loop, $Image,
        [string]$State.Writer.Id, [string]$MaxSeconds) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    [Diagnostics.Process]::Start($psi)
}

function Copy-Image([string] $From, [string] $To) {
    # On XFS or btrfs a reflink copy is instant; on ext4 (here) it is a sparse copy through the page cache,
    # which holds every block the loop device has been sent, so it sees what the filesystem has written so far.
    Invoke-ToolChecked -TimeoutSec 60 -FilePath cp -ArgumentList '--reflink=auto', '--sparse=always', $From, $To | Out-Null
}

$state = [pscustomobject]@{ TempDir = $null; MountPoint = $null; Loop = $null; Mounted = $false; Writer = $null; StopFile = $null; Guardian = $null }
$exitCode = 2
$finished = $false   # stays false when Ctrl+C stops the script: then the finally block exits 130
try {
    if ((& id -u) -ne '0') { throw 'The demo needs root: it makes a loop device, mounts it and freezes it.' }
    foreach ($tool in 'mkfs.ext4', 'losetup', 'mount', 'umount', 'mountpoint', 'fsfreeze', 'setsid', 'dumpe2fs', 'e2fsck', 'debugfs', 'cp', 'bash', 'timeout', 'sha256sum', 'base64') {
        if (-not (Get-Command $tool -CommandType Application -ErrorAction SilentlyContinue)) { throw "The demo needs '$tool' (e2fsprogs, util-linux, coreutils)." }
    }
    Import-Module (Join-Path $ModulePath 'FsFreeze.psd1') -Force

    # The scratch filesystem: an image in a temp directory on /, which this demo never freezes.
    $state.TempDir = (Invoke-ToolChecked -TimeoutSec 10 -FilePath mktemp -ArgumentList '-d', (Join-Path $TempParent 'fsfreeze-demo.XXXXXX') | Select-Object -Last 1).Trim()
    $image = Join-Path $state.TempDir 'scratch.img'
    $state.MountPoint = Join-Path $state.TempDir 'mnt'
    $state.StopFile = Join-Path $state.TempDir 'writer.stop'
    $writerLog = Join-Path $state.TempDir 'writer.log'
    New-Item -ItemType Directory -Path $state.MountPoint | Out-Null
    Invoke-ToolChecked -TimeoutSec 10 -FilePath truncate -ArgumentList '-s', "${ImageSizeMB}M", $image | Out-Null
    # No lazy init: no kernel thread zeroing inode tables in the background while the demo watches.
    Invoke-ToolChecked -TimeoutSec 60 -FilePath mkfs.ext4 -ArgumentList '-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', $image | Out-Null
    $state.Loop = (Invoke-ToolChecked -TimeoutSec 10 -FilePath losetup -ArgumentList '-f', '--show', $image | Select-Object -Last 1).Trim()
    Invoke-ToolChecked -TimeoutSec 20 -FilePath mount -ArgumentList $state.Loop, $state.MountPoint | Out-Null
    $state.Mounted = $true
    Write-Host "Scratch filesystem: ext4, $ImageSizeMB MB image on $($state.Loop), mounted at $($state.MountPoint)"

    # The writer: a child process, so a write that blocks on the frozen filesystem blocks it, not us.
    # Its lifetime is bounded on its own too, in case this demo dies without stopping it.
    $psi = [Diagnostics.ProcessStartInfo]::new('bash')
    foreach ($a in (Join-Path $PSScriptRoot 'Start-DemoWriter.sh'), $state.MountPoint, $writerLog, $state.StopFile, [string](60 + $HoldFrozenSeconds)) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $state.Writer = [Diagnostics.Process]::Start($psi)
    Write-Host "Writer: pid $($state.Writer.Id), appending, rewriting and renaming files, never syncing"
    $state.Guardian = Start-DemoGuardian $state $image (120 + $HoldFrozenSeconds)
    # Warm up for at least WarmupSeconds and until the writer has written each of its 28 files (4 logs,
    # 8 data files, 16 documents: Start-DemoWriter.sh) once (a slow
    # machine needs longer), so the snapshots have files to judge. Bounded: a writer that stalls fails the demo.
    $warm = [Diagnostics.Stopwatch]::StartNew()
    do {
        Start-Sleep -Milliseconds 200
        $written = @(Read-WriterLog $writerLog | Select-Object -ExpandProperty File -Unique).Count
        if ($state.Writer.HasExited) { throw "The writer stopped early (exit $($state.Writer.ExitCode)): $(Get-Content -Raw "$writerLog.err" -ErrorAction SilentlyContinue)" }
    } while (($warm.Elapsed.TotalSeconds -lt $WarmupSeconds -or $written -lt 28) -and $warm.Elapsed.TotalSeconds -lt 20)
    if ($written -lt 28) { throw "The writer wrote only $written of its 28 files in 20 s." }

    # 1. The snapshot under Use-FsFreeze. Nothing in the scriptblock writes to the frozen filesystem.
    $frozenCopy = Join-Path $state.TempDir 'snapshot-frozen.img'
    $timing = @{}
    $useArgs = @{
        Path        = $state.MountPoint
        ScriptBlock = {
            param($frozen)
            $timing.Frozen = Get-UnixTime
            $timing.FreezeMs = $frozen[0].FreezeTime.TotalMilliseconds
            # Live lines straight to this process's stdout: every PowerShell stream of the scope (Write-Host included)
            # is held back by Use-FsFreeze until the thaw, and these say what happens while frozen.
            [Console]::Out.WriteLine("Frozen $($frozen[0].MountPoint) (FIFREEZE took $('{0:N1}' -f $timing.FreezeMs) ms); copying the image")
            Copy-Image $image $frozenCopy
            $timing.Copied = Get-UnixTime
            if ($HoldFrozenSeconds) { [Console]::Out.WriteLine("Holding the freeze for $HoldFrozenSeconds s"); Start-Sleep -Seconds $HoldFrozenSeconds }
        }
    }
    # A freeze timeout is a safety net where the module has one; the demo works with or without it.
    if ((Get-Command Use-FsFreeze).Parameters.ContainsKey('TimeoutSec')) { $useArgs.TimeoutSec = 30 + $HoldFrozenSeconds }
    $timing.Called = Get-UnixTime
    Use-FsFreeze @useArgs
    $timing.Returned = Get-UnixTime
    if (-not $timing.ContainsKey('Copied')) { throw 'Use-FsFreeze returned without running the copy.' }
    Write-Host 'Thawed'

    # 2. The same copy without freezing, for contrast, while the writer goes on.
    Start-Sleep -Seconds 1
    $plainCopy = Join-Path $state.TempDir 'snapshot-unfrozen.img'
    $timing.PlainStart = Get-UnixTime
    Copy-Image $image $plainCopy
    $timing.PlainEnd = Get-UnixTime
    Start-Sleep -Milliseconds 300
    $writerStarted = $state.Writer.StartTime
    Stop-DemoWriter $state.Writer $state.StopFile
    $writerSeconds = ($state.Writer.ExitTime - $writerStarted).TotalSeconds

    # 3. Judge both copies against what the writer says it had written.
    Write-Host 'Checking both snapshots (dumpe2fs -h, e2fsck -fy on a copy, checksums with debugfs)'
    $log = @(Read-WriterLog $writerLog)
    if ($log.Count -eq 0) { throw "The writer logged nothing: $(Get-Content -Raw "$writerLog.err" -ErrorAction SilentlyContinue)" }
    $frozenResult = Test-Snapshot -Name 'frozen' -Image $frozenCopy -WorkDir $state.TempDir `
        -Expected @(Get-ExpectedFiles -Log $log -From $timing.Called -To $timing.Frozen)
    $plainResult = Test-Snapshot -Name 'unfrozen' -Image $plainCopy -WorkDir $state.TempDir `
        -Expected @(Get-ExpectedFiles -Log $log -From $timing.PlainStart -To $timing.PlainEnd)
    $held = Get-WriterStall -Log $log -From $timing.Called -To $timing.Returned
    $duringPlain = Get-WriterStall -Log $log -From $timing.PlainStart -To $timing.PlainEnd

    $ms = { param($s) '{0:N1} ms' -f ($s * 1000) }
    Write-Host ''
    Write-Host '== FsFreeze consistent-backup demo =='
    Write-Host ("Writer      : {0} changes in {1:N1} s (appends, in-place rewrites, write+rename), no fsync; median gap between changes {2:N1} ms" -f $held.Changes, $writerSeconds, $held.MedianMs)
    Write-Host ("Freeze      : FIFREEZE {0:N1} ms (after a syncfs flush); frozen {1} while the image was copied; Use-FsFreeze {2} in all" -f $timing.FreezeMs, (& $ms ($timing.Copied - $timing.Frozen)), (& $ms ($timing.Returned - $timing.Called)))
    Write-Host ("Writer held : longest gap between its changes around the freeze {0:N1} ms (around the unfrozen copy: {1:N1} ms)" -f $held.LongestMs, $duringPlain.LongestMs)
    Write-Host "Frozen snapshot   (Use-FsFreeze + cp): $(Format-Verdict $frozenResult)"
    Write-Host "Unfrozen snapshot (cp during writes) : $(Format-Verdict $plainResult)"
    Write-Host '(ext4 is judged by its journal flag and e2fsck; a frozen XFS copy is judged after one log replay, the freeze''s log records: Test-ImageConsistency, about_FsFreeze)'
    foreach ($r in $frozenResult, $plainResult) {
        # A few names, so a failure can be followed up; the counts above are the story.
        $names = @($r.Mismatched | Sort-Object File | Select-Object -First 6 | ForEach-Object { "$($_.File) ($($_.How))" })
        if ($r.Mismatched.Count -gt 6) { $names += "and $($r.Mismatched.Count - 6) more" }
        if ($names) { Write-Host "  $($r.Name) snapshot, files that differ: $($names -join ', ')" }
    }
    if (Test-SnapshotConsistent $frozenResult) {
        Write-Host 'Result      : the frozen snapshot is consistent.'
        $exitCode = 0
    }
    else {
        Write-Host 'Result      : the frozen snapshot is NOT consistent.'
        $exitCode = 1
    }
    $finished = $true
}
catch {
    Write-Host "Demo failed: $($_.Exception.Message)" -ForegroundColor Red
    $exitCode = 2
    $finished = $true
}
finally {
    # Also runs on Ctrl+C (PowerShell does not interrupt a finally block). Use-FsFreeze has thawed on its own way
    # out already; this cleanup thaws again first in case the demo was stopped anywhere else.
    Remove-DemoScratch $state
    # pwsh -File ends with 0 after a Ctrl+C, and a plain 'exit 130' here was overridden when the stop came
    # through Use-FsFreeze's scriptblock (measured). An interrupted demo proved nothing: end the process with 130,
    # but only when pwsh runs a script file (this one or build.ps1), never an interactive shell the user typed in.
    if (-not $finished) {
        Write-Host 'Interrupted; cleaned up.'
        if ([Environment]::GetCommandLineArgs() -match '^-(f|file)$') { [Environment]::Exit(130) }
        exit 130
    }
}
exit $exitCode
