#Requires -Modules Pester
# Device numbers are reused (a loop device carries a new filesystem every test, every backup run): FsFreeze's
# records of past freezes must never be taken for a freeze of the filesystem that now has the same maj:min.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force

    function Switch-LoopFilesystem($Fs) {
        # Unmount the old filesystem and make a new one on the SAME loop device, mounted at the same point. The device
        # stays attached: detached, its number could be taken by another process on this machine before we got it back.
        Invoke-Native umount $Fs.MountPoint | Out-Null
        Invoke-Native mkfs.ext4 -q -F $Fs.Loop | Out-Null
        Invoke-Native mount $Fs.Loop $Fs.MountPoint | Out-Null
    }
}

Describe 'A reused loop device' -Tag 'Timeout', 'Freeze' {
    BeforeEach { $fs = New-LoopFilesystem -Type ext4 }
    AfterEach { Remove-LoopFilesystem $fs }

    It 'a stale no-timeout record of the old filesystem is not a freeze of the new one' {
        $old = Invoke-FsFreeze -Path $fs.MountPoint -TimeoutSec 0
        & fsfreeze -u $fs.MountPoint   # thawed behind FsFreeze's back: its record is now stale
        Switch-LoopFilesystem $fs
        (Get-FsFreezeStatus | Where-Object Device -EQ $old.Device) | Should -BeNullOrEmpty -Because 'the record belongs to the old filesystem'

        & fsfreeze -f $fs.MountPoint   # another tool freezes the new filesystem
        Invoke-FsThaw -Path $fs.MountPoint -ErrorAction SilentlyContinue -ErrorVariable notOurs | Should -BeNullOrEmpty
        ($notOurs[0].FullyQualifiedErrorId -split ',')[0] | Should -Be 'FsFreeze.NotOwned' -Because 'the stale record is not a freeze of the new filesystem'
        Test-IsFrozen $fs.MountPoint | Should -BeTrue -Because 'another tool''s freeze is left alone'
        $thawed = Invoke-FsThaw -Path $fs.MountPoint -Force
        $thawed.Device | Should -Be $old.Device
        $thawed.FrozenFor | Should -BeNullOrEmpty -Because 'FsFreeze does not know when another tool froze it'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'a timeout tombstone of the old filesystem does not stop a thaw of the new one' {
        $old = Invoke-FsFreeze -Path $fs.MountPoint -TimeoutSec 2
        $deadline = [DateTime]::UtcNow.AddSeconds(15)
        while ((Test-IsFrozen $fs.MountPoint) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
        Test-IsFrozen $fs.MountPoint | Should -BeFalse -Because 'the timeout thawed the old filesystem'
        Invoke-FsThaw -Path $fs.MountPoint -ErrorAction SilentlyContinue -ErrorVariable err
        ($err[0].FullyQualifiedErrorId -split ',')[0] | Should -Be 'FsFreeze.ThawedByTimeout' -Because 'the tombstone is there for the old filesystem'

        Switch-LoopFilesystem $fs
        & fsfreeze -f $fs.MountPoint
        Invoke-FsThaw -Path $fs.MountPoint -ErrorAction SilentlyContinue -ErrorVariable notOurs | Should -BeNullOrEmpty
        ($notOurs[0].FullyQualifiedErrorId -split ',')[0] | Should -Be 'FsFreeze.NotOwned' -Because 'the tombstone speaks of the old filesystem, not this one'
        $thawed = Invoke-FsThaw -Path $fs.MountPoint -Force -ErrorAction SilentlyContinue -ErrorVariable err2
        $err2 | Should -BeNullOrEmpty
        $thawed.State | Should -Be 'Thawed'
        $thawed.Device | Should -Be $old.Device
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }
}
