#Requires -Modules Pester
# Pure logic of the core on crafted input: mountinfo parsing and unescaping, path-to-mount lookup, planning,
# device numbers. Each also has a cross-check against the real system where one exists.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force

    function New-TestTable([string[]] $Lines) { [FsFreeze.MountTable]::Parse(($Lines -join "`n") + "`n") }

    function New-TestFilesystem($Entry, [string] $Requested) { [FsFreeze.Filesystem]::new($Entry, $Entry.MountPoint, $Requested) }
}

Describe 'MountTable.Parse' -Tag 'Unit' {
    It 'reads every field of a line with one optional field (the proc(5) example)' {
        $e = (New-TestTable '36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue').Entries[0]
        $e.MountId | Should -Be 36
        $e.ParentId | Should -Be 35
        $e.Major | Should -Be 98
        $e.Minor | Should -Be 0
        $e.Device | Should -Be '98:0'
        $e.Root | Should -Be '/mnt1'
        $e.MountPoint | Should -Be '/mnt2'
        $e.MountOptions | Should -Be 'rw,noatime'
        $e.FileSystemType | Should -Be 'ext3'
        $e.Source | Should -Be '/dev/root'
        $e.SuperOptions | Should -Be 'rw,errors=continue'
    }

    It 'finds the separator after <Case>' -ForEach @(
        @{ Case = 'no optional fields'; Line = '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw' }
        @{ Case = 'three optional fields'; Line = '27 1 254:0 / / rw,relatime shared:5 master:2 propagate_from:1 - ext4 /dev/vda rw' }
        @{ Case = 'an unknown optional field'; Line = '27 1 254:0 / / rw,relatime unbindable - ext4 /dev/vda rw' }
    ) {
        $e = (New-TestTable $Line).Entries[0]
        $e.MountPoint | Should -Be '/'
        $e.FileSystemType | Should -Be 'ext4'
        $e.Source | Should -Be '/dev/vda'
        $e.SuperOptions | Should -Be 'rw'
    }

    It 'decodes \040 \011 \012 \134 in the root, mount point and source' {
        $e = (New-TestTable '50 27 7:1 /sub\040dir /mnt/with\040space\011tab\012nl\134bs rw - ext4 /dev/my\040disk rw').Entries[0]
        $e.Root | Should -BeExactly '/sub dir'
        $e.MountPoint | Should -BeExactly "/mnt/with space`ttab`nnl\bs"
        $e.Source | Should -BeExactly '/dev/my disk'
    }

    It 'skips lines it cannot read instead of inventing entries' {
        $t = New-TestTable 'garbage', '1 2 3', '27 1 254:0 / / rw no-separator ext4 /dev/vda rw', '27 1 254 / / rw - ext4 /dev/vda rw', '28 27 7:0 / /ok rw - xfs /dev/loop0 rw'
        $t.Entries.MountPoint | Should -Be '/ok'
    }

    It 'says <Options> is read-only: <ReadOnly>' -ForEach @(
        @{ Options = 'ro,relatime'; ReadOnly = $true }
        @{ Options = 'ro'; ReadOnly = $true }
        @{ Options = 'rw,relatime'; ReadOnly = $false }
        @{ Options = 'rootcontext=x'; ReadOnly = $false }
    ) {
        (New-TestTable "28 27 7:0 / /m $Options - xfs /dev/loop0 rw").Entries[0].IsReadOnly | Should -Be $ReadOnly
    }

    It 'reads this process''s own mountinfo and agrees with findmnt on /tmp' {
        $table = [FsFreeze.MountTable]::Read()
        $table.Entries.Count | Should -BeGreaterThan 1
        $expected = (& findmnt -n -o TARGET,FSTYPE -T /tmp) -split '\s+'
        $e = $table.FindByPath((Resolve-Path /tmp).ProviderPath)
        @($e.MountPoint, $e.FileSystemType) | Should -Be $expected
    }
}

Describe 'MountTable.Unescape' -Tag 'Unit' {
    It 'turns <In> into <Out>' -ForEach @(
        @{ In = 'plain'; Out = 'plain' }
        @{ In = 'a\040b'; Out = 'a b' }
        @{ In = '\134\134'; Out = '\\' }
        @{ In = 'caf\303\251'; Out = 'café' }        # octal escapes are bytes: two of them make one UTF-8 char
        @{ In = 'a\b'; Out = 'a\b' }                  # not an escape: kept
        @{ In = 'end\04'; Out = 'end\04' }            # too short: kept
        @{ In = 'x\089'; Out = 'x\089' }              # not octal: kept
        @{ In = 'ü\040ü'; Out = 'ü ü' }               # UTF-8 around an escape survives
    ) {
        [FsFreeze.MountTable]::Unescape($In) | Should -BeExactly $Out
    }
}

