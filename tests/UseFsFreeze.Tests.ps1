#Requires -Modules Pester
# Use-FsFreeze thaws on every way out of the scriptblock, and only then passes its output on.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
}

Describe 'Use-FsFreeze' -Tag 'UseFsFreeze' {
    BeforeAll {
        $fs = New-LoopFilesystem -Type ext4
        $other = New-LoopFilesystem -Type xfs
    }
    # Every test here must end thawed; this is the net if one does not.
    AfterEach { & fsfreeze -u $fs.MountPoint 2>$null; & fsfreeze -u $other.MountPoint 2>$null }
    AfterAll { Remove-LoopFilesystem $fs; Remove-LoopFilesystem $other }

    It 'runs the scriptblock frozen and passes its output on only after the thaw' {
        $seen = Use-FsFreeze -Path $fs.MountPoint -ScriptBlock { 'first'; Test-IsFrozen $fs.MountPoint } |
            ForEach-Object { [pscustomobject]@{ Value = $_; FrozenDownstream = Test-IsFrozen $fs.MountPoint } }
        $seen.Value | Should -Be @('first', $true) -Because 'the scriptblock saw its filesystem frozen'
        $seen.FrozenDownstream | Should -Be @($false, $false) -Because 'downstream runs after the thaw'
    }

    It 'collects the scope''s output with no command a caller''s function or alias could replace (a ForEach-Object function here)' {
        # Defined in the session Use-FsFreeze runs the scriptblock in: a lookup of ForEach-Object would find it.
        function global:ForEach-Object { throw 'the caller''s ForEach-Object ran' }
        try {
            $out = @(Use-FsFreeze -Path $fs.MountPoint -TimeoutSec 0 -ScriptBlock { 'one'; 'two' })
        }
        finally { Remove-Item Function:\ForEach-Object -ErrorAction SilentlyContinue }
        $out | Should -Be @('one', 'two')
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'holds a writer during the scriptblock and releases it after (timeout <_>)' -ForEach 60, 0 {
        $probe = [ref] $null
        Use-FsFreeze -Path $fs.MountPoint -TimeoutSec $_ -ScriptBlock {
            $probe.Value = Start-ProbeWriter $fs.MountPoint
            Wait-WriterBlocked $probe.Value
        } | Should -BeTrue -Because 'a write to the frozen filesystem sleeps in D state until the thaw'
        Wait-ProbeWriter $probe.Value | Should -BeTrue
        $probe.Value.Process.ExitCode | Should -Be 0
    }

    It 'passes the scriptblock''s errors and warnings on through its own streams, after the thaw' {
        # -ErrorAction Continue inside: the scriptblock runs with the caller's preference, which Pester sets to Stop.
        $out = Use-FsFreeze -Path $fs.MountPoint -ScriptBlock { Write-Error 'inner error' -ErrorAction Continue; Write-Warning 'inner warning'; 'after' } `
            -ErrorVariable err -WarningVariable warn -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        $out | Should -Be 'after'
        $err.Count | Should -Be 1
        "$($err[0])" | Should -Be 'inner error'
        "$warn" | Should -Be 'inner warning'

        $merged = Use-FsFreeze -Path $fs.MountPoint -ScriptBlock { Write-Error 'inner error' -ErrorAction Continue; 'after' } -ErrorAction Continue 2>&1 |
            ForEach-Object { [pscustomobject]@{ Kind = $_.GetType().Name; FrozenDownstream = Test-IsFrozen $fs.MountPoint } }
        $merged.Kind | Should -Be @('ErrorRecord', 'String')
        $merged.FrozenDownstream | Should -Be @($false, $false)
    }

    It 'turns a scriptblock error into a terminating one under its own -ErrorAction Stop, after the thaw' {
        # The caller's preference is Continue, so only Use-FsFreeze's -ErrorAction can make the error terminating.
        $ErrorActionPreference = 'Continue'
        { Use-FsFreeze -Path $fs.MountPoint -ScriptBlock { Write-Error 'inner error'; 'output' } -ErrorAction Stop } | Should -Throw '*inner error*'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'gives the scriptblock all FrozenFilesystem objects as its first argument' {
        $got = Use-FsFreeze -Path $fs.MountPoint, $other.MountPoint -ScriptBlock {
            param($frozen)
            [pscustomobject]@{ ArgCount = $args.Count + 1; Frozen = $frozen }
        }
        $got.ArgCount | Should -Be 1
        @($got.Frozen).Count | Should -Be 2
        $got.Frozen | ForEach-Object { $_ | Should -BeOfType ([FsFreeze.FrozenFilesystem]) }
        $got.Frozen.MountPoint | Sort-Object | Should -Be (@($fs.MountPoint, $other.MountPoint) | Sort-Object)
        Test-IsFrozen $other.MountPoint | Should -BeFalse
    }

    It 'thaws when the scriptblock throws, and the error propagates' {
        { Use-FsFreeze -Path $fs.MountPoint, $other.MountPoint -ScriptBlock { throw 'boom inside' } } |
            Should -Throw '*boom inside*'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        Test-IsFrozen $other.MountPoint | Should -BeFalse
    }

    It 'thaws when a downstream Select-Object -First stops the pipeline' {
        $first = Use-FsFreeze -Path $fs.MountPoint -ScriptBlock { 1..10 } | Select-Object -First 1
        $first | Should -Be 1
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        # And the statement after a stopped pipeline still runs in this shell, with the filesystem writable.
        $probe = Start-ProbeWriter $fs.MountPoint
        Wait-ProbeWriter $probe | Should -BeTrue
    }

    It 'thaws on Ctrl+C (Stop() of the PowerShell instance while the scriptblock sleeps)' {
        $signal = [Threading.ManualResetEventSlim]::new($false)
        $ps = [powershell]::Create()
        $null = $ps.AddScript({
                param($module, $mountPoint, $signal)
                Import-Module $module
                Use-FsFreeze -Path $mountPoint -ScriptBlock { $signal.Set(); Start-Sleep -Seconds 120 }
            }).AddArgument("$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1").AddArgument($fs.MountPoint).AddArgument($signal)
        $null = $ps.BeginInvoke()
        try {
            $signal.Wait(30000) | Should -BeTrue -Because 'the scriptblock starts once the set is frozen'
            Test-IsFrozen $fs.MountPoint | Should -BeTrue
            $stop = $ps.BeginStop($null, $null)
            $stop.AsyncWaitHandle.WaitOne(30000) | Should -BeTrue -Because 'Stop() ends the sleep'
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            Test-IsFrozen $fs.MountPoint | Should -BeFalse
        }
        finally {
            & fsfreeze -u $fs.MountPoint 2>$null   # thaw before Dispose, which would wait for a stuck pipeline
            $ps.Dispose()
        }
    }

    It 'reports a failed thaw as FsFreeze.NotFrozen instead of swallowing it' {
        # The scriptblock thaws behind Use-FsFreeze's back, so Use-FsFreeze's own FITHAW gets EINVAL.
        $out = Use-FsFreeze -Path $fs.MountPoint -ScriptBlock { & fsfreeze -u $fs.MountPoint; 'done' } -ErrorVariable err -ErrorAction SilentlyContinue
        $out | Should -Be 'done'
        $err.Count | Should -Be 1
        $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.NotFrozen|InvalidOperation|$($fs.MountPoint)"
    }

    It 'reports a failed thaw also when the scriptblock threw' {
        $caught = $null
        try { Use-FsFreeze -Path $fs.MountPoint -ScriptBlock { & fsfreeze -u $fs.MountPoint; throw 'boom after thaw' } -ErrorVariable err -ErrorAction SilentlyContinue }
        catch { $caught = $_ }
        $caught | Should -BeLike '*boom after thaw*'
        $err | Where-Object { $_ -is [Management.Automation.ErrorRecord] -and $_.FullyQualifiedErrorId -like 'FsFreeze.*' } |
            Get-ErrorSummary | Should -Be "FsFreeze.NotFrozen|InvalidOperation|$($fs.MountPoint)"
    }
}

Describe 'Use-FsFreeze and a real SIGINT (Ctrl+C) to a child pwsh' -Tag 'UseFsFreeze' {
    BeforeAll { $fs = New-LoopFilesystem -Type ext4 }
    AfterAll { Remove-LoopFilesystem $fs }

    It 'thaws when a child pwsh gets SIGINT while the scriptblock sleeps (timeout <_>)' -ForEach 60, 0 {
        # With 0 no watchdog exists to thaw by a deadline: only Use-FsFreeze's own way out can thaw. With 60 the
        # deadline is far beyond the test's bounds, so a thaw within them is Use-FsFreeze's too.
        $ready = "$($fs.Root)/ready-$_"   # on /, beside the mount: never write to the frozen filesystem
        $net = Start-IndependentThaw $fs.MountPoint -Seconds 90
        $child = Start-BackgroundPwsh -DefaultSigInt -Environment @{ MP = $fs.MountPoint; READY = $ready; T = "$_" } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
Use-FsFreeze -Path $env:MP -TimeoutSec ([int]$env:T) -ScriptBlock { Set-Content -LiteralPath $env:READY 'frozen'; Start-Sleep -Seconds 120 }
'@
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while (-not (Test-Path -LiteralPath $ready) -and [DateTime]::UtcNow -lt $deadline -and -not $child.Process.HasExited) { Start-Sleep -Milliseconds 100 }
            Test-Path -LiteralPath $ready | Should -BeTrue -Because 'the scriptblock runs once the set is frozen'
            Test-IsFrozen $fs.MountPoint | Should -BeTrue
            Invoke-Native kill -INT $child.Process.Id | Out-Null
            $child.Process.WaitForExit(30000) | Should -BeTrue -Because 'SIGINT stops the pipeline and pwsh exits'
            Test-IsFrozen $fs.MountPoint | Should -BeFalse
            Get-FsFreezeStatus -Path $fs.MountPoint | Should -BeNullOrEmpty -Because 'no record of the freeze is left behind'
        }
        finally {
            & fsfreeze -u $fs.MountPoint 2>$null
            Stop-BackgroundPwsh $child -WaitMs 0
            Stop-IndependentThaw $net
        }
    }
}

Describe 'Use-FsFreeze -TimeoutSec 0 (in this process, no watchdog)' -Tag 'UseFsFreeze' {
    BeforeAll {
        $fs = New-LoopFilesystem -Type ext4
        $stateDir = New-TestDirectory -Prefix 'fsfreeze-state'
        Invoke-Native chmod 700 $stateDir | Out-Null
        $savedStateDir = $env:FSFREEZE_STATE_DIR
        $env:FSFREEZE_STATE_DIR = $stateDir
    }
    AfterEach { & fsfreeze -u $fs.MountPoint 2>$null }
    AfterAll {
        $env:FSFREEZE_STATE_DIR = $savedStateDir
        Remove-LoopFilesystem $fs
        # FsFreeze put its state on a tmpfs of its own there: unmount it (lazily if a straggler holds it)
        for ($i = 0; $i -lt 5 -and (& findmnt -n --mountpoint $stateDir); $i++) { & umount -l $stateDir }
        Remove-Item -LiteralPath $stateDir -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'runs the scriptblock frozen with no watchdog and no deadline, lists the freeze meanwhile, and thaws after' {
        $inside = Use-FsFreeze -Path $fs.MountPoint -TimeoutSec 0 -ScriptBlock {
            param($frozen)
            [pscustomobject]@{
                Frozen    = Test-IsFrozen $fs.MountPoint
                Deadline  = $frozen[0].Deadline
                Status    = @(Get-FsFreezeStatus -Path $fs.MountPoint)
                # A watchdog holding this freeze would listen on @fsfreeze/<id> (this process may keep an idle spare one).
                Watchdogs = @(Get-Content /proc/net/unix | Where-Object { $_ -like "*@fsfreeze/$($frozen[0].FreezeId)" })
            }
        }
        $inside.Frozen | Should -BeTrue
        $inside.Deadline | Should -BeNullOrEmpty
        $inside.Watchdogs | Should -BeNullOrEmpty -Because 'no timeout, no watchdog'
        $inside.Status.Count | Should -Be 1
        $inside.Status[0].WatchdogPid | Should -Be 0
        $inside.Status[0].FreezerPid | Should -Be $PID
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        Get-ChildItem -LiteralPath $stateDir -Filter '*.frozen' | Should -BeNullOrEmpty -Because 'its record is no longer a held freeze after the thaw'
        (Get-ChildItem -LiteralPath $stateDir -Filter '*.thawed').Count | Should -Be 1 -Because 'it is kept a day as thawed, for "what happened to my freeze"'
    }

    It 'thaws when the scriptblock throws, and ends its record' {
        { Use-FsFreeze -Path $fs.MountPoint -TimeoutSec 0 -ScriptBlock { throw 'boom inside' } } | Should -Throw '*boom inside*'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        Get-ChildItem -LiteralPath $stateDir -Filter '*.frozen' | Should -BeNullOrEmpty
    }

    It 'does not rescue a scope stuck on its own frozen filesystem: there is no timeout (the reason for one)' {
        # The scope writes into its frozen filesystem in a child pwsh; nothing thaws it but the test. With a
        # watchdog (any -TimeoutSec but 0) the deadline would. Held still after 3 s: no hidden timer.
        $child = Start-BackgroundPwsh -Environment @{ MP = $fs.MountPoint } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
Use-FsFreeze -Path $env:MP -TimeoutSec 0 -ScriptBlock { Set-Content -LiteralPath (Join-Path $env:MP 'in-scope.txt') 'x' }
'done'
'@
        $net = Start-IndependentThaw $fs.MountPoint -Seconds 60
        try {
            Wait-ProcessState -ProcessId $child.Process.Id -State D -WChan 'percpu_rwsem_wait' -TimeoutMs 30000 | Should -BeTrue -Because 'the scope writes to its own frozen filesystem'
            Start-Sleep -Seconds 3   # longer than any deadline the tests use (2 s)
            Test-IsFrozen $fs.MountPoint | Should -BeTrue
            Get-ChildItem -LiteralPath $stateDir -Filter '*.timeout' | Should -BeNullOrEmpty
        }
        finally { & fsfreeze -u $fs.MountPoint 2>$null; Stop-IndependentThaw $net }
        Read-BackgroundLine $child -TimeoutMs 30000 | Should -Be 'done'
        Stop-BackgroundPwsh $child
    }
}

Describe 'Use-FsFreeze when the freeze fails' -Tag 'UseFsFreeze' {
    BeforeAll {
        # ext4 nested in the tmpfs: frozen first (deeper), then the tmpfs fails.
        $tmp = New-LoopFilesystem -Type tmpfs
        $ext4 = New-NestedLoopFilesystem -Parent $tmp -Type ext4 -MountName 'ext4'
    }
    AfterAll { Remove-LoopFilesystem $ext4; Remove-LoopFilesystem $tmp }

    It 'throws FsFreeze.NotSupported, runs no scriptblock and leaves ext4 thawed' {
        $ran = [ref] $false
        $caught = $null
        try { Use-FsFreeze -Path $ext4.MountPoint, $tmp.MountPoint -ScriptBlock { $ran.Value = $true } }
        catch { $caught = $_ }
        $caught | Get-ErrorSummary | Should -Be "FsFreeze.NotSupported|NotImplemented|$($tmp.MountPoint)"
        $caught.Exception.Message | Should -BeLike "*tmpfs*thawed again*'$($ext4.MountPoint)'*"
        $ran.Value | Should -BeFalse
        Test-IsFrozen $ext4.MountPoint | Should -BeFalse
    }
}
