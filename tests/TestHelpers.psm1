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
    & umount $MountPoint 2>&1 | Out-Null
    if ($LASTEXITCODE -ne 0) { & umount -l $MountPoint 2>&1 | Out-Null }
    if ($LASTEXITCODE -ne 0) { Write-Warning "Teardown: umount $MountPoint failed" }
    try { [IO.Directory]::Delete($MountPoint) } catch { Write-Warning "Teardown: rmdir $MountPoint failed: $_" }
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
        [int] $TimeoutMs = 60000
    )
    $argv = @($Prefix) + @((Get-PwshPath), '-NoProfile', '-NonInteractive', '-Command', $Command)
    $psi = [Diagnostics.ProcessStartInfo]::new($argv[0])
    foreach ($a in $argv[1..($argv.Count - 1)]) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.WorkingDirectory = '/'
    $psi.Environment['FSFREEZE_TEST_MODULE'] = $env:FSFREEZE_TEST_MODULE
    foreach ($k in $Environment.Keys) { $psi.Environment[$k] = [string]$Environment[$k] }
    $p = [Diagnostics.Process]::Start($psi)
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
