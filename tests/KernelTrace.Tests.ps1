#Requires -Modules Pester
# tests/Benchmarks/KernelTrace.psm1: the parser and the pairing on a real captured trace (Fixtures/kernel-trace-sample.txt,
# made by Fixtures/New-KernelTraceSample.ps1), and real traced runs of fsfreeze(8) on a loop filesystem of our own.
# No timing is asserted: the machine has two cores and is shared.

BeforeAll {
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    Import-Module $PSScriptRoot/Benchmarks/KernelTrace.psm1 -Force
    $script:sample = Get-Content -Raw (Join-Path $PSScriptRoot 'Fixtures/kernel-trace-sample.txt')
    function script:Get-MyInstances { @(Get-ChildItem /sys/kernel/tracing/instances -Directory -ErrorAction Ignore | Where-Object Name -Like "fsfreeze-trace-$PID-*") }
    function script:ms([long] $FromNs, [long] $ToNs) { [Math]::Round(($ToNs - $FromNs) / 1e6, 3) }
}

Describe 'ConvertFrom-KernelTrace on a captured trace' -Tag 'KernelTrace', 'Bench' {
    BeforeAll { $script:calls = @($script:sample | ConvertFrom-KernelTrace) }

    It 'finds every FIFREEZE and FITHAW of the capture, in order, and nothing else' {
        # rawpair -n 2 (4), fsfreeze(8) -f -f -u -u (4), rawpair A B (4), Invoke-FsFreeze -TimeoutSec 0 (2), watchdog (2).
        $calls.Count | Should -Be 16
        ($calls.Cmd -join ',') | Should -Be ('FIFREEZE,FITHAW,FIFREEZE,FITHAW,FIFREEZE,FIFREEZE,FITHAW,FITHAW,' +
            'FIFREEZE,FIFREEZE,FITHAW,FITHAW,FIFREEZE,FITHAW,FIFREEZE,FITHAW')
        ($calls.Pid -join ',') | Should -Be '31682,31682,31682,31682,31685,31686,31687,31689,31690,31690,31690,31690,31646,31646,31691,31691'
        $calls | ForEach-Object { $_.ExitNs | Should -BeGreaterThan $_.EnterNs }
    }

    It 'reads one call completely: timestamps in ns on the mono clock, fd, return' {
        $c = $calls[0]
        $c.Comm | Should -Be 'rawpair'
        $c.Tid | Should -Be 31682
        $c.Fd | Should -Be 3
        $c.Cpu | Should -Be 1
        $c.EnterNs | Should -Be 716682456000
        $c.ExitNs | Should -Be 716748121000
        $c.Return | Should -Be 0
        $c.DurationMs | Should -Be 65.665
    }

    It 'gives failed calls their -errno (EBUSY, EINVAL)' {
        $calls[5].Return | Should -Be -16
        $calls[5].Pid | Should -Be 31686
        $calls[7].Return | Should -Be -22
        $calls[7].Cmd | Should -Be 'FITHAW'
    }

    It 'reads a comm with a space, a hex fd and a thread of another process' {
        $freeze = $calls[12]
        $freeze.Comm | Should -Be 'Pipeline Execut'
        $freeze.Tid | Should -Be 31663
        $freeze.Pid | Should -Be 31646
        $freeze.Fd | Should -Be 164   # printed 0xa4
        # The ioctl exits before its entry (0.889980) and after its own exit (0.943776) are other ioctls of that thread.
        $freeze.EnterNs | Should -Be 716900509000
        $freeze.ExitNs | Should -Be 716928828000
        $calls[13].ExitNs | Should -Be 716944758000
    }

    It 'pairs the watchdog''s FIFREEZE (its freeze thread) and FITHAW (its main thread) with their own exits' {
        $calls[14].Comm | Should -Be 'freeze'
        $calls[14].Tid | Should -Be 31695
        $calls[14].Pid | Should -Be 31691
        $calls[14].Fd | Should -Be 12
        $calls[14].ExitNs | Should -Be 716963133000   # not 716963173000, the next (ENOTTY) exit of that thread
        $calls[15].Tid | Should -Be 31691
        $calls[15].ExitNs | Should -Be 716969071000
    }

    It 'also takes lines, and Stop-KernelTrace''s object' {
        @($script:sample -split "`n" | ConvertFrom-KernelTrace).Count | Should -Be 16
        @([pscustomobject]@{ Text = $script:sample; LostEvents = 0 } | ConvertFrom-KernelTrace).Count | Should -Be 16
    }

    It 'drops a call whose exit may have been lost instead of pairing it with a later exit' {
        $lines = [Collections.Generic.List[string]]($script:sample -split "`n")
        $at = $lines.FindIndex({ param($l) $l -like '*716.900509:*' })
        $lines.Insert($at + 1, 'CPU:0 [LOST 3 EVENTS]')
        $cut = @($lines | ConvertFrom-KernelTrace -WarningVariable warned -WarningAction SilentlyContinue)
        $cut.Count | Should -Be 15
        $cut | Where-Object EnterNs -EQ 716900509000 | Should -BeNullOrEmpty
        $warned | Should -Not -BeNullOrEmpty
    }
}

