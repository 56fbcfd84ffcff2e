#Requires -Modules Pester
# Issue 9: the members of a set freeze side by side, in waves by dependency (a nested mount before its parent, a loop
# filesystem before the member holding its image), and thaw side by side in reverse waves; all or nothing, the
# watchdog's deadline and Ctrl+C hold while a FIFREEZE of a wave is blocked; a scope thaws over its watchdog's pipe and
# Invoke-FsThaw thaws a set's objects with one request. No timing is asserted: the kernel's trace says what happened.
#
# Safety: only loop filesystems these tests mounted are frozen; AfterEach thaws the backing filesystem first (that
# frees a blocked FIFREEZE), stops the test's watchdogs (SIGTERM: they thaw), then tears the fixtures down (fsfreeze -u
# before umount). The state directory is a private one (FsFreeze puts a tmpfs on it).

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    Import-Module $PSScriptRoot/Benchmarks/KernelTrace.psm1 -Force

    $script:StateDir = (Invoke-Native mktemp -d /tmp/fsfreeze-state.XXXXXX | Select-Object -Last 1).Trim()
    Invoke-Native chmod 700 $script:StateDir | Out-Null
    $script:SavedStateDir = $env:FSFREEZE_STATE_DIR
    $env:FSFREEZE_STATE_DIR = $script:StateDir

    function Get-TestWatchdogPid {
        # The watchdog pids of every record in this file's state directory (held or ended), alive or not.
        foreach ($file in Get-ChildItem $script:StateDir -File -ErrorAction SilentlyContinue | Where-Object Name -NotLike '.*') {
            $line = Get-Content $file.FullName -ErrorAction SilentlyContinue | Where-Object { $_ -like "watchdog`t*" } | Select-Object -First 1
            if ($line -and [int]($line -split "`t")[1] -gt 0) { [int]($line -split "`t")[1] }
        }
    }

    function Test-OurWatchdog([int] $ProcessId) {
        # A live fsfreeze-watchdog process of this test's state directory (a pid is checked before it is signalled).
        (Test-Path "/proc/$ProcessId") -and ((Get-Content "/proc/$ProcessId/comm" -ErrorAction SilentlyContinue) -eq 'fsfreeze-watchd')
    }

    function Wait-ProcessGone([int] $ProcessId, [int] $TimeoutSec = 30) {
        $by = [datetime]::Now.AddSeconds($TimeoutSec)
        while ((Test-OurWatchdog $ProcessId) -and [datetime]::Now -lt $by) { Start-Sleep -Milliseconds 100 }
        -not (Test-OurWatchdog $ProcessId)
    }

    function Stop-TestWatchdogs {
        # SIGTERM to this test's live watchdogs (by pid, from its own state directory): each thaws what it holds, then exits.
        foreach ($p in @(Get-TestWatchdogPid | Select-Object -Unique)) {
            if (Test-OurWatchdog $p) {
                & kill -TERM $p 2>$null
                $null = Wait-ProcessGone $p 10
            }
        }
        Get-ChildItem $script:StateDir -ErrorAction SilentlyContinue | Remove-Item -Force -ErrorAction SilentlyContinue
    }

    function Wait-WriteBlocked([string] $Directory, [int] $TimeoutSec = 20) {
        # True once a write into $Directory stays blocked (uninterruptible sleep) for a second: the filesystem is frozen.
        # Not probed with FIFREEZE, which would race a freeze that is still being made. The blocked writer finishes
        # once the filesystem is thawed; it is returned so the test can wait for that.
        $by = [datetime]::Now.AddSeconds($TimeoutSec)
        while ([datetime]::Now -lt $by) {
            $probe = Start-ProbeWriter $Directory
            $blocked = $true
            for ($i = 0; $i -lt 10; $i++) {
                Start-Sleep -Milliseconds 100
                $stat = if ($probe.Process.HasExited) { $null } else { Get-Content "/proc/$($probe.Process.Id)/stat" -ErrorAction SilentlyContinue }
                $state = if ($stat) { ($stat -split '\) ')[-1].Split(' ')[0] } else { 'gone' }
                if ($state -ne 'D') { $blocked = $false; break }
            }
            if ($blocked) { return $probe }
            $null = Wait-ProbeWriter $probe 10000
            Start-Sleep -Milliseconds 100
        }
        $null
    }

    function Get-TracedRound($Text, [string] $Name) {
        # The successful FIFREEZE and FITHAW calls of one traced freeze, all made by one process.
        $calls = @($Text | ConvertFrom-KernelTrace | Where-Object { $_.Return -eq 0 })
        @($calls.Pid | Select-Object -Unique).Count | Should -Be 1 -Because "$Name freezes and thaws in one process: $(($calls | ForEach-Object { "$($_.Cmd)@$($_.Pid)" }) -join ', ')"
        $calls
    }
}

