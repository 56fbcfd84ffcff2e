#Requires -Modules Pester
# The pre-freeze flush policy, as pure logic: flush again after a slow pass, stop after a quick one or at the bound.
# (Its effect on writers is measured by build.ps1 -Task Bench, not judged here.)

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
}

Describe 'FlushPolicy.FlushAgain' -Tag 'Flush' {
    It 'flushes again after a slow first pass' {
        [FsFreeze.FlushPolicy]::FlushAgain(1, [timespan]::FromMilliseconds(800)) | Should -BeTrue
    }
    It 'stops after a quick pass' {
        [FsFreeze.FlushPolicy]::FlushAgain(1, [timespan]::FromMilliseconds(2)) | Should -BeFalse
        [FsFreeze.FlushPolicy]::FlushAgain(2, [FsFreeze.FlushPolicy]::QuickPass) | Should -BeFalse
    }
    It 'stops at MaxPasses however slow the last pass was' {
        [FsFreeze.FlushPolicy]::FlushAgain([FsFreeze.FlushPolicy]::MaxPasses, [timespan]::FromSeconds(5)) | Should -BeFalse
        [FsFreeze.FlushPolicy]::FlushAgain([FsFreeze.FlushPolicy]::MaxPasses - 1, [timespan]::FromSeconds(5)) | Should -BeTrue
    }
}

Describe 'Invoke-FsFreeze with the flush on a filesystem with dirty data' -Tag 'Flush' {
    BeforeAll { Import-Module $PSScriptRoot/TestHelpers.psm1 -Force }
    BeforeEach { $fs = New-LoopFilesystem -Type ext4 -SizeMB 128 }
    AfterEach { Remove-LoopFilesystem $fs }

    It 'freezes and thaws, and the data written before the freeze reads back' {
        $file = Join-Path $fs.MountPoint 'dirty.bin'
        & dd if=/dev/urandom "of=$file" bs=1M count=32 status=none
        $before = (Get-FileHash $file).Hash
        $frozen = Invoke-FsFreeze -Path $fs.MountPoint
        try {
            $frozen.State | Should -Be 'Frozen'
            Test-IsFrozen $fs.MountPoint | Should -BeTrue
            (Get-FileHash $file).Hash | Should -Be $before -Because 'reads work while frozen'
        }
        finally { $null = Invoke-FsThaw -Path $fs.MountPoint }
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }
}
