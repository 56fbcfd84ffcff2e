#Requires -Modules Pester
# The simulated host harness (tests/SimHost): hosts whose / is a loop filesystem of their own, where freezing "/" is safe.
# Every host is torn down in AfterAll/finally; the file's last AfterAll fails the run when any host left a loop device,
# a process, a mount or its directory behind.

BeforeAll {
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    Import-Module $PSScriptRoot/SimHost/SimHost.psm1 -Force
    # Hosts of a test run that died before its teardown (their creator is gone): thaw and remove them first.
    Get-SimHost -Orphaned | Remove-SimHost
    # Built once and cached (about 30 s); CI starts without it.
    $null = Initialize-SimHostImage

    $script:MachineRootDev = (& stat -c '%Hd:%Ld' /).Trim()

    function Get-MachineDevices {
        # Every device in this machine's mount tables (this process's and PID 1's).
        $lines = [IO.File]::ReadAllLines('/proc/self/mountinfo') + [IO.File]::ReadAllLines('/proc/1/mountinfo')
        @($lines | ForEach-Object { $_.Split(' ')[2] } | Sort-Object -Unique) + $script:MachineRootDev
    }

    function Get-HostMountInfo($SimHost) {
        # The host's mount table as it sees it: MajMin, MountPoint, FsType, Source.
        $r = Invoke-SimHost $SimHost 'cat /proc/self/mountinfo' -Check
        foreach ($line in $r.Lines) {
            $f = $line.Split(' ')
            $dash = [Array]::IndexOf($f, '-')
            [pscustomobject]@{ MajMin = $f[2]; MountPoint = $f[4]; FsType = $f[$dash + 1]; Source = $f[$dash + 2] }
        }
    }

    function Start-HostWriter {
        # In the host, in the background: writes $Path (blocks while its filesystem is frozen), then notes the time it
        # finished in /run (tmpfs, never frozen). Returns the writer's PID inside the host.
        param($SimHost, [string] $Path, [string] $Tag)
        $r = Invoke-SimHost $SimHost -Environment @{ P = $Path; T = $Tag } -Check -Command @'
sh -c 'echo $$ > "/run/$T.pid"; echo written > "$P"; date +%s.%N > "/run/$T.done"' </dev/null >/dev/null 2>&1 &
for i in $(seq 200); do [ -s "/run/$T.pid" ] && break; sleep 0.05; done
cat "/run/$T.pid"
'@
        [int]($r.Lines[-1])
    }

    function Get-HostProcessState($SimHost, [int] $ProcessId) {
        # The state letter (R, S, D, Z) of a process inside the host; '' when it is gone.
        (Invoke-SimHost $SimHost "cut -d' ' -f3 /proc/$ProcessId/stat 2>/dev/null || true").StdOut.Trim()
    }

    function Wait-HostProcessState($SimHost, [int] $ProcessId, [string] $State, [int] $TimeoutMs = 10000) {
        # Polls until the process is in $State; returns the last state seen.
        $sw = [Diagnostics.Stopwatch]::StartNew()
        do {
            $s = Get-HostProcessState $SimHost $ProcessId
            if ($s -eq $State) { return $s }
            Start-Sleep -Milliseconds 100
        } while ($sw.ElapsedMilliseconds -lt $TimeoutMs)
        $s
    }

    function Wait-HostFile($SimHost, [string] $Path, [int] $TimeoutSec = 15) {
        # The file's content once it exists (bounded), else $null.
        $r = Invoke-SimHost $SimHost -Environment @{ F = $Path } -TimeoutSec ($TimeoutSec + 10) `
            -Command "for i in `$(seq $($TimeoutSec * 10)); do [ -s `"`$F`" ] && exec cat `"`$F`"; sleep 0.1; done; exit 1"
        ($r.ExitCode -eq 0) ? $r.StdOut.Trim() : $null
    }

    function Test-MachineResponsive([string] $Directory) {
        # A write and fsync on this machine's own filesystem finishes within 5 s (it would block if / were frozen).
        $probe = Start-ProbeWriter $Directory
        Wait-ProbeWriter $probe -TimeoutMs 5000
    }
}

AfterAll {
    # Whatever any test left behind fails the run.
    Get-SimHostLeak | Should -BeNullOrEmpty -Because 'every simulated host must be gone: loop devices, processes, mounts, directories'
}

Describe 'A simulated host' -Tag 'SimHost', 'WholeHost' {
    BeforeAll {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $h = New-SimHost -Name 'simhost-a' -ModulePath $env:FSFREEZE_TEST_MODULE -DataFilesystem ext4, xfs
        Write-Host "SimHost: host 'simhost-a' (ext4 /, ext4 and xfs data) started in $([Math]::Round($sw.Elapsed.TotalSeconds, 1)) s"
        $rootLoop = $h.Loops | Where-Object MountPoint -EQ '/'
    }
    AfterAll {
        if ($h) { Remove-SimHost $h; Get-SimHostLeak $h | Should -BeNullOrEmpty }
    }

    It 'runs as PID 1 of its own pid namespace with its own hostname' {
        $r = Invoke-SimHost $h 'hostname; cat /etc/hostname; echo $$; cat /proc/1/cmdline | tr "\0" " "' -Check
        $r.Lines[0] | Should -Be 'simhost-a'
        $r.Lines[1] | Should -Be 'simhost-a'
        $r.Lines[3] | Should -Match 'while :; do sleep'
        (& hostname).Trim() | Should -Not -Be 'simhost-a'
        $h.InitPid | Should -Not -Be 1
    }

    It 'has its own loop image as /, not this machine''s /' {
        $r = Invoke-SimHost $h 'stat -c %Hd:%Ld /' -Check
        $r.StdOut.Trim() | Should -Be $rootLoop.MajMin
        $r.StdOut.Trim() | Should -Not -Be $script:MachineRootDev
        $root = Get-HostMountInfo $h | Where-Object MountPoint -EQ '/'
        @($root).Count | Should -Be 1
        $root.Source | Should -Be $rootLoop.Device
        $root.FsType | Should -Be 'ext4'
        (Get-Content "/sys/block/$(Split-Path $rootLoop.Device -Leaf)/loop/backing_file") | Should -Be (Join-Path $h.Dir 'root.img')
        # Nothing of the host shows in this machine's mount table.
        (Get-Mounts | Where-Object { $_.StartsWith($h.Dir) }) | Should -BeNullOrEmpty
    }

    It 'mounts its data filesystems from its own loop devices' {
        $mounts = Get-HostMountInfo $h
        foreach ($l in $h.Loops | Where-Object MountPoint -NE '/') {
            $m = $mounts | Where-Object MountPoint -EQ $l.MountPoint
            $m.Source | Should -Be $l.Device
            $m.FsType | Should -Be $l.Type
            $m.MajMin | Should -Be $l.MajMin
        }
        @($mounts.MountPoint) | Should -Be @('/', '/data1', '/data2', '/proc', '/run', '/tmp', '/dev')
    }

    It 'shows no filesystem of this machine, and passes the isolation check again' {
        $machine = Get-MachineDevices
        foreach ($m in Get-HostMountInfo $h) {
            $machine | Should -Not -Contain $m.MajMin -Because "$($m.MountPoint) ($($m.FsType)) must not be a filesystem of this machine"
        }
        { Assert-SimHostIsolated $h } | Should -Not -Throw
        $h.Isolated | Should -BeTrue
    }

    It 'has a /dev of its own: a tmpfs with made nodes and only its own loop devices' {
        $r = Invoke-SimHost $h 'stat -f -c %T /dev; ls /dev | tr "\n" " "; echo; echo x > /dev/null && head -c 4 /dev/urandom | wc -c' -Check
        $r.Lines[0] | Should -Be 'tmpfs'
        $nodes = $r.Lines[1].Split(' ', [StringSplitOptions]::RemoveEmptyEntries)
        @($nodes | Where-Object { $_ -like 'loop*' } | ForEach-Object { "/dev/$_" } | Sort-Object) | Should -Be @($h.Loops.Device | Sort-Object)
        $nodes | Should -Not -Contain 'vda'
        $r.Lines[2] | Should -Be '4'
    }

    It 'runs pwsh, where Import-Module FsFreeze works' {
        $r = Invoke-SimHostPwsh $h 'Import-Module FsFreeze -ErrorAction Stop; (Get-Module FsFreeze).ModuleBase; $PSVersionTable.PSVersion.ToString(); (Get-Command -Module FsFreeze).Name -join ","'
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.Lines[0] | Should -Be '/opt/fsfreeze/FsFreeze'
        $r.Lines[1] | Should -Be '7.6.9'
        $r.Lines[2] | Should -Match 'Invoke-FsFreeze'
    }

    It 'freezes its own / (fsfreeze -f): a write waits in D until the thaw, and this machine stays responsive' {
        Assert-SimHostIsolated $h
        $guard = Start-SimHostThawGuard $h -AfterSec 30   # behind everything below, armed before the freeze
        try {
            Invoke-SimHost $h 'fsfreeze -f /' -Check -TimeoutSec 30 | Out-Null
            $writer = Start-HostWriter $h '/var/tmp/probe-fsfreeze' 'w1'
            Wait-HostProcessState $h $writer 'D' | Should -Be 'D' -Because 'a write to a frozen filesystem sleeps uninterruptibly'
            (Invoke-SimHost $h 'test -e /run/w1.done').ExitCode | Should -Be 1 -Because 'the writer has not finished'
            (Invoke-SimHost $h 'cat /etc/hostname' -Check).StdOut.Trim() | Should -Be 'simhost-a' -Because 'reads work while frozen'
            Test-MachineResponsive $TestDrive | Should -BeTrue -Because "this machine's / is not frozen"
            (Invoke-SimHost $h 'fsfreeze -f / 2>&1').StdOut | Should -Match 'busy' -Because 'a second freeze of the same filesystem gives EBUSY'

            $thawAt = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds() / 1000
            Invoke-SimHost $h 'fsfreeze -u /' -Check | Out-Null
            $done = Wait-HostFile $h '/run/w1.done'
            $done | Should -Not -BeNullOrEmpty -Because 'the thaw releases the writer'
            [double]$done | Should -BeGreaterOrEqual ($thawAt - 0.05)
            (Invoke-SimHost $h 'cat /var/tmp/probe-fsfreeze' -Check).StdOut.Trim() | Should -Be 'written'
        }
        finally {
            $null = Invoke-SimHostThaw $h
            Stop-SimHostThawGuard $guard
        }
    }

    It 'freezes its own / with Invoke-FsFreeze -Path / -Force -TimeoutSec 5, and the timeout thaws it' {
        Assert-SimHostIsolated $h
        $guard = Start-SimHostThawGuard $h -AfterSec 40
        try {
            # pwsh writes its startup profile data under ~/.cache on exit: on a frozen / it would sleep there until the
            # timeout thaws. With its cache on /run it returns while / is still frozen, so the writer below is held.
            $r = Invoke-SimHostPwsh $h -TimeoutSec 60 -Environment @{ XDG_CACHE_HOME = '/run/pwsh-cache' } -Command @'
$ErrorActionPreference = 'Stop'
Import-Module FsFreeze
$f = Invoke-FsFreeze -Path / -Force -TimeoutSec 5
'{0}|{1}|{2}|{3}' -f $f.MountPoint, $f.Source, $f.State, $f.FrozenAt.ToUniversalTime().Subtract([DateTime]::UnixEpoch).TotalSeconds
'@
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $mp, $source, $state, $frozenAt = $r.Lines[-1].Split('|')
            $mp | Should -Be '/'
            $source | Should -Be $rootLoop.Device
            $state | Should -Be 'Frozen'

            $writer = Start-HostWriter $h '/var/tmp/probe-module' 'w2'
            Wait-HostProcessState $h $writer 'D' | Should -Be 'D'
            Test-MachineResponsive $TestDrive | Should -BeTrue
            $done = Wait-HostFile $h '/run/w2.done' -TimeoutSec 20
            $done | Should -Not -BeNullOrEmpty -Because 'the watchdog thaws after 5 s'
            ([double]$done - [double]$frozenAt) | Should -BeGreaterOrEqual 4.5 -Because 'the writer finishes only when the timeout thaws'
            (Invoke-SimHost $h 'cat /var/tmp/probe-module' -Check).StdOut.Trim() | Should -Be 'written'
        }
        finally {
            $null = Invoke-SimHostThaw $h
            Stop-SimHostThawGuard $guard
        }
    }
}

Describe 'A simulated host whose / is btrfs' -Tag 'SimHost', 'WholeHost' {
    # btrfs shows an anonymous device (0:N) in mountinfo: the isolation check goes by the mount source there.
    BeforeAll { $h = New-SimHost -Name 'simhost-btrfs' -RootFilesystem btrfs }
    AfterAll { if ($h) { Remove-SimHost $h; Get-SimHostLeak $h | Should -BeNullOrEmpty } }

    It 'has its root loop device as the source of /, on an anonymous device of its own' {
        $root = Get-HostMountInfo $h | Where-Object MountPoint -EQ '/'
        $root.FsType | Should -Be 'btrfs'
        $root.Source | Should -Be ($h.Loops | Where-Object MountPoint -EQ '/').Device
        $root.MajMin | Should -Match '^0:'
        Get-MachineDevices | Should -Not -Contain $root.MajMin
    }

    It 'freezes and thaws its own /' {
        Assert-SimHostIsolated $h
        $guard = Start-SimHostThawGuard $h -AfterSec 30
        try {
            Invoke-SimHost $h 'fsfreeze -f /' -Check | Out-Null
            $writer = Start-HostWriter $h '/var/tmp/probe-btrfs' 'w3'
            Wait-HostProcessState $h $writer 'D' | Should -Be 'D'
            Invoke-SimHost $h 'fsfreeze -u /' -Check | Out-Null
            Wait-HostFile $h '/run/w3.done' | Should -Not -BeNullOrEmpty
        }
        finally {
            $null = Invoke-SimHostThaw $h
            Stop-SimHostThawGuard $guard
        }
    }
}

Describe 'The isolation check' -Tag 'SimHost', 'WholeHost' {
    It 'refuses a host with a directory of this machine bind-mounted into it, and tears it down' {
        # Nothing is frozen here: New-SimHost must throw before any test could.
        $outside = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'this-machine')
        $before = @(Get-SimHostLeak)   # what earlier tests left, reported by the file's AfterAll
        { New-SimHost -Name 'simhost-contaminated' -UnsafeTestBindMount $outside.FullName } |
            Should -Throw "*'simhost-contaminated' is not isolated*'/mnt/this-machine'*is a filesystem of this machine*"
        $made = Get-SimHost | Where-Object Name -EQ 'simhost-contaminated'
        $made | Should -BeNullOrEmpty -Because 'the refused host was removed'
        @(Get-SimHostLeak | Where-Object { $_ -notin $before }) | Should -BeNullOrEmpty
        (Get-Mounts | Where-Object { $_ -like '/tmp/fsfreeze-simhost.*' }) | Should -BeNullOrEmpty
    }

    Context 'rules, on given mount tables' {
        BeforeAll {
            $loops = @(
                [pscustomobject]@{ Device = '/dev/loop7'; MajMin = '7:7'; MountPoint = '/' }
                [pscustomobject]@{ Device = '/dev/loop9'; MajMin = '7:9'; MountPoint = '/data1' }
            )
            $machine = @(
                '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw'
                '22 27 0:21 / /proc rw,relatime - proc proc rw'
                '42 27 0:50 / /srv/btr rw,relatime - btrfs /dev/loop3 rw'
            )
            $clean = @(
                '67 44 7:7 / / rw,relatime - ext4 /dev/loop7 rw'
                '68 67 0:60 / /data1 rw,relatime - btrfs /dev/loop9 rw,subvol=/'
                '69 67 0:61 / /proc rw,nosuid - proc proc rw'
                '70 67 0:62 / /dev rw,nosuid - tmpfs simhost-dev rw'
            )
            function Test-Table([string[]] $HostTable, [string] $HostRootDev = '7:7') {
                InModuleScope SimHost -Parameters @{ T = $HostTable; M = $machine; L = $loops; R = $HostRootDev } {
                    Test-SimHostMountTable -HostMountInfo $T -MachineMountInfo $M -MachineRootDev '254:0' -HostRootDev $R -Loops $L
                }
            }
        }

        It 'passes a host with only its own loop devices and pseudo filesystems' {
            Test-Table $clean | Should -BeNullOrEmpty
        }
        It 'refuses a mount of a device this machine has mounted (a bind mount of its /)' {
            Test-Table ($clean + '71 67 254:0 /work /mnt rw - ext4 /dev/vda rw') | Should -Match "'/mnt' .* is a filesystem of this machine"
        }
        It 'refuses this machine''s proc, shared by superblock' {
            Test-Table ($clean + '71 67 0:21 / /mnt rw - proc proc rw') | Should -Match 'filesystem of this machine'
        }
        It 'refuses a block device that is not one of the host''s loop devices' {
            Test-Table ($clean + '71 67 8:17 / /mnt rw - ext4 /dev/sdb1 rw') | Should -Match 'not one of the host''s own loop devices'
        }
        It 'refuses btrfs on an anonymous device whose source is not the host''s' {
            Test-Table ($clean + '71 67 0:77 / /mnt rw - btrfs /dev/loop3 rw') | Should -Match 'comes from a device that is not one of the host''s own'
        }
        It 'refuses a / that is not the host''s root loop device' {
            $t = @('67 44 7:9 / / rw - ext4 /dev/loop9 rw') + $clean[2..3]
            Test-Table $t -HostRootDev '7:9' | Should -Match "the host's / comes from '/dev/loop9'"
        }
        It 'refuses a / whose stat is this machine''s /' {
            Test-Table $clean -HostRootDev '254:0' | Should -Match "the host's / is this machine's /"
        }
        It 'refuses an empty mount table' {
            Test-Table @() | Should -Match 'no mount table'
        }
    }
}