AfterAll {
    # Its watchdogs first: one still running would write a record here after the unmount, and FsFreeze would then put
    # a new tmpfs on the directory (its state never lives where a freeze could hold a write).
    Stop-TestWatchdogs
    $env:FSFREEZE_STATE_DIR = $script:SavedStateDir
    if ($script:StateDir -and (Test-Path $script:StateDir)) {
        for ($i = 0; $i -lt 5 -and (& findmnt -n --mountpoint $script:StateDir); $i++) { & umount -l $script:StateDir }
        Remove-Item $script:StateDir -Recurse -Force -ErrorAction SilentlyContinue
    }
}

Describe 'A FIFREEZE that blocks, in a wave beside other members' -Tag 'Timeout', 'Freeze' {
    BeforeEach {
        # 'inner' lives on a loop device whose image sits in 'backing' (not a member): with 'backing' frozen, the FIFREEZE of
        # 'inner' blocks. 'beside' is independent of it (same wave) and planned after it ('inner' is mounted deeper):
        # frozen one by one, 'beside' would never be reached while 'inner' is blocked.
        $backing = New-LoopFilesystem -Type ext4 -MountName 'backing' -SizeMB 160
        $inner = New-LoopFilesystem -Type ext4 -MountName 'inner' -Under $backing.MountPoint
        $beside = New-LoopFilesystem -Type ext4 -MountName 'beside'
        $ps = $null
        $probe = $null
    }
    AfterEach {
        & fsfreeze -u $backing.MountPoint 2>$null   # first: everything below waits on it
        if ($ps) { $ps.Dispose() }
        Stop-TestWatchdogs
        Remove-LoopFilesystem $beside
        if ($probe) { $null = Wait-ProbeWriter $probe 10000 }
        Remove-LoopFilesystem $inner
        Remove-LoopFilesystem $backing
    }

    It 'plans both in wave 0, the blocked one first' {
        $table = [FsFreeze.MountTable]::Read()
        $resolved = [FsFreeze.Filesystem[]]@($inner.MountPoint, $beside.MountPoint | ForEach-Object { [FsFreeze.FilesystemResolver]::Resolve($_, $table) })
        $plan = [FsFreeze.FilesystemResolver]::Plan($resolved, $table)
        $plan.MountPoint | Should -Be @($inner.MountPoint, $beside.MountPoint)
        $plan.Wave | Should -Be @(0, 0)
    }

    It 'freezes the member beside it, the deadline thaws that one, and the blocked one is thawed when its FIFREEZE returns' {
        Set-Content -LiteralPath (Join-Path $inner.MountPoint 'dirty.txt') -Value 'unsynced data for the freeze to write'
        Invoke-Native fsfreeze -f $backing.MountPoint | Out-Null
        $err = $null
        Invoke-FsFreeze $inner.MountPoint, $beside.MountPoint -TimeoutSec 3 -NoFlush -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'FsFreeze.ThawedByTimeout,FsFreeze.Commands.InvokeFsFreezeCommand'
        $err[0].Exception.Message | Should -Match ([regex]::Escape("FIFREEZE on $($inner.MountPoint) (ext4") + '.*still blocked')
        # One by one, 'beside' was never reached ("Nothing else was frozen yet"); side by side it froze, and the deadline thawed it.
        $err[0].Exception.Message | Should -Match ([regex]::Escape("It thawed what was already frozen ($($beside.MountPoint))"))
        Test-IsFrozen $beside.MountPoint | Should -BeFalse
        $watchdogs = @(Get-TestWatchdogPid | Select-Object -Unique)
        $watchdogs.Count | Should -Be 1

        Invoke-Native fsfreeze -u $backing.MountPoint | Out-Null   # the blocked FIFREEZE can now finish
        Wait-ProcessGone $watchdogs[0] | Should -BeTrue -Because 'once its FIFREEZE returns the member is thawed and the watchdog exits'
        Test-IsFrozen $inner.MountPoint | Should -BeFalse
        Get-FsFreezeStatus | Should -BeNullOrEmpty
    }

    It 'Ctrl+C thaws the member frozen beside it long before the deadline, and the blocked one when its FIFREEZE returns' {
        Set-Content -LiteralPath (Join-Path $inner.MountPoint 'dirty.txt') -Value 'unsynced data for the freeze to write'
        Invoke-Native fsfreeze -f $backing.MountPoint | Out-Null
        $ps = [powershell]::Create()
        [void]$ps.AddCommand('Import-Module').AddArgument("$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1").AddStatement()
        [void]$ps.AddCommand('Invoke-FsFreeze').AddParameter('Path', @($inner.MountPoint, $beside.MountPoint)).AddParameter('TimeoutSec', 600).AddParameter('NoFlush')
        $async = $ps.BeginInvoke()
        $probe = Wait-WriteBlocked $beside.MountPoint
        $probe | Should -Not -BeNullOrEmpty -Because "'beside' freezes while 'inner' is still blocked"
        $async.IsCompleted | Should -BeFalse -Because 'Invoke-FsFreeze waits for the blocked FIFREEZE'
        $watchdogs = @(Get-TestWatchdogPid | Select-Object -Unique)

        $ps.Stop()   # what Ctrl+C does
        Wait-ProbeWriter $probe 10000 | Should -BeTrue -Because 'on SIGTERM the watchdog thaws what it froze; the 600 s deadline is far away'
        $probe = $null
        Test-IsFrozen $beside.MountPoint | Should -BeFalse

        Invoke-Native fsfreeze -u $backing.MountPoint | Out-Null
        foreach ($w in $watchdogs) { Wait-ProcessGone $w | Should -BeTrue }
        Test-IsFrozen $inner.MountPoint | Should -BeFalse
    }
}

