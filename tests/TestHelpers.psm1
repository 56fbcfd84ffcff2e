# Fixtures for FsFreeze tests: real loop filesystems in a temp directory the test created, always torn down.
# Safety: only ever freeze what New-LoopFilesystem mounted. Teardown thaws (tolerating "not frozen") BEFORE
# unmounting, because an unmounted frozen filesystem stays frozen, invisibly.

Set-StrictMode -Version 3.0

function Invoke-Native {
    # Runs a native command; throws with its output when it fails.
    $exe, $rest = $args
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
        [ValidateSet('ext4', 'xfs', 'btrfs', 'tmpfs', 'ext2', 'ext3')]
        [string] $Type = 'ext4',
        [string] $MountName = 'mnt',
        [int] $SizeMB = 0,
        [string] $Under,
        # Extra mkfs options, e.g. '-E', 'lazy_itable_init=0,lazy_journal_init=0' so ext4 is idle right after mount (benchmarks).
        [string[]] $MkfsOption = @()
    )
    $root = if ($Under) { $Under } else { (Invoke-Native mktemp -d /tmp/fsfreeze-test.XXXXXX) }
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
    # Thaw, unmount, detach, delete: each step tolerates what is already gone, and a failure is reported, not hidden.
    param([Parameter(ValueFromPipeline)] $Filesystem)
    process {
        if (-not $Filesystem) { return }
        $problems = @()
        if (Test-IsMounted $Filesystem.MountPoint) {
            & fsfreeze -u $Filesystem.MountPoint 2>$null   # "Invalid argument" = was not frozen: fine
            & umount $Filesystem.MountPoint 2>&1 | Out-Null
            if ($LASTEXITCODE -ne 0) {
                Start-Sleep -Milliseconds 200   # a child process may still hold a file open
                & fsfreeze -u $Filesystem.MountPoint 2>$null
                & umount -l $Filesystem.MountPoint 2>&1 | Out-Null
                if ($LASTEXITCODE -ne 0) { $problems += "umount $($Filesystem.MountPoint) failed" }
            }
        }
        if ($Filesystem.Loop) {
            & losetup -d $Filesystem.Loop 2>&1 | Out-Null
            if ($LASTEXITCODE -ne 0) { $problems += "losetup -d $($Filesystem.Loop) failed" }
        }
        if ($Filesystem.OwnsRoot -and (Test-Path $Filesystem.Root)) {
            if (-not (Get-Mounts | Where-Object { $_.StartsWith("$($Filesystem.Root)/") })) {
                Remove-Item -LiteralPath $Filesystem.Root -Recurse -Force -ErrorAction SilentlyContinue
            }
        }
        if ($problems) { Write-Warning ("Teardown: " + ($problems -join '; ')) }
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
    # The kernel's only probe (FACTS.md): FIFREEZE. EBUSY = frozen; success = we froze it, so thaw at once.
    param([string] $Path)
    & fsfreeze -f $Path 2>$null
    if ($LASTEXITCODE -eq 0) { & fsfreeze -u $Path 2>$null; return $false }
    return $true
}

function Start-ProbeWriter {
    <#
    .SYNOPSIS
        Starts a child process that writes one file into $Directory. On a frozen filesystem it blocks
        (uninterruptibly), so the test thaws; it never waits on it unbounded.
    #>
    param([string] $Directory, [string] $Name = "probe-$([guid]::NewGuid().ToString('N')).txt")
    $target = Join-Path $Directory $Name
    $psi = [Diagnostics.ProcessStartInfo]::new('/bin/sh')
    $psi.ArgumentList.Add('-c')
    $psi.ArgumentList.Add('printf written > "$1" && sync "$1"')
    $psi.ArgumentList.Add('probe')
    $psi.ArgumentList.Add($target)
    $psi.UseShellExecute = $false
    $p = [Diagnostics.Process]::Start($psi)
    [pscustomobject]@{ Process = $p; Path = $target }
}

function Wait-ProbeWriter {
    # True when the writer finished within the bound.
    param($Probe, [int] $TimeoutMs = 10000)
    $Probe.Process.WaitForExit($TimeoutMs)
}

Export-ModuleMember -Function New-LoopFilesystem, Remove-LoopFilesystem, Get-Mounts, Test-IsMounted, Test-IsFrozen, Start-ProbeWriter, Wait-ProbeWriter, Invoke-Native

function Get-PwshPath {
    # The pwsh running the tests; under 'dotnet pwsh' the process is dotnet, but $PSHOME/pwsh is an apphost.
    Join-Path $PSHOME 'pwsh'
}
Export-ModuleMember -Function Get-PwshPath
