#Requires -Modules Pester
# MountTable.Read() keeps the last table and reads /proc/self/mountinfo again only when the kernel reports a mount
# change: these tests mount and unmount real loop filesystems between reads and expect every change to show at once.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    function Find-Mount([string] $MountPoint) { [FsFreeze.MountTable]::Read().Entries | Where-Object MountPoint -EQ $MountPoint }
}

Describe 'MountTable.Read() cache' -Tag 'MountTable' {
    It 'returns the same table while nothing is mounted or unmounted' {
        # Other processes on this machine may mount something between two reads: one unchanged pair in five is enough.
        $same = for ($i = 0; $i -lt 5; $i++) {
            $first = [FsFreeze.MountTable]::Read()
            [object]::ReferenceEquals($first, [FsFreeze.MountTable]::Read())
        }
        $same | Should -Contain $true
    }

    It 'sees a mount made after the last read, and its unmount' {
        $null = [FsFreeze.MountTable]::Read()   # prime the cache before the mount
        $fs = New-LoopFilesystem -Type ext4
        try {
            $entry = Find-Mount $fs.MountPoint
            $entry | Should -Not -BeNullOrEmpty
            $entry.FileSystemType | Should -Be 'ext4'
            $entry.Source | Should -Be $fs.Loop
        }
        finally { Remove-LoopFilesystem $fs }
        Find-Mount $fs.MountPoint | Should -BeNullOrEmpty
    }

    It 'agrees with a fresh read of mountinfo' {
        $fs = New-LoopFilesystem -Type ext4
        try {
            $cached = [FsFreeze.MountTable]::Read().Entries | ForEach-Object { "$($_.MountId) $($_.Device) $($_.MountPoint)" }
            $fresh = [FsFreeze.MountTable]::Read('/proc/self/mountinfo').Entries | ForEach-Object { "$($_.MountId) $($_.Device) $($_.MountPoint)" }
            $cached | Should -Be $fresh
        }
        finally { Remove-LoopFilesystem $fs }
    }
}
