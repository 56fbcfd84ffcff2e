#Requires -Modules Pester
# Invoke-FsFreeze / Invoke-FsThaw on real loop filesystems.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
}

Describe 'Invoke-FsFreeze and Invoke-FsThaw on <_>' -ForEach 'ext4', 'xfs', 'btrfs' -Tag 'Freeze' {
    BeforeEach { $fs = New-LoopFilesystem -Type $_ }
    AfterEach { Remove-LoopFilesystem $fs }

    It 'holds a writer while frozen and lets it finish after the thaw' {
        $frozen = Invoke-FsFreeze -Path $fs.MountPoint
        $frozen.MountPoint | Should -Be $fs.MountPoint
        $frozen.FileSystemType | Should -Be $_
        $frozen.State | Should -Be 'Frozen'
        $frozen | Should -BeOfType ([FsFreeze.FrozenFilesystem])

        $probe = Start-ProbeWriter $fs.MountPoint
        Wait-ProbeWriter $probe -TimeoutMs 700 | Should -BeFalse -Because 'a write to a frozen filesystem blocks'

        $thawed = $frozen | Invoke-FsThaw
        $thawed.State | Should -Be 'Thawed'
        $thawed.FrozenFor | Should -BeGreaterThan ([TimeSpan]::Zero)
        Wait-ProbeWriter $probe | Should -BeTrue -Because 'the thaw releases the writer'
        Get-Content $probe.Path | Should -Be 'written'
    }
}