Describe 'Measure-FreezeWindow on a captured trace' -Tag 'KernelTrace', 'Bench' {
    BeforeAll { $script:calls = @($script:sample | ConvertFrom-KernelTrace) }

    It 'pairs single freezes in sequence, across processes (fsfreeze(8)), leaving failed calls out' {
        $rounds = @($calls | Measure-FreezeWindow -FromNs 716682456000 -ToNs 716797538000)
        $rounds.Count | Should -Be 3   # rawpair twice, then fsfreeze -f / fsfreeze -u
        $rounds[2].Failed | Should -Be 2
        $m = $rounds[2].Members[0]
        $m.FreezePid | Should -Be 31685
        $m.ThawPid | Should -Be 31687
        $m.FdMatch | Should -BeNullOrEmpty
        $rounds[2].SetHoldMs | Should -Be (ms 716769044000 716793039000)
        $rounds[2].UserMs | Should -Be (ms 716774628000 716786606000)
        $m.HoldMs | Should -Be $rounds[2].SetHoldMs
        $rounds[0].UserMs | Should -Be (ms 716748121000 716748129000)
        $rounds[0].Members[0].FdMatch | Should -BeTrue
    }

    It 'measures a set of two: hold, slowest and summed FIFREEZE, the user-space part, members thawed in reverse' {
        $r = @($calls | Measure-FreezeWindow -ProcessId 31690 -SetSize 2)
        $r.Count | Should -Be 1
        $r = $r[0]
        $r.SetHoldMs | Should -Be (ms 716801598000 716849437000)
        $r.SlowestFreezeMs | Should -Be (ms 716802536000 716848760000)
        [Math]::Round($r.SumFreezeMs, 3) | Should -Be ((ms 716801598000 716802531000) + (ms 716802536000 716848760000))
        $r.FreezeSpanMs | Should -Be (ms 716801598000 716848760000)
        # Time in no call: the gaps between the four calls (5 + 9 + 3 us).
        [Math]::Round($r.UserMs, 3) | Should -Be 0.017
        $r.Members[0].FreezeFd | Should -Be 3
        $r.Members[0].ThawFd | Should -Be 3
        $r.Members[0].HoldMs | Should -Be $r.SetHoldMs
        $r.Members[1].HoldMs | Should -Be (ms 716802536000 716849079000)
        $r.FdMismatches | Should -Be 0
    }

    It 'pairs by fd on request, and flags an order that disagrees with the fds' {
        $byFd = (@($calls | Measure-FreezeWindow -ProcessId 31690 -SetSize 2 -ThawOrder ByFd))[0]
        $byFd.Members[1].ThawFd | Should -Be 4
        $byFd.FdMismatches | Should -Be 0
        $forward = (@($calls | Measure-FreezeWindow -ProcessId 31690 -SetSize 2 -ThawOrder Forward))[0]
        $forward.FdMismatches | Should -Be 2
    }

    It 'measures the in-process cmdlets and the watchdog, thread by thread' {
        $pwsh = (@($calls | Measure-FreezeWindow -ProcessId 31646))[0]
        $pwsh.SetHoldMs | Should -Be (ms 716900509000 716944758000)
        $pwsh.UserMs | Should -Be (ms 716928828000 716944265000)
        $dog = (@($calls | Measure-FreezeWindow -ProcessId 31691))[0]
        $dog.Members[0].FreezeTid | Should -Be 31695
        $dog.Members[0].ThawTid | Should -Be 31691
        $dog.SetHoldMs | Should -Be (ms 716962243000 716969071000)
        $dog.UserMs | Should -Be (ms 716963133000 716968613000)
    }

    It 'refuses calls that do not form whole rounds' {
        { $calls | Measure-FreezeWindow } | Should -Throw '*not 1 FIFREEZE then 1 FITHAW*'
        { $calls | Measure-FreezeWindow -ProcessId 31685 } | Should -Throw '*do not form whole rounds*'
    }

    It 'returns nothing for no calls' {
        @(Measure-FreezeWindow -Call @()).Count | Should -Be 0
    }
}