Describe 'MountTable.FindByPath and FindByDevice' -Tag 'Unit' {
    BeforeAll {
        $table = New-TestTable @(
            '1 0 254:0 / / rw - ext4 /dev/vda rw'
            '2 1 7:0 / /mnt/a rw - ext4 /dev/loop0 rw'
            '3 1 7:1 / /mnt/ab rw - xfs /dev/loop1 rw'
            '4 2 7:2 / /mnt/a/b rw - btrfs /dev/loop2 rw'
            '5 1 7:3 / /mnt/s rw - ext4 /dev/loop3 rw'
            '6 5 7:4 / /mnt/s rw - xfs /dev/loop4 rw'
            '7 1 7:0 / /bind rw - ext4 /dev/loop0 rw'
        )
    }

    It '<Path> is on <MountPoint> (mount <Id>)' -ForEach @(
        @{ Path = '/'; MountPoint = '/'; Id = 1 }
        @{ Path = '/etc/passwd'; MountPoint = '/'; Id = 1 }
        @{ Path = '/mnt/a'; MountPoint = '/mnt/a'; Id = 2 }
        @{ Path = '/mnt/a/x/y'; MountPoint = '/mnt/a'; Id = 2 }
        @{ Path = '/mnt/ab/x'; MountPoint = '/mnt/ab'; Id = 3 }      # a sibling with a common prefix
        @{ Path = '/mnt/abc'; MountPoint = '/'; Id = 1 }             # a prefix of the name is not a parent
        @{ Path = '/mnt/a/b/c'; MountPoint = '/mnt/a/b'; Id = 4 }    # the longest mount point wins
        @{ Path = '/mnt/s/f'; MountPoint = '/mnt/s'; Id = 6 }        # stacked: the later mount hides the earlier
    ) {
        $e = $table.FindByPath($Path)
        $e.MountPoint | Should -Be $MountPoint
        $e.MountId | Should -Be $Id
    }

    It 'finds nothing for a relative path' {
        $table.FindByPath('mnt/a') | Should -BeNullOrEmpty
    }

    It 'finds a device''s first mount, and nothing for an unknown device' {
        $table.FindByDevice(7, 0).MountId | Should -Be 2
        $table.FindByDevice(7, 9) | Should -BeNullOrEmpty
    }
}

Describe 'FilesystemResolver.Plan' -Tag 'Unit' {
    BeforeAll {
        $table = New-TestTable @(
            '1 0 254:0 / / rw - ext4 /dev/vda rw'
            '20 1 7:0 / /mnt/a rw - ext4 /dev/loop0 rw'
            '21 20 7:2 / /mnt/a/b rw - btrfs /dev/loop2 rw'
            '22 1 0:50 / /mnt/v1 rw - btrfs /dev/loop5 rw'
            '23 1 0:50 /sub /mnt/v2 rw - btrfs /dev/loop5 rw'
            '24 1 7:0 / /mnt/bind rw - ext4 /dev/loop0 rw'
            '25 1 7:6 / /mnt/z rw - xfs /dev/loop6 rw'
        )
        function Get-Entry([string] $MountPoint) { $table.Entries | Where-Object MountPoint -EQ $MountPoint }
    }

    It 'makes one member of a filesystem named twice (bind mount, btrfs subvolumes), keeping every requested path' {
        $plan = [FsFreeze.FilesystemResolver]::Plan([FsFreeze.Filesystem[]]@(
                (New-TestFilesystem (Get-Entry '/mnt/a') 'first')
                (New-TestFilesystem (Get-Entry '/mnt/v1') 'v1')
                (New-TestFilesystem (Get-Entry '/mnt/bind') 'second')
                (New-TestFilesystem (Get-Entry '/mnt/v2') 'v2')
            ))
        $plan.Count | Should -Be 2
        ($plan | Where-Object Device -EQ '7:0').RequestedPaths | Should -Be @('first', 'second')
        ($plan | Where-Object Device -EQ '0:50').RequestedPaths | Should -Be @('v1', 'v2')
        ($plan | Where-Object Device -EQ '7:0').MountPoint | Should -Be '/mnt/a' -Because 'the first name given is kept'
    }

    It 'orders nested mounts before their parents, then later mounts first, whatever the input order' {
        $given = @('/mnt/a', '/', '/mnt/z', '/mnt/a/b', '/mnt/v1')
        $plan = [FsFreeze.FilesystemResolver]::Plan([FsFreeze.Filesystem[]]@($given | ForEach-Object { New-TestFilesystem (Get-Entry $_) $_ }))
        $plan.MountPoint | Should -Be @('/mnt/a/b', '/mnt/z', '/mnt/v1', '/mnt/a', '/')
    }

    It 'returns an empty plan for no input' {
        [FsFreeze.FilesystemResolver]::Plan([FsFreeze.Filesystem[]]@()).Count | Should -Be 0
    }
}

Describe 'DeviceNumber.Split' -Tag 'Unit' {
    It 'inverts glibc''s makedev for <Major>:<Minor>' -ForEach @(
        @{ Major = 7; Minor = 3 }
        @{ Major = 0; Minor = 50 }
        @{ Major = 259; Minor = 65536 }
        @{ Major = 4096; Minor = 256 }
        @{ Major = 4294967295; Minor = 4294967295 }
    ) {
        [uint64] $ma = $Major; [uint64] $mi = $Minor
        $dev = (($ma -band 0xfff) -shl 8) -bor (($ma -band 0xfffff000) -shl 32) -bor ($mi -band 0xff) -bor (($mi -band 0xffffff00) -shl 12)
        # A ValueTuple: its element names are C#-only, PowerShell sees Item1 and Item2.
        $split = [FsFreeze.DeviceNumber]::Split($dev)
        $split.Item1 | Should -Be $Major
        $split.Item2 | Should -Be $Minor
    }

    It 'agrees with stat(1) on real device nodes' -ForEach '/dev/null', '/dev/loop0' {
        $raw, $major, $minor = (& stat -c '%r %Hr %Lr' $_) -split ' '
        $split = [FsFreeze.DeviceNumber]::Split([uint64] $raw)
        "$($split.Item1):$($split.Item2)" | Should -Be "${major}:$minor"
    }
}
