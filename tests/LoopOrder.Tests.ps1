#Requires -Modules Pester
# A loop filesystem whose image lives on another member of the same set must be frozen before that member:
# frozen first, the host would hold the loop filesystem's own FIFREEZE (its flush writes into the image) forever.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force

    function New-Entry([int] $Id, [int] $Minor, [string] $MountPoint, [string] $Source) {
        [FsFreeze.MountEntry]::new($Id, 1, 7, $Minor, '/', $MountPoint, 'rw', 'ext4', $Source, 'rw')
    }
}

Describe 'Plan with loop images (pure logic)' -Tag 'Unit' {
    BeforeAll {
        # host: deep mount holding the image of 'loopy', which is mounted shallower (depth order alone would put host first)
        $hostEntry = New-Entry 50 1 '/srv/a/b/c/host' '/dev/vdb'
        $loopEntry = New-Entry 51 2 '/mnt/loopy' '/dev/loop2'
        $other = New-Entry 52 3 '/mnt/x/y/z/other' '/dev/vdc'
        $table = [FsFreeze.MountTable]::new([FsFreeze.MountEntry[]]@($hostEntry, $loopEntry, $other))
        $backing = [Func[string, string]] { param($source) if ($source -eq '/dev/loop2') { '/srv/a/b/c/host/images/loopy.img' } else { $null } }
        function New-Members { @($hostEntry, $loopEntry, $other) | ForEach-Object { [FsFreeze.Filesystem]::new($_, $_.MountPoint, $_.MountPoint) } }
    }

    It 'puts the loop filesystem before the member that holds its image, and leaves the rest in depth order' {
        $plan = [FsFreeze.FilesystemResolver]::Plan([FsFreeze.Filesystem[]](New-Members), $table, $backing)
        $plan.MountPoint | Should -Be @('/mnt/x/y/z/other', '/mnt/loopy', '/srv/a/b/c/host')
    }

    It 'without a mount table keeps plain depth order (what the dependency fixes)' {
        $plan = [FsFreeze.FilesystemResolver]::Plan([FsFreeze.Filesystem[]](New-Members))
        [array]::IndexOf($plan.MountPoint, '/srv/a/b/c/host') | Should -BeLessThan ([array]::IndexOf($plan.MountPoint, '/mnt/loopy'))
    }

    It 'ignores an image whose host is not in the set' {
        $members = @($loopEntry, $other) | ForEach-Object { [FsFreeze.Filesystem]::new($_, $_.MountPoint, $_.MountPoint) }
        $plan = [FsFreeze.FilesystemResolver]::Plan([FsFreeze.Filesystem[]]$members, $table, $backing)
        $plan.MountPoint | Should -Be @('/mnt/x/y/z/other', '/mnt/loopy')
    }

    It 'reads a real loop device''s backing file from sysfs, also once the image is deleted' {
        $fs = New-LoopFilesystem -Type ext4
        try {
            [FsFreeze.Native.LoopDevice]::BackingFile($fs.Loop) | Should -Be $fs.Image
            Remove-Item -LiteralPath $fs.Image   # still attached: sysfs now says '<path> (deleted)'
            Get-Content "/sys/block/$(Split-Path -Leaf $fs.Loop)/loop/backing_file" | Should -Be "$($fs.Image) (deleted)"
            [FsFreeze.Native.LoopDevice]::BackingFile($fs.Loop) | Should -Be $fs.Image -Because 'the path still names the filesystem that holds the image'
        }
        finally { Remove-LoopFilesystem $fs }
    }

    It 'answers null for a loop device with nothing attached, and for a source that is no loop device' {
        # A free loop device may be taken by another process at any moment: judge it against sysfs read right after.
        $answer = $null
        for ($try = 0; $try -lt 5; $try++) {
            $free = (Invoke-Native losetup -f | Select-Object -Last 1).Trim()
            $answer = [FsFreeze.Native.LoopDevice]::BackingFile($free)
            if (-not (Test-Path "/sys/block/$(Split-Path -Leaf $free)/loop/backing_file")) { break }
        }
        $free | Should -Match '^/dev/loop\d+$'
        $answer | Should -BeNullOrEmpty
        [FsFreeze.Native.LoopDevice]::BackingFile('/dev/vda') | Should -BeNullOrEmpty
    }
}

Describe 'Freezing a loop filesystem together with the filesystem holding its image' -Tag 'Freeze' {
    BeforeEach {
        # The host is mounted deeper than the loop filesystem, so depth order alone would freeze the host first.
        $hostFs = New-LoopFilesystem -Type ext4 -MountName 'deep/er/still/host' -SizeMB 160
        $inner = [pscustomobject]@{ Root = (New-TestDirectory); Loop = $null; MountPoint = $null
            Image = Join-Path $hostFs.MountPoint 'inner.img' }
        $inner.MountPoint = Join-Path $inner.Root 'mnt'
        New-Item -ItemType Directory $inner.MountPoint | Out-Null
        Invoke-Native truncate -s 64M $inner.Image | Out-Null
        Invoke-Native mkfs.ext4 -q -F $inner.Image | Out-Null
        $inner.Loop = (Invoke-Native losetup -f --show $inner.Image | Select-Object -Last 1).Trim()
        Invoke-Native mount $inner.Loop $inner.MountPoint | Out-Null
    }
    AfterEach {
        # Independent of the code under test: thaw the host first (that frees a stuck FIFREEZE), then the inner one.
        & fsfreeze -u $hostFs.MountPoint 2>$null
        & fsfreeze -u $inner.MountPoint 2>$null
        & umount $inner.MountPoint 2>$null
        if ($inner.Loop) { & losetup -d $inner.Loop 2>$null }
        Remove-Item -LiteralPath $inner.Root -Recurse -Force -ErrorAction SilentlyContinue
        Remove-LoopFilesystem $hostFs
    }

    It 'freezes the loop filesystem first and thaws the host first (timeout <_>)' -ForEach 0, 60 {
        # In a child pwsh with a bounded wait: a wrong order would leave it stuck in FIFREEZE, not this test run.
        $r = Invoke-ChildPwsh -TimeoutMs 60000 -Environment @{ HOSTMP = $hostFs.MountPoint; INNERMP = $inner.MountPoint; T = "$_" } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
$ErrorActionPreference = 'Stop'
$frozen = Invoke-FsFreeze -Path $env:HOSTMP, $env:INNERMP -TimeoutSec ([int]$env:T)
$thawed = $frozen | Invoke-FsThaw
($frozen.MountPoint -join '|') + '#' + ($thawed.MountPoint -join '|')
'@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $frozenOrder, $thawOrder = ($r.StdOut.Trim() -split "`n")[-1].Split('#')
        $frozenOrder.Split('|') | Should -Be @($inner.MountPoint, $hostFs.MountPoint)
        $thawOrder.Split('|') | Should -Be @($hostFs.MountPoint, $inner.MountPoint)
        Test-IsFrozen $inner.MountPoint | Should -BeFalse
        Test-IsFrozen $hostFs.MountPoint | Should -BeFalse
    }
}