Describe 'A real traced freeze+thaw with fsfreeze(8)' -Tag 'KernelTrace', 'Bench' {
    BeforeAll {
        $script:fs = New-LoopFilesystem -Type ext4
        # An independent thaw in a session of its own, in case this process cannot thaw (a hang, a crash).
        $psi = [Diagnostics.ProcessStartInfo]::new('setsid')
        foreach ($a in 'sh', '-c', 'exec </dev/null >/dev/null 2>&1; sleep 120; mountpoint -q "$1" && fsfreeze -u "$1"', 'kt-guard', $fs.MountPoint) { $psi.ArgumentList.Add($a) }
        $psi.UseShellExecute = $false
        $script:guard = [Diagnostics.Process]::Start($psi)

        function script:Invoke-Fsfreeze8([string] $Op, [string] $Path) {
            # Started here, so the test knows the pid the trace must show.
            $p = [Diagnostics.Process]::Start('fsfreeze', @($Op, $Path))
            if (-not $p.WaitForExit(30000)) { throw "fsfreeze $Op did not finish." }
            if ($p.ExitCode) { throw "fsfreeze $Op failed: $($p.ExitCode)." }
            $p.Id
        }
        function script:Test-OnePair($Text, [int] $FreezerPid, [int] $ThawerPid) {
            $mine = @($Text | ConvertFrom-KernelTrace | Where-Object { $_.Pid -in $FreezerPid, $ThawerPid })
            $mine.Count | Should -Be 2
            $mine[0].Cmd | Should -Be 'FIFREEZE'
            $mine[0].Pid | Should -Be $FreezerPid
            $mine[0].Comm | Should -Be 'fsfreeze'
            $mine[1].Cmd | Should -Be 'FITHAW'
            $mine[1].Pid | Should -Be $ThawerPid
            foreach ($c in $mine) {
                $c.Return | Should -Be 0
                $c.ExitNs | Should -BeGreaterThan $c.EnterNs
            }
            $round = @($mine | Measure-FreezeWindow)
            $round.Count | Should -Be 1
            $round[0].SetHoldMs | Should -BeGreaterThan 0
            $round[0].UserMs | Should -BeGreaterThan 0   # two processes: at least a process start between the calls
            $round[0].Members[0].FreezePid | Should -Be $FreezerPid
            $round[0].Members[0].ThawPid | Should -Be $ThawerPid
        }
    }
    AfterAll {
        & fsfreeze -u $fs.MountPoint 2>$null
        try { if (-not $guard.HasExited) { $guard.Kill($true) } } catch { }   # the tree: its sleep too
        Remove-LoopFilesystem $fs
        # Whatever happened above: no instance of this process is left behind.
        foreach ($i in Get-MyInstances) { try { [IO.Directory]::Delete($i.FullName) } catch { } }
    }

    It 'sees the FIFREEZE and the FITHAW of two processes machine-wide, with their pids, in a removed instance' {
        $trace = Start-KernelTrace
        try {
            Test-Path -LiteralPath $trace.Path | Should -BeTrue
            Get-Content "$($trace.Path)/trace_clock" | Should -Match '\[mono\]'
            $t0 = Get-MonotonicNs
            $freezer = Invoke-Fsfreeze8 '-f' $fs.MountPoint
            $thawer = Invoke-Fsfreeze8 '-u' $fs.MountPoint
            $t1 = Get-MonotonicNs
        }
        finally { $text = Stop-KernelTrace $trace }
        Test-Path -LiteralPath $trace.Path | Should -BeFalse
        Test-OnePair $text $freezer $thawer
        # The trace clock is CLOCK_MONOTONIC: the calls lie inside the window this process timed.
        $mine = @($text | ConvertFrom-KernelTrace | Where-Object Pid -In $freezer, $thawer)
        $mine[0].EnterNs | Should -BeGreaterOrEqual $t0
        $mine[1].ExitNs | Should -BeLessOrEqual $t1
    }

    It 'follows the processes this one starts with -ProcessId, and sees nobody else' {
        $trace = Start-KernelTrace -ProcessId $PID
        try {
            $freezer = Invoke-Fsfreeze8 '-f' $fs.MountPoint
            $thawer = Invoke-Fsfreeze8 '-u' $fs.MountPoint
        }
        finally { $text = Stop-KernelTrace $trace }
        Test-OnePair $text $freezer $thawer
        # Other people's freezes on this machine are not in it: every call is ours.
        @($text | ConvertFrom-KernelTrace | Where-Object { $_.Pid -notin $freezer, $thawer }).Count | Should -Be 0
    }

    It 'forgets what it recorded before Clear-KernelTrace' {
        $trace = Start-KernelTrace -ProcessId $PID
        try {
            $null = Invoke-Fsfreeze8 '-f' $fs.MountPoint
            $null = Invoke-Fsfreeze8 '-u' $fs.MountPoint
            Clear-KernelTrace $trace
            $freezer = Invoke-Fsfreeze8 '-f' $fs.MountPoint
            $thawer = Invoke-Fsfreeze8 '-u' $fs.MountPoint
        }
        finally { $text = Stop-KernelTrace $trace }
        @($text | ConvertFrom-KernelTrace).Count | Should -Be 2
        Test-OnePair $text $freezer $thawer
    }

    It 'removes the instance when the traced code throws' {
        $trace = Start-KernelTrace -ProcessId $PID
        { try { throw 'the traced code failed' } finally { $null = Stop-KernelTrace $trace } } | Should -Throw 'the traced code failed'
        Test-Path -LiteralPath $trace.Path | Should -BeFalse
    }

    It 'removes the instance when Start-KernelTrace itself fails' {
        $before = @(Get-MyInstances).Count
        { Start-KernelTrace -ProcessId 2147483647 } | Should -Throw '*No process*'
        @(Get-MyInstances).Count | Should -Be $before
    }

    It 'leaves no instance of this process behind' {
        Get-MyInstances | Should -BeNullOrEmpty
    }
}