Describe 'All or nothing within a wave' -Tag 'Freeze' {
    BeforeEach {
        $ours = New-LoopFilesystem -Type ext4 -MountName 'ours'
        $theirs = New-LoopFilesystem -Type ext4 -MountName 'theirs'
        $third = New-LoopFilesystem -Type ext4 -MountName 'third'
    }
    AfterEach {
        Stop-TestWatchdogs
        Remove-LoopFilesystem $third
        Remove-LoopFilesystem $theirs
        Remove-LoopFilesystem $ours
    }

    It 'rolls back what froze beside a member another tool froze, and leaves that one frozen (-TimeoutSec <_>)' -ForEach 0, 60 {
        Invoke-Native fsfreeze -f $theirs.MountPoint | Out-Null
        try {
            $err = $null
            Invoke-FsFreeze $ours.MountPoint, $theirs.MountPoint, $third.MountPoint -TimeoutSec $_ -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -Be 'FsFreeze.AlreadyFrozen,FsFreeze.Commands.InvokeFsFreezeCommand'
            $err[0].TargetObject | Should -Be $theirs.MountPoint
            Test-IsFrozen $ours.MountPoint | Should -BeFalse
            Test-IsFrozen $third.MountPoint | Should -BeFalse
            Test-IsFrozen $theirs.MountPoint | Should -BeTrue -Because 'FsFreeze never thaws a freeze it did not make'
            Get-FsFreezeStatus | Should -BeNullOrEmpty
        }
        finally { & fsfreeze -u $theirs.MountPoint 2>$null }
    }
}