Describe 'Teardown of simulated hosts' -Tag 'SimHost', 'WholeHost' {
    It 'thaws a host left frozen with writers asleep on / and a data filesystem, and leaves nothing behind' {
        $h = New-SimHost -Name 'simhost-frozen' -DataFilesystem ext4
        try {
            $guard = Start-SimHostThawGuard $h -AfterSec 60   # behind the teardown; Remove-SimHost stops it when all is gone
            Invoke-SimHost $h 'fsfreeze -f /data1 && fsfreeze -f /' -Check | Out-Null
            $w1 = Start-HostWriter $h '/var/tmp/probe' 'teardown-root'
            $w2 = Start-HostWriter $h '/data1/probe' 'teardown-data'
            Wait-HostProcessState $h $w1 'D' | Should -Be 'D'
            Wait-HostProcessState $h $w2 'D' | Should -Be 'D'
            $sw = [Diagnostics.Stopwatch]::StartNew()
        }
        finally {
            Remove-SimHost $h
        }
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 30
        Get-SimHostLeak $h | Should -BeNullOrEmpty
        $guard.Process.HasExited | Should -BeTrue -Because 'Remove-SimHost stops the host''s thaw guards once all is gone'
    }

    It 'thaws through a writer left in the host when its init died while / was frozen' {
        # The pid namespace cannot end while a writer sleeps on the frozen /: Remove-SimHost thaws through that
        # writer's /proc/PID/root, then the namespace goes.
        $h = New-SimHost -Name 'simhost-initdied'
        try {
            $guard = Start-SimHostThawGuard $h -AfterSec 60
            Invoke-SimHost $h 'fsfreeze -f /' -Check | Out-Null
            $w = Start-HostWriter $h '/var/tmp/probe' 'initdied'
            Wait-HostProcessState $h $w 'D' | Should -Be 'D'
            & kill -KILL $h.InitPid
            Start-Sleep -Milliseconds 300
            @(Get-SimHostLeak $h | Where-Object { $_ -like '*process * of its pid namespace is running' }) | Should -Not -BeNullOrEmpty -Because 'the writer holds the namespace'
        }
        finally {
            Remove-SimHost $h
        }
        Get-SimHostLeak $h | Should -BeNullOrEmpty
    }

    It 'thaws a filesystem that its namespace''s end left unmounted and frozen (the loop device stays held)' {
        # Killing the init of a frozen host without a thaw unmounts its / while frozen: the superblock stays, frozen
        # and invisible, and holds the loop device. Remove-SimHost mounts the device again in a private namespace,
        # thaws it there and lets it go.
        $h = New-SimHost -Name 'simhost-unmounted'
        try {
            $guard = Start-SimHostThawGuard $h -AfterSec 60
            Invoke-SimHost $h 'fsfreeze -f /' -Check | Out-Null
            & kill -KILL $h.InitPid
        }
        finally {
            Remove-SimHost $h
        }
        Get-SimHostLeak $h | Should -BeNullOrEmpty
    }

    It 'finds and removes a host whose test process died before its teardown' {
        $r = Invoke-ChildPwsh -TimeoutMs 120000 -Environment @{ SIMHOST_PSM1 = "$PSScriptRoot/SimHost/SimHost.psm1" } -Command @'
$ErrorActionPreference = 'Stop'
Import-Module $env:SIMHOST_PSM1
$h = New-SimHost -Name 'simhost-orphan'
$h.Dir
exit 0   # no Remove-SimHost: the host outlives this process
'@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $dir = $r.Lines[-1]
        $orphans = @(Get-SimHost -Orphaned | Where-Object Dir -EQ $dir)
        $orphans.Count | Should -Be 1
        $orphans[0].Name | Should -Be 'simhost-orphan'
        Get-SimHostLeak $orphans[0] | Should -Not -BeNullOrEmpty -Because 'it is still running'
        Remove-SimHost $orphans[0]
        Get-SimHostLeak $orphans[0] | Should -BeNullOrEmpty
        Test-Path $dir | Should -BeFalse
    }

    It 'puts a host in a network namespace it is given, with a sysfs of its own' {
        # A network namespace held by a sleeping process of ours (no 'ip netns add': it leaves a mount on /run/netns).
        $holder = [Diagnostics.Process]::Start('unshare', @('--net', 'sleep', '300'))
        try {
            $netns = "/proc/$($holder.Id)/ns/net"
            $mine = [IO.FileInfo]::new('/proc/self/ns/net').LinkTarget
            $deadline = [DateTime]::UtcNow.AddSeconds(10)
            while ([IO.FileInfo]::new($netns).LinkTarget -eq $mine -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
            [IO.FileInfo]::new($netns).LinkTarget | Should -Not -Be $mine
            $h = New-SimHost -Name 'simhost-netns' -NetNs $netns
            try {
                $r = Invoke-SimHost $h 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; stat -f -c %T /sys; ls /sys/class/net' -Check
                $r.Lines[0] | Should -Be 'lo'
                $r.Lines.Count | Should -Be 3
                $r.Lines[1] | Should -Be 'sysfs'
                $r.Lines[2] | Should -Be 'lo'
                (Get-HostMountInfo $h | Where-Object MountPoint -EQ '/sys').FsType | Should -Be 'sysfs'
            }
            finally { Remove-SimHost $h }
            Get-SimHostLeak $h | Should -BeNullOrEmpty
        }
        finally {
            $holder.Kill()
            $null = $holder.WaitForExit(5000)
        }
    }
}
