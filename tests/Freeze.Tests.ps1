#Requires -Modules Pester
# Invoke-FsFreeze / Invoke-FsThaw on real loop filesystems.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
}

Describe 'Invoke-FsFreeze and Invoke-FsThaw on <_>' -ForEach 'ext4', 'xfs', 'btrfs' -Tag 'Freeze' {
    BeforeEach { $fs = New-LoopFilesystem -Type $_ }
    AfterEach { Remove-LoopFilesystem $fs }

    It 'freezes the filesystem, holds a writer while frozen and lets it finish after the thaw' {
        $before = [DateTime]::Now
        $frozen = Invoke-FsFreeze -Path $fs.MountPoint
        $after = [DateTime]::Now
        Test-IsFrozen $fs.MountPoint | Should -BeTrue -Because 'the kernel says EBUSY to a second FIFREEZE'
        $frozen.MountPoint | Should -Be $fs.MountPoint
        $frozen.FileSystemType | Should -Be $_
        $frozen.State | Should -Be 'Frozen'
        $frozen | Should -BeOfType ([FsFreeze.FrozenFilesystem])
        $frozen.Source | Should -Be $fs.Loop
        $frozen.Device | Should -Be (& findmnt -n -o MAJ:MIN --mountpoint $fs.MountPoint).Trim()
        # Within the call, not merely "not in the future": an unset DateTime is also before now.
        $frozen.FrozenAt | Should -BeGreaterOrEqual $before
        $frozen.FrozenAt | Should -BeLessOrEqual $after
        $frozen.FreezeTime | Should -BeGreaterThan ([TimeSpan]::Zero)
        $frozen.FreezeTime | Should -BeLessOrEqual ($after - $before)

        $probe = Start-ProbeWriter $fs.MountPoint
        Wait-WriterBlocked $probe | Should -BeTrue -Because 'a writer on a frozen filesystem sleeps in sb_start_write (D state, percpu_rwsem_wait)'
        $probe.Process.HasExited | Should -BeFalse

        $thawed = $frozen | Invoke-FsThaw
        $thawed.State | Should -Be 'Thawed'
        $thawed.FrozenFor | Should -BeGreaterThan ([TimeSpan]::Zero)
        Wait-ProbeWriter $probe | Should -BeTrue -Because 'the thaw releases the writer'
        $probe.Process.ExitCode | Should -Be 0
        Get-Content $probe.Path | Should -Be 'written'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }
}

Describe 'A block device path on <_>' -ForEach 'ext4', 'btrfs' -Tag 'Freeze' {
    # btrfs shows an anonymous device (0:N) in mountinfo, not the loop device's number: the source must match too.
    BeforeAll { $fs = New-LoopFilesystem -Type $_ }
    AfterAll { Remove-LoopFilesystem $fs }

    It 'freezes the filesystem mounted from the device, not the one holding /dev' {
        $frozen = Invoke-FsFreeze -Path $fs.Loop
        try {
            $frozen.MountPoint | Should -Be $fs.MountPoint
            $frozen.Source | Should -Be $fs.Loop
            $frozen.RequestedPath | Should -Be $fs.Loop
            Test-IsFrozen $fs.MountPoint | Should -BeTrue
        }
        finally { $frozen | Invoke-FsThaw | Out-Null }
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }
}

Describe 'A block device whose mount point another mount hides' -Tag 'Freeze' {
    BeforeAll {
        $under = New-LoopFilesystem -Type ext4
        $over = Move-LoopFilesystem (New-LoopFilesystem -Type ext4) $under.MountPoint   # stacked on the same point
    }
    # The top one first: unmounting the shared path removes the top mount.
    AfterAll { Remove-LoopFilesystem $over; Remove-LoopFilesystem $under }

    It 'is refused instead of freezing the filesystem on top' {
        Invoke-FsFreeze -Path $under.Loop -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.PathNotFound|ObjectNotFound|$($under.Loop)"
        $err[0].Exception.Message | Should -BeLike '*another mount hides it*'
        Test-IsFrozen $over.MountPoint | Should -BeFalse -Because 'the filesystem on top was not named'
    }

    It 'freezes the one on top when its own device is named' {
        $frozen = Invoke-FsFreeze -Path $over.Loop
        $frozen.Source | Should -Be $over.Loop
        Test-IsFrozen $over.MountPoint | Should -BeTrue
        $frozen | Invoke-FsThaw | Out-Null
        Test-IsFrozen $over.MountPoint | Should -BeFalse
    }
}