Describe 'Waves as the kernel saw them' -Tag 'Freeze', 'KernelTrace' {
    BeforeAll {
        # 'loopy' has its image on 'host' (deeper, so depth order alone would freeze 'host' first); 'other' is independent.
        # Waves: loopy and other, then host. Thaw: host, then loopy and other.
        $script:hostFs = New-LoopFilesystem -Type ext4 -MountName 'deep/er/host' -SizeMB 160
        $script:loopy = [pscustomobject]@{ Root = (Invoke-Native mktemp -d /tmp/fsfreeze-test.XXXXXX); Loop = $null; MountPoint = $null
            Image = Join-Path $hostFs.MountPoint 'loopy.img' }
        $loopy.MountPoint = Join-Path $loopy.Root 'mnt'
        New-Item -ItemType Directory $loopy.MountPoint | Out-Null
        Invoke-Native truncate -s 64M $loopy.Image | Out-Null
        Invoke-Native mkfs.ext4 -q -F $loopy.Image | Out-Null
        $loopy.Loop = (Invoke-Native losetup -f --show $loopy.Image | Select-Object -Last 1).Trim()
        Invoke-Native mount $loopy.Loop $loopy.MountPoint | Out-Null
        $script:other = New-LoopFilesystem -Type ext4 -MountName 'other'
        $script:paths = @($hostFs.MountPoint, $loopy.MountPoint, $other.MountPoint)
    }
    AfterAll {
        Stop-TestWatchdogs
        & fsfreeze -u $hostFs.MountPoint 2>$null   # first: the loop filesystem writes into it
        & fsfreeze -u $loopy.MountPoint 2>$null
        & umount $loopy.MountPoint 2>$null
        if ($loopy.Loop) { & losetup -d $loopy.Loop 2>$null }
        Remove-Item -LiteralPath $loopy.Root -Recurse -Force -ErrorAction SilentlyContinue
        Remove-LoopFilesystem $other
        Remove-LoopFilesystem $hostFs
    }

    It 'freezes the host only after both members of wave 0 froze, and thaws it before them (<How>)' -ForEach @(
        @{ How = 'Use-FsFreeze -TimeoutSec 0'; Run = { Use-FsFreeze -Path $paths -TimeoutSec 0 {} } }
        @{ How = 'Use-FsFreeze'; Run = { Use-FsFreeze -Path $paths {} } }
        @{ How = 'Invoke-FsFreeze | Invoke-FsThaw'; Run = { $null = Invoke-FsFreeze -Path $paths | Invoke-FsThaw } }
    ) {
        $trace = Start-KernelTrace -ProcessId $PID
        try { & $Run }
        finally { $text = Stop-KernelTrace $trace }
        $calls = Get-TracedRound $text $How
        $freezes = @($calls | Where-Object Cmd -EQ 'FIFREEZE')
        $thaws = @($calls | Where-Object Cmd -EQ 'FITHAW')
        $freezes.Count | Should -Be 3
        $thaws.Count | Should -Be 3
        # The members are opened in plan order before anything is frozen, and the host is last in the plan: its descriptor
        # is the highest, and it is thawed through the same one.
        $hostFd = ($freezes | Measure-Object Fd -Maximum).Maximum
        $hostFreeze = $freezes | Where-Object Fd -EQ $hostFd
        $hostThaw = $thaws | Where-Object Fd -EQ $hostFd
        $hostThaw | Should -Not -BeNullOrEmpty
        $wave0Freezes = @($freezes | Where-Object Fd -NE $hostFd)
        $wave0Thaws = @($thaws | Where-Object Fd -NE $hostFd)
        $hostFreeze.EnterNs | Should -BeGreaterThan ($wave0Freezes | Measure-Object ExitNs -Maximum).Maximum
        $hostThaw.ExitNs | Should -BeLessThan ($wave0Thaws | Measure-Object EnterNs -Minimum).Minimum
        foreach ($p in $paths) { Test-IsFrozen $p | Should -BeFalse }
    }
}

