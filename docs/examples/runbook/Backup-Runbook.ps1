<#
.SYNOPSIS
    Consistent backup runbook: freeze filesystems as one set, snapshot each, always thaw, report.
.DESCRIPTION
    The pattern for scheduled backups with FsFreeze, written to be tested with Pester (see the two
    *.Tests.ps1 files beside it: one mocks the FsFreeze cmdlets, one runs this on a real loop filesystem).

    1. Invoke-FsFreeze freezes every filesystem in -Path, all or none (an error here leaves nothing frozen).
    2. The snapshot runs once per frozen filesystem. The default copies the image behind a loop device with
       cp --reflink=auto; pass -Snapshot for LVM, a cloud API or anything else.
    3. Invoke-FsThaw runs in a finally block: after a failed snapshot, a thrown exception or Ctrl+C too.
    4. A failed snapshot or thaw (FsFreeze.ThawedByTimeout: the timeout thawed first, so the snapshot may be
       inconsistent) throws after the thaw, so a scheduler sees the failure (pwsh exit code 1).
    It refuses a -Destination on a filesystem it freezes, and writes nothing while frozen except the snapshot.
.PARAMETER Path
    Mount points (or paths inside them) to freeze together.
.PARAMETER Destination
    Folder for the default snapshot's copies. Must be on a filesystem that is not frozen.
.PARAMETER Snapshot
    Runs per frozen filesystem while the set is frozen: param($Filesystem, $Destination). Its output (what
    it made) goes into the report's Snapshots.
.PARAMETER TimeoutSec
    Passed to Invoke-FsFreeze when given; otherwise the cmdlet's default applies.
.EXAMPLE
    ./Backup-Runbook.ps1 -Path /srv/db, /srv/wal -Destination /backup -TimeoutSec 60
.EXAMPLE
    ./Backup-Runbook.ps1 -Path /srv/db -Snapshot { param($fs) lvcreate -s -n "snap-$(Get-Date -f yyyyMMddHHmm)" -L 1G vg0/db }
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)][string[]] $Path,
    [string] $Destination,
    [scriptblock] $Snapshot = {
        param($Filesystem, $Destination)
        $image = (losetup --noheadings --output BACK-FILE $Filesystem.Source 2>$null | Select-Object -First 1)
        if ($LASTEXITCODE -ne 0 -or -not $image) { throw "No default snapshot for $($Filesystem.MountPoint): $($Filesystem.Source) is not a loop device. Pass -Snapshot." }
        $target = Join-Path $Destination ('{0}-{1:yyyyMMdd-HHmmss}.img' -f [IO.Path]::GetFileNameWithoutExtension($image.Trim()), (Get-Date))
        cp --reflink=auto --sparse=always $image.Trim() $target
        if ($LASTEXITCODE -ne 0) { throw "cp of $image to $target failed (exit code $LASTEXITCODE)." }
        $target
    },
    [int] $TimeoutSec
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

function Test-SameFilesystem([string] $PathA, [string] $MountPoint) {
    # findmnt -T names the mount holding a path; reading it is safe while frozen.
    $target = findmnt --noheadings --output TARGET --target $PathA 2>$null | Select-Object -First 1
    $LASTEXITCODE -eq 0 -and $target -and $target.Trim() -eq $MountPoint
}

if (-not $PSCmdlet.ShouldProcess(($Path -join ', '), 'Freeze, snapshot, thaw')) { return }
if ($Destination -and -not (Test-Path -LiteralPath $Destination -PathType Container)) { throw "Destination '$Destination' is not a folder." }

$freezeArgs = @{ Path = $Path; Confirm = $false }
if ($PSBoundParameters.ContainsKey('TimeoutSec')) { $freezeArgs.TimeoutSec = $TimeoutSec }
$frozen = @(Invoke-FsFreeze @freezeArgs)   # throws on failure, with nothing left frozen
Write-Verbose "Frozen: $($frozen.MountPoint -join ', ')"

$snapshots = [Collections.Generic.List[object]]::new()
$failure = $null
$thawErrors = @()
$thawed = @()
try {
    foreach ($fs in $frozen) {
        if ($Destination -and (Test-SameFilesystem $Destination $fs.MountPoint)) {
            throw "Destination '$Destination' is on $($fs.MountPoint), which is frozen: a write there would hang until the thaw."
        }
    }
    foreach ($fs in $frozen) { foreach ($made in & $Snapshot $fs $Destination) { $snapshots.Add($made) } }
}
catch { $failure = $_ }
finally {
    # Every way out, Ctrl+C included. Errors are collected, not thrown, so a snapshot failure is not hidden by them.
    $thawed = @($frozen | Invoke-FsThaw -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable thawErrors)
}
Write-Verbose "Thawed: $(($thawed | ForEach-Object MountPoint) -join ', ')"

foreach ($e in $thawErrors) { $PSCmdlet.WriteError($e) }
if ($failure) { throw $failure }
if ($thawErrors) {
    throw "The thaw reported $(@($thawErrors).Count) error(s) (first: $($thawErrors[0].FullyQualifiedErrorId)): the snapshot may not be consistent."
}

[pscustomobject]@{
    PSTypeName  = 'FsFreeze.BackupReport'
    Succeeded   = $true
    Filesystems = @($frozen.MountPoint)
    Snapshots   = @($snapshots)
    FrozenForMs = [math]::Round((@($thawed | Where-Object FrozenFor | ForEach-Object { $_.FrozenFor.TotalMilliseconds }) | Measure-Object -Maximum).Maximum, 1)
}