Describe 'Paths inside a filesystem' -Tag 'Freeze' {
    BeforeAll {
        $fs = New-LoopFilesystem -Type ext4
        New-Item -ItemType Directory "$($fs.MountPoint)/sub/deeper" | Out-Null
        Set-Content "$($fs.MountPoint)/sub/file.txt" 'data'
    }
    AfterEach { & fsfreeze -u $fs.MountPoint 2>$null }   # each test leaves the shared fixture thawed
    AfterAll { Remove-LoopFilesystem $fs }

    It 'a file path freezes the filesystem holding the file' {
        $frozen = Invoke-FsFreeze -Path "$($fs.MountPoint)/sub/file.txt"
        $frozen.MountPoint | Should -Be $fs.MountPoint
        $frozen.RequestedPath | Should -Be "$($fs.MountPoint)/sub/file.txt"
        Test-IsFrozen $fs.MountPoint | Should -BeTrue
        ($frozen | Invoke-FsThaw).MountPoint | Should -Be $fs.MountPoint
    }

    It 'a subdirectory freezes the filesystem holding it, and a writer there blocks' {
        $frozen = Invoke-FsFreeze -Path "$($fs.MountPoint)/sub/deeper"
        $frozen.MountPoint | Should -Be $fs.MountPoint
        $probe = Start-ProbeWriter "$($fs.MountPoint)/sub/deeper"
        Wait-WriterBlocked $probe | Should -BeTrue -Because 'the whole filesystem is frozen'
        Invoke-FsThaw -Path "$($fs.MountPoint)/sub/deeper" | Out-Null
        Wait-ProbeWriter $probe | Should -BeTrue
    }

    It 'a relative path resolves against the PowerShell location, not the process working directory' {
        [Environment]::CurrentDirectory | Should -Not -Be $fs.Root -Because 'the test must tell the two apart'
        Test-Path -LiteralPath (Join-Path ([Environment]::CurrentDirectory) 'mnt/sub') | Should -BeFalse
        Push-Location $fs.Root
        try {
            $frozen = Invoke-FsFreeze -Path 'mnt/sub'
            $frozen.MountPoint | Should -Be $fs.MountPoint
            Test-IsFrozen $fs.MountPoint | Should -BeTrue
            (Invoke-FsThaw -Path './mnt').MountPoint | Should -Be $fs.MountPoint
        }
        finally { Pop-Location }
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It '~ resolves through the FileSystem provider''s home' {
        # The provider's Home, not $env:HOME: the session guard protects $env:HOME, and this shell's home is on /.
        $provider = Get-PSProvider FileSystem
        $saved = $provider.Home
        $provider.Home = "$($fs.MountPoint)/sub"
        try {
            $frozen = Invoke-FsFreeze -Path '~/deeper'
            $frozen.MountPoint | Should -Be $fs.MountPoint
            Test-IsFrozen $fs.MountPoint | Should -BeTrue
            (Invoke-FsThaw -Path '~').State | Should -Be 'Thawed'
        }
        finally { $provider.Home = $saved }
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }
}

Describe 'Mount points whose names mountinfo escapes' -Tag 'Freeze' {
    # mountinfo writes space, tab and backslash as \040, \011 and \134: the freeze must find the mount by its real name.
    BeforeAll {
        $spaced = New-LoopFilesystem -Type ext4 -MountName 'with space'
        $odd = New-LoopFilesystem -Type ext4
        $odd = Move-LoopFilesystem $odd "$($odd.Root)/tab`tand\backslash"
    }
    AfterAll { Remove-LoopFilesystem $spaced; Remove-LoopFilesystem $odd }

    It 'freezes and thaws a mount point with a space by its name' {
        [IO.File]::ReadAllText('/proc/self/mountinfo') | Should -Match ([regex]::Escape('/with\040space '))
        $frozen = Invoke-FsFreeze -LiteralPath $spaced.MountPoint
        $frozen.MountPoint | Should -Be $spaced.MountPoint
        Test-IsFrozen $spaced.MountPoint | Should -BeTrue
        ($frozen | Invoke-FsThaw).MountPoint | Should -Be $spaced.MountPoint
        Test-IsFrozen $spaced.MountPoint | Should -BeFalse
    }

    It 'finds a mount point with a tab and a backslash under its real name' {
        # PowerShell paths turn '\' into '/', so name it by its device: the mount point then comes from mountinfo
        # alone, and the freeze opens it, which works only if \011 and \134 were decoded.
        [IO.File]::ReadAllText('/proc/self/mountinfo') | Should -Match ([regex]::Escape('/tab\011and\134backslash '))
        $frozen = Invoke-FsFreeze -Path $odd.Loop
        $frozen.MountPoint | Should -BeExactly $odd.MountPoint
        Test-IsFrozen $odd.MountPoint | Should -BeTrue
        (Invoke-FsThaw -Path $odd.Loop).MountPoint | Should -BeExactly $odd.MountPoint
        Test-IsFrozen $odd.MountPoint | Should -BeFalse
    }
}

Describe 'One filesystem named twice' -Tag 'Freeze' {
    It 'a bind mount beside its original is one member, frozen once' {
        $fs = New-LoopFilesystem -Type ext4
        try {
            $bind = Add-ExtraMount $fs -Name 'bind'
            $frozen = Invoke-FsFreeze -Path $fs.MountPoint, $bind -ErrorVariable err
            $err | Should -BeNullOrEmpty -Because 'a second FIFREEZE of one superblock would be EBUSY'
            @($frozen).Count | Should -Be 1
            $frozen.RequestedPath | Should -Be @($fs.MountPoint, $bind)
            $probe = Start-ProbeWriter $bind
            Wait-WriterBlocked $probe | Should -BeTrue
            @($frozen | Invoke-FsThaw).Count | Should -Be 1
            Wait-ProbeWriter $probe | Should -BeTrue
        }
        finally { Remove-ExtraMount $bind; Remove-LoopFilesystem $fs }
    }

    It 'two btrfs subvolume mounts of one filesystem are one member' {
        $fs = New-LoopFilesystem -Type btrfs
        try {
            Invoke-Native btrfs -q subvolume create "$($fs.MountPoint)/vol" | Out-Null
            $sub = Add-ExtraMount $fs -Name 'vol' -BtrfsSubvolume 'vol'
            # Their st_dev differ (btrfs gives each subvolume its own); the superblock is one.
            (& stat -c %d $fs.MountPoint) | Should -Not -Be (& stat -c %d $sub)
            $frozen = Invoke-FsFreeze -Path $sub, $fs.MountPoint -ErrorVariable err
            $err | Should -BeNullOrEmpty
            @($frozen).Count | Should -Be 1
            Test-IsFrozen $fs.MountPoint | Should -BeTrue
            $frozen | Invoke-FsThaw | Out-Null
            Test-IsFrozen $sub | Should -BeFalse
        }
        finally { Remove-ExtraMount $sub; Remove-LoopFilesystem $fs }
    }
}

Describe 'Nested mounts in one call: the order seen by the kernel (timeout <_>)' -Tag 'Freeze' -ForEach 0, 60 {
    # The order is made observable, not read from the module's output: the parent's image lives on 'backing', a
    # filesystem outside the set that the test freezes. The parent's FIFREEZE (and, later, its FITHAW, which writes
    # its superblock) then blocks until 'backing' is thawed. While it blocks, a writer on the nested mount shows
    # whether the nested mount is frozen: nested-first means it already is during the parent's freeze, and still
    # is during the parent's thaw. The wrong order freezes nothing while the parent blocks, or thaws the nested
    # mount first. Everything that can block runs in a child pwsh (or its watchdog); 'backing' is thawed by the
    # test and, as a net, by an independent process.
    BeforeEach {
        $backing = New-LoopFilesystem -Type ext4 -MountName 'backing' -SizeMB 160
        $parent = New-LoopFilesystem -Type ext4 -MountName 'parent' -Under $backing.MountPoint
        $nested = New-NestedLoopFilesystem -Parent $parent -Type xfs -MountName 'inner'
        $go = Join-Path $backing.Root 'go'   # on /, beside the mounts: the child's signal to thaw
        $child = $null
        $net = 0
        $probes = [Collections.Generic.List[object]]::new()
    }
    AfterEach {
        & fsfreeze -u $backing.MountPoint 2>$null   # first: the parent's freeze or thaw waits on it
        Stop-BackgroundPwsh $child
        Stop-IndependentThaw $net
        foreach ($p in $probes) { [void]$p.Process.WaitForExit(10000) }
        Remove-LoopFilesystem $nested
        Remove-LoopFilesystem $parent
        Remove-LoopFilesystem $backing
    }

    It 'freezes the nested mount before its parent and thaws it after, as the kernel sees it' {
        Set-Content -LiteralPath (Join-Path $parent.MountPoint 'dirty.txt') -Value 'unsynced: the parent''s freeze must write it to its image'
        $net = Start-IndependentThaw $backing.MountPoint -Seconds 90
        Invoke-Native fsfreeze -f $backing.MountPoint | Out-Null
        $child = Start-BackgroundPwsh -Environment @{ PARENT = $parent.MountPoint; NESTED = $nested.MountPoint; T = "$_"; GO = $go } -Command @'
$ErrorActionPreference = 'Stop'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
$frozen = Invoke-FsFreeze -Path $env:PARENT, $env:NESTED -TimeoutSec ([int]$env:T) -NoFlush
'frozen ' + ($frozen.MountPoint -join '|')
while (-not (Test-Path -LiteralPath $env:GO)) { Start-Sleep -Milliseconds 50 }
$thawed = $frozen | Invoke-FsThaw
'thawed ' + ($thawed.MountPoint -join '|')
'@
        # The parent's FIFREEZE blocks on 'backing': until then a writer on the nested mount shows whether it is
        # frozen. Probe until one is held (bounded); each probe that finishes saw the nested mount not frozen yet.
        $held = $null
        $by = [DateTime]::UtcNow.AddSeconds(20)
        while (-not $held -and [DateTime]::UtcNow -lt $by -and -not $child.Process.HasExited) {
            $probe = Start-ProbeWriter $nested.MountPoint -NoSync
            $probes.Add($probe)
            if (Wait-WriterBlocked $probe -TimeoutMs 500) { $held = $probe }
        }
        $held | Should -Not -BeNullOrEmpty -Because "the nested mount is frozen while the parent's FIFREEZE still waits (child: $($child.StdErr.Wait(0) ? $child.StdErr.Result : ''))"
        Read-BackgroundLine $child -TimeoutMs 300 | Should -BeNullOrEmpty -Because 'the set is not frozen yet: the parent''s FIFREEZE is still blocked'

        Invoke-Native fsfreeze -u $backing.MountPoint | Out-Null   # the parent's FIFREEZE completes
        Read-BackgroundLine $child -TimeoutMs 30000 | Should -Be "frozen $($nested.MountPoint)|$($parent.MountPoint)"

        # The thaw: the parent's FITHAW writes its superblock into its image, so with 'backing' frozen it blocks
        # (wchan ext4_commit_super) in whichever process thaws: the child itself, or the watchdog it started.
        Invoke-Native fsfreeze -f $backing.MountPoint | Out-Null
        [IO.File]::WriteAllText($go, 'thaw')
        $thawer = if ($_ -eq 0) { $child.Process.Id } else { @(Get-ChildProcessId $child.Process.Id | Where-Object { (Get-Process -Id $_ -ErrorAction SilentlyContinue).ProcessName -eq 'fsfreeze-watchdog' })[0] }
        $thawer | Should -Not -BeNullOrEmpty
        Wait-ProcessState -ProcessId $thawer -State D -WChan 'ext4_commit_super' -TimeoutMs 20000 | Should -BeTrue -Because 'the parent''s FITHAW waits on the frozen backing filesystem'
        Wait-WriterBlocked $held -TimeoutMs 100 | Should -BeTrue -Because 'the nested mount is thawed only after its parent, so it is still frozen now'

        Invoke-Native fsfreeze -u $backing.MountPoint | Out-Null
        Read-BackgroundLine $child -TimeoutMs 30000 | Should -Be "thawed $($parent.MountPoint)|$($nested.MountPoint)"
        Wait-ProbeWriter $held | Should -BeTrue -Because 'the thaw released the writer'
        Test-IsFrozen $nested.MountPoint | Should -BeFalse
        Test-IsFrozen $parent.MountPoint | Should -BeFalse
    }
}

Describe 'Pipeline round trips' -Tag 'Freeze' {
    BeforeAll { $fs = New-LoopFilesystem -Type ext4 }
    AfterEach { & fsfreeze -u $fs.MountPoint 2>$null }
    AfterAll { Remove-LoopFilesystem $fs }

    It 'Invoke-FsFreeze output survives ConvertTo-Json | ConvertFrom-Json and still thaws, with FrozenFor' {
        $json = Invoke-FsFreeze -Path $fs.MountPoint | ConvertTo-Json
        $thawed = $json | ConvertFrom-Json | Invoke-FsThaw
        $thawed.MountPoint | Should -Be $fs.MountPoint
        $thawed.FrozenFor | Should -BeOfType [TimeSpan]
        $thawed.FrozenFor | Should -BeGreaterThan ([TimeSpan]::Zero)
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'Get-Item on the mount point | Invoke-FsFreeze binds FullName' {
        $frozen = Get-Item -LiteralPath $fs.MountPoint | Invoke-FsFreeze
        $frozen.RequestedPath | Should -Be $fs.MountPoint
        Test-IsFrozen $fs.MountPoint | Should -BeTrue
        $thawed = $frozen | Invoke-FsThaw
        $thawed.FrozenFor | Should -BeGreaterThan ([TimeSpan]::Zero)
    }

    It 'Invoke-FsThaw by path alone knows FrozenFor from FsFreeze''s own record, with and without a timeout' -ForEach 60, 0 {
        Invoke-FsFreeze -Path $fs.MountPoint -TimeoutSec $_ | Out-Null
        $thawed = Invoke-FsThaw -Path $fs.MountPoint
        $thawed.State | Should -Be 'Thawed'
        $thawed.FrozenFor | Should -BeGreaterThan ([TimeSpan]::Zero)
    }

    It 'Invoke-FsThaw -Force by path alone reports no FrozenFor for a freeze another tool made' {
        & fsfreeze -f $fs.MountPoint
        $thawed = Invoke-FsThaw -Path $fs.MountPoint -Force
        $thawed.State | Should -Be 'Thawed'
        $thawed.FrozenFor | Should -BeNullOrEmpty
    }
}

Describe '-WhatIf' -Tag 'Freeze' {
    BeforeAll { $fs = New-LoopFilesystem -Type ext4 }
    AfterAll { Remove-LoopFilesystem $fs }

    It 'freezes nothing and emits nothing' {
        Invoke-FsFreeze -Path $fs.MountPoint -WhatIf | Should -BeNullOrEmpty
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        Use-FsFreeze -Path $fs.MountPoint -ScriptBlock { 'ran' } -WhatIf | Should -BeNullOrEmpty
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'says what it would freeze (seen on a child pwsh''s console)' {
        $r = Invoke-ChildPwsh -Environment @{ MP = $fs.MountPoint } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
Invoke-FsFreeze -Path $env:MP -WhatIf
'@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdOut | Should -Match 'What if: Performing the operation "Freeze with a 60 s timeout" on target'
        $r.StdOut | Should -Match ([regex]::Escape($fs.MountPoint))
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }
}

Describe 'The Mono.Posix native helper' -Tag 'Freeze' {
    It 'loads from the module folder in a fresh pwsh' {
        # NativeConvert is implemented in libMonoPosixHelper; the maps file says which copy the process loaded.
        # Mono.Posix is called directly, so the test holds whichever of its calls the core happens to use.
        $r = Invoke-ChildPwsh -Command @'
$ErrorActionPreference = 'Stop'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
$null = [Reflection.Assembly]::LoadFrom("$env:FSFREEZE_TEST_MODULE/Mono.Posix.NETStandard.dll")
@(Get-Content "/proc/$PID/maps" | Where-Object { $_ -match 'MonoPosixHelper' }).Count
[Mono.Unix.Native.NativeConvert]::FromErrno([Mono.Unix.Native.Errno]::EBUSY)
Get-Content "/proc/$PID/maps" | Where-Object { $_ -match 'MonoPosixHelper' } | ForEach-Object { ($_ -split '\s+', 6)[5] } | Select-Object -Unique
'@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.Lines[0] | Should -Be '0' -Because 'nothing needed it yet, so the next call is what loads it'
        $r.Lines[1] | Should -Be '16'
        $r.Lines[2] | Should -Be (Join-Path (Resolve-Path $env:FSFREEZE_TEST_MODULE).ProviderPath 'libMonoPosixHelper.so')
    }
}

Describe 'Paths from the pipeline' -Tag 'Freeze' {
    BeforeAll {
        $a = New-LoopFilesystem -Type ext4
        $b = New-LoopFilesystem -Type ext4
    }
    AfterAll { Remove-LoopFilesystem $a; Remove-LoopFilesystem $b }

    It 'strings piped in by value are frozen as one set' {
        $frozen = $a.MountPoint, $b.MountPoint | Invoke-FsFreeze
        @($frozen).Count | Should -Be 2
        Test-IsFrozen $a.MountPoint | Should -BeTrue
        Test-IsFrozen $b.MountPoint | Should -BeTrue
        @($frozen | Invoke-FsThaw).Count | Should -Be 2
        Test-IsFrozen $a.MountPoint | Should -BeFalse
        Test-IsFrozen $b.MountPoint | Should -BeFalse
    }
}

Describe 'Progress and narration' -Tag 'Freeze' {
    BeforeAll { $set = 1..4 | ForEach-Object { New-LoopFilesystem -Type ext4 } }
    AfterAll { $set | Remove-LoopFilesystem }

    It 'reports each member of a set of 4 in Write-Progress, ending Completed, and narrates with -Verbose (timeout <_>)' -ForEach 0, 60 {
        $ps = [PowerShell]::Create()
        try {
            $null = $ps.AddScript('param($m, $p, $t) Import-Module $m; Invoke-FsFreeze -Path $p -TimeoutSec $t -Verbose | Invoke-FsThaw').
                AddArgument("$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1").AddArgument([string[]]$set.MountPoint).AddArgument($_)
            $thawed = $ps.Invoke()
            $ps.Streams.Error | Should -BeNullOrEmpty
            $thawed.Count | Should -Be 4
            $progress = @($ps.Streams.Progress | Where-Object Activity -EQ 'Freezing filesystems')
            $progress.Count | Should -Be 4
            $progress[-1].RecordType | Should -Be 'Completed'
            $progress[0].StatusDescription | Should -BeLike '1 of 4 frozen: *'
            @($ps.Streams.Verbose | Where-Object Message -Like 'Froze *').Count | Should -Be 4
        }
        finally { $ps.Dispose() }
        foreach ($fs in $set) { Test-IsFrozen $fs.MountPoint | Should -BeFalse }
    }

    It 'stays quiet for a single filesystem' {
        $ps = [PowerShell]::Create()
        try {
            $null = $ps.AddScript('param($m, $p) Import-Module $m; Invoke-FsFreeze -Path $p -TimeoutSec 0 | Invoke-FsThaw').
                AddArgument("$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1").AddArgument($set[0].MountPoint)
            $null = $ps.Invoke()
            @($ps.Streams.Progress | Where-Object Activity -EQ 'Freezing filesystems').Count | Should -Be 0
        }
        finally { $ps.Dispose() }
    }
}