Describe 'Nothing in the frozen window that could be outside it' -Tag 'UseFsFreeze', 'KernelTrace' {
    BeforeAll {
        $script:fs = New-LoopFilesystem -Type ext4
        $script:more = @(New-LoopFilesystem -Type ext4 -MountName 'b'; New-LoopFilesystem -Type ext4 -MountName 'c')
        function script:Get-WindowConnects($Text) {
            # connect() calls of this process between the first FIFREEZE's return and the last FITHAW's entry.
            $calls = @($Text | ConvertFrom-KernelTrace | Where-Object { $_.Return -eq 0 })
            $from = ($calls | Where-Object Cmd -EQ 'FIFREEZE' | Measure-Object ExitNs -Minimum).Minimum
            $to = ($calls | Where-Object Cmd -EQ 'FITHAW' | Measure-Object EnterNs -Maximum).Maximum
            @($Text | Get-KernelTraceSyscall -Name connect | Where-Object { $_.Pid -eq $PID -and $_.EnterNs -gt $from -and $_.EnterNs -lt $to })
        }
    }
    AfterAll {
        Stop-TestWatchdogs
        foreach ($f in @($more) + @($fs)) { Remove-LoopFilesystem $f }
    }

    It 'a scope thaws over its watchdog''s pipe: no connection is made while it is frozen' {
        $trace = Start-KernelTrace -ProcessId $PID -AlsoSyscall connect
        try { Use-FsFreeze $fs.MountPoint { 'in the scope' } | Should -Be 'in the scope' }
        finally { $text = Stop-KernelTrace $trace }
        @($text | ConvertFrom-KernelTrace | Where-Object { $_.Return -eq 0 }).Count | Should -Be 2
        Get-WindowConnects $text | Should -BeNullOrEmpty -Because 'the thaw goes over the pipe the handshake already opened'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        Get-FsFreezeStatus | Should -BeNullOrEmpty
    }

    It 'Invoke-FsThaw thaws the objects of one freeze with one request to its watchdog' {
        $paths = @($fs.MountPoint) + @($more.MountPoint)
        $trace = Start-KernelTrace -ProcessId $PID -AlsoSyscall connect
        try { $thawed = Invoke-FsFreeze -Path $paths | Invoke-FsThaw }
        finally { $text = Stop-KernelTrace $trace }
        $thawed.Count | Should -Be 3
        $thawed.State | Should -Be @('Thawed', 'Thawed', 'Thawed')
        @(Get-WindowConnects $text).Count | Should -Be 1 -Because 'one request thaws the set (one by one it took one connection a member)'
        foreach ($p in $paths) { Test-IsFrozen $p | Should -BeFalse }
        Get-FsFreezeStatus | Should -BeNullOrEmpty
    }

    It 'Invoke-FsThaw of a -TimeoutSec 0 set thaws it and ends its record' {
        $paths = @($fs.MountPoint) + @($more.MountPoint)
        $frozen = Invoke-FsFreeze -Path $paths -TimeoutSec 0
        (Get-FsFreezeStatus).Count | Should -Be 3
        $thawed = $frozen | Invoke-FsThaw
        $reverse = @($frozen.MountPoint)
        [array]::Reverse($reverse)
        $thawed.MountPoint | Should -Be $reverse -Because 'the output keeps the reverse of the order given'
        $thawed | ForEach-Object { $_.FrozenForMs | Should -BeGreaterThan 0 }
        foreach ($p in $paths) { Test-IsFrozen $p | Should -BeFalse }
        Get-FsFreezeStatus | Should -BeNullOrEmpty
        # A second thaw of the same objects thaws nothing and says so, member by member.
        $err = $null
        $frozen | Invoke-FsThaw -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err.Count | Should -Be 3
        $err | ForEach-Object { $_.FullyQualifiedErrorId | Should -Be 'FsFreeze.NotFrozen,FsFreeze.Commands.InvokeFsThawCommand' }
    }
}

Describe 'Durations as plain numbers' -Tag 'Freeze' {
    BeforeAll { $script:fs = New-LoopFilesystem -Type ext4 }
    AfterAll {
        Stop-TestWatchdogs
        Remove-LoopFilesystem $fs
    }

    It 'ConvertTo-Json gives FreezeTimeMs and FrozenForMs as numbers (-TimeoutSec <_>)' -ForEach 0, 60 {
        $frozen = Invoke-FsFreeze $fs.MountPoint -TimeoutSec $_
        $frozenJson = $frozen | ConvertTo-Json -Compress
        $thawedJson = $frozen | Invoke-FsThaw | ConvertTo-Json -Compress
        $frozenJson | Should -Match '"FreezeTimeMs":\d+(\.\d+)?[,}]'
        $thawedJson | Should -Match '"FrozenForMs":\d+(\.\d+)?[,}]'
        ($frozenJson | ConvertFrom-Json).FreezeTimeMs | Should -BeGreaterThan 0
        ($thawedJson | ConvertFrom-Json).FrozenForMs | Should -BeGreaterThan 0
    }
}
