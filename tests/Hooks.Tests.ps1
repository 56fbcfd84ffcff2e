#Requires -Modules Pester
# Issue 10, hooks: a hook directory whose executables run with "freeze" before the flush and the first FIFREEZE, and
# with "thaw" after the thaw (or after a freeze that failed), exactly once, whoever performs the thaw.
#
# Real processes on real loop filesystems these tests mounted. Hooks log to a file on this machine's /tmp (never a
# member) and probe their own member with fsfreeze(8) (EBUSY = frozen). Every test has an independent thaw behind it
# (Start-IndependentThaw) and one teardown that stops our watchdogs, thaws, then kills children and unmounts. Hook
# directories are made in temp directories only: /etc/fsfreeze/hooks.d of this machine is never created or used.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    Import-Module $PSScriptRoot/ExactnessHelpers.psm1 -Force

    $script:SavedStateDir = $env:FSFREEZE_STATE_DIR
    $script:StateRoot = New-StateRoot
    $env:FSFREEZE_STATE_DIR = $script:StateRoot.Dir
    $script:ModuleDirs = @((Resolve-Path $env:FSFREEZE_TEST_MODULE).ProviderPath)

    function New-HookDir {
        # A root-owned 0755 directory under /tmp with the given hooks (name = body; body $null = a non-executable file).
        param([System.Collections.Specialized.OrderedDictionary] $Hooks)
        $dir = (Invoke-Native mktemp -d /tmp/fsfreeze-hooks.XXXXXX | Select-Object -Last 1).Trim()
        & chmod 0755 $dir
        foreach ($name in $Hooks.Keys) {
            $path = Join-Path $dir $name
            $body = $Hooks[$name]
            [IO.File]::WriteAllText($path, "#!/bin/sh`n" + ($body ?? 'exit 0') + "`n")
            & chmod ($body -eq $null ? '0644' : '0755') $path
        }
        $script:Dirs.Add($dir)
        $dir
    }

    # What a hook writes to $HOOKLOG: its name, its argument, whether its member is frozen right now (fsfreeze's probe:
    # EBUSY), the thaw reason and the freeze id.
    $script:LogLine = 'mp=$(printf "%s\n" "$FSFREEZE_MOUNTPOINTS" | head -n1); if fsfreeze -f "$mp" 2>/dev/null; then fsfreeze -u "$mp"; st=thawed; else st=frozen; fi; echo "$(basename "$0") $1 $st ${FSFREEZE_THAW_REASON:--} $FSFREEZE_ID" >> "$HOOKLOG"'

    # This process's live watchdogs: one whose freeze failed must end (it held a thread waiting for work once). An idle
    # spare this process kept from an earlier test may be among them: the tests compare with what lived before the call
    # (a spare is never used here: each test sets its own HOOKLOG, so a spare from before it has another environment).
    function Get-LiveWatchdog {
        @(Get-ChildProcessId $PID | Where-Object {
                (Get-ProcessState $_) -notin $null, 'Z' -and (Get-Process -Id $_ -ErrorAction SilentlyContinue).ProcessName -eq 'fsfreeze-watchdog'
            })
    }

    function Read-HookLog { @(if (Test-Path $env:HOOKLOG) { Get-Content $env:HOOKLOG }) }

    function Wait-HookLog([int] $Lines, [double] $TimeoutSec = 20) {
        Wait-Condition -TimeoutSec $TimeoutSec -Condition { @(Read-HookLog).Count -ge $Lines } | Out-Null
        Read-HookLog
    }
}

AfterAll {
    Stop-Watchdog -ProcessId (Get-StateWatchdogPid -Dir $script:StateRoot.Dir) -ModuleDir $script:ModuleDirs
    $env:FSFREEZE_STATE_DIR = $script:SavedStateDir
    Remove-StateRoot $script:StateRoot
    Remove-Item Env:HOOKLOG -ErrorAction SilentlyContinue
}

Describe 'Hooks' -Tag 'Hooks' {
    BeforeEach {
        $script:Dirs = [Collections.Generic.List[string]]::new()
        $script:Children = [Collections.Generic.List[object]]::new()
        $X = New-LoopFilesystem
        $Y = New-LoopFilesystem
        $guard = Start-IndependentThaw -MountPoint $X.MountPoint, $Y.MountPoint -AfterSec 150
        $env:HOOKLOG = Join-Path $TestDrive "hook-$([guid]::NewGuid().ToString('N')).log"
    }
    AfterEach {
        Stop-Watchdog -ProcessId (Get-StateWatchdogPid -Dir $script:StateRoot.Dir) -ModuleDir $script:ModuleDirs
        foreach ($m in $X.MountPoint, $Y.MountPoint) { & fsfreeze -u $m 2>$null }
        Stop-Child $script:Children
        Remove-LoopFilesystem $Y
        Remove-LoopFilesystem $X
        Stop-IndependentThaw $guard
        foreach ($d in $script:Dirs) { Remove-Item -LiteralPath $d -Recurse -Force -ErrorAction SilentlyContinue }
        Reset-StateDirectory $script:StateRoot.Dir
    }

    It 'runs executables in name order with "freeze" before the freeze and "thaw" in reverse after it, skipping what qemu-ga skips (-TimeoutSec <T>)' -ForEach @(@{ T = 0 }, @{ T = 30 }) {
        $dir = New-HookDir ([ordered]@{
                '20-second'             = $LogLine
                '10-first'              = $LogLine
                'mysql-flush.sh.sample' = $LogLine
                '15-backup~'            = $LogLine
                '16-x.dpkg-old'         = $LogLine
                '17-x.rpmnew'           = $LogLine
                '.hidden'               = $LogLine
                '18-not-executable'     = $null
            })
        $inside = [Collections.Generic.List[string]]::new()
        $out = Use-FsFreeze -LiteralPath $X.MountPoint -TimeoutSec $T -HookDirectory $dir -ScriptBlock {
            foreach ($l in Read-HookLog) { $inside.Add($l) }
            $args[0].FreezeId
        } -Verbose 4>&1
        $id = @($out | Where-Object { $_ -is [string] })[0]
        $verbose = @($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)
        @($inside) | Should -Be @("10-first freeze thawed - $id", "20-second freeze thawed - $id") -Because 'freeze hooks run before the first FIFREEZE, in name order'
        Read-HookLog | Should -Be @(
            "10-first freeze thawed - $id", "20-second freeze thawed - $id",
            "20-second thaw thawed thawed $id", "10-first thaw thawed thawed $id")
        $verbose | Should -Contain "Hook directory entry 'mysql-flush.sh.sample' is not run: a name ending in '.sample' (a backup or an example, skipped like qemu-ga does)."
        $verbose | Should -Contain "Hook directory entry '18-not-executable' is not run: not executable."
        @($verbose | Where-Object { $_ -like "Hook '10-first' thaw: exit 0 in *" }).Count | Should -Be 1
    }

    It 'hooks see the set and the freeze id in FSFREEZE_*, a clean stdin and / as their directory' {
        $dir = New-HookDir ([ordered]@{ '10-env' = 'printf "%s|%s|%s|%s|%s|%s\n" "$1" "$FSFREEZE_ACTION" "$FSFREEZE_ID" "$(printf "%s" "$FSFREEZE_MOUNTPOINTS" | tr "\n" ",")" "$(pwd)" "$(cat | wc -c)" >> "$HOOKLOG"' })
        $f = Invoke-FsFreeze -LiteralPath $Y.MountPoint, $X.MountPoint -TimeoutSec 30 -HookDirectory $dir
        $f | Invoke-FsThaw | Out-Null
        $order = ($f.MountPoint) -join ','
        Read-HookLog | Should -Be @("freeze|freeze|$($f[0].FreezeId)|$order|/|0", "thaw|thaw|$($f[0].FreezeId)|$order|/|0")
    }

    It 'a freeze hook that fails aborts the freeze: FsFreeze.HookFailed, nothing frozen, the hooks that ran get "thaw" (-TimeoutSec <T>)' -ForEach @(@{ T = 0 }, @{ T = 30 }) {
        $dir = New-HookDir ([ordered]@{
                '10-ok'   = $LogLine
                '20-fail' = "$LogLine; [ `"`$1`" = freeze ] && { echo 'cannot quiesce the app' >&2; exit 3; }; exit 0"
                '30-late' = $LogLine
            })
        $before = Get-LiveWatchdog
        Invoke-FsFreeze -LiteralPath $X.MountPoint -TimeoutSec $T -HookDirectory $dir -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        ($err | Get-ErrorId) | Should -Be 'FsFreeze.HookFailed'
        $err[0].Exception.Message | Should -BeLike "*'20-fail'*exit 3*cannot quiesce the app*Nothing was frozen*"
        Test-Frozen $X.MountPoint | Should -BeFalse
        $log = @(Read-HookLog | ForEach-Object { ($_ -split ' ')[0..3] -join ' ' })
        $log | Should -Be @('10-ok freeze thawed -', '20-fail freeze thawed -', '20-fail thaw thawed aborted', '10-ok thaw thawed aborted')
        Get-FsFreezeStatus | Should -BeNullOrEmpty
        Wait-Condition -TimeoutSec 5 -Condition { @(Get-LiveWatchdog | Where-Object { $_ -notin $before }).Count -eq 0 } | Should -BeTrue -Because 'a watchdog whose freeze hook failed has nothing to hold and ends'
    }

    It 'a freeze hook that outlives -HookTimeoutSec is killed with its process group and aborts the freeze' {
        $dir = New-HookDir ([ordered]@{ '10-slow' = "$LogLine; [ `"`$1`" = freeze ] && { sleep 300 & echo `$! > `"`$HOOKLOG.bg`"; sleep 300; }; exit 0" })
        $before = Get-LiveWatchdog
        $sw = [Diagnostics.Stopwatch]::StartNew()
        { Use-FsFreeze -LiteralPath $X.MountPoint -HookDirectory $dir -HookTimeoutSec 2 -ScriptBlock { 'never' } } |
            Should -Throw -ErrorId 'FsFreeze.HookFailed,FsFreeze.Commands.UseFsFreezeCommand'
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 10
        Test-Frozen $X.MountPoint | Should -BeFalse
        $bg = [int](Get-Content "$($env:HOOKLOG).bg")
        Wait-Condition -TimeoutSec 5 -Condition { (Get-ProcessState $bg) -in $null, 'Z' } | Should -BeTrue -Because 'its background child was in its process group'
        @(Read-HookLog | ForEach-Object { ($_ -split ' ')[0..3] -join ' ' }) | Should -Be @('10-slow freeze thawed -', '10-slow thaw thawed aborted')
        Wait-Condition -TimeoutSec 5 -Condition { @(Get-LiveWatchdog | Where-Object { $_ -notin $before }).Count -eq 0 } | Should -BeTrue -Because 'a watchdog whose freeze hook timed out has nothing to hold and ends'
    }

    It 'waits for the hook''s exit, not for its output to close: a background child holding stdout (the mysql-flush pattern) holds a lock across the freeze (-TimeoutSec <T>)' -ForEach @(@{ T = 0 }, @{ T = 30 }) {
        # Written like qemu-ga's mysql-flush.sh: a FIFO, a background pipeline that holds "the lock" and inherits the
        # hook's stdout, and a thaw that releases it through the FIFO. The holder notes when it let go.
        $fifo = Join-Path $TestDrive "lock-$T.fifo"
        $dir = New-HookDir ([ordered]@{ '10-lock' = @"
FIFO='$fifo'
case "`$1" in
  freeze)
    mkfifo "`$FIFO" || exit 1
    ( echo holding; read x < "`$FIFO"; echo "released `$(date +%s.%N)" >> "`$HOOKLOG"; rm -f "`$FIFO" ) &
    echo "freeze done" ;;
  thaw)
    [ -p "`$FIFO" ] || exit 1
    echo > "`$FIFO" ;;
esac
"@ })
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $out = Use-FsFreeze -LiteralPath $X.MountPoint -TimeoutSec $T -HookDirectory $dir -ScriptBlock {
            "held=$(Test-Path $fifo) frozen=$(Test-Frozen $X.MountPoint)"
            [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds() / 1000
        } -Verbose 4>&1
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 10 -Because 'the hook exited at once; its background child keeps stdout open'
        $out | Where-Object { $_ -is [string] } | Should -Be 'held=True frozen=True'
        $inScope = [double]@($out | Where-Object { $_ -is [double] })[0]
        $released = [double](@(Wait-HookLog 1)[0] -split ' ')[1]
        $released | Should -BeGreaterThan $inScope -Because 'the lock was held across the freeze and released by the thaw hook'
        @($out | ForEach-Object { "$_" }) | Should -Contain '  10-lock freeze| freeze done'
        Test-Path $fifo | Should -BeFalse
    }

    It 'a failing thaw hook is reported after every thaw hook ran, and the set is thawed' {
        $dir = New-HookDir ([ordered]@{
                '10-a' = $LogLine
                '20-b' = "$LogLine; [ `"`$1`" = thaw ] && { echo 'unlock failed' >&2; exit 4; }; exit 0"
            })
        Use-FsFreeze -LiteralPath $X.MountPoint -HookDirectory $dir -ScriptBlock { 'ran' } -ErrorVariable err -ErrorAction SilentlyContinue | Should -Be 'ran'
        ($err | Get-ErrorId) | Should -Be 'FsFreeze.HookFailed'
        $err[0].Exception.Message | Should -BeLike "*'20-b'*exit 4*unlock failed*thawed*"
        @(Read-HookLog | ForEach-Object { ($_ -split ' ')[0..1] -join ' ' }) | Should -Be @('10-a freeze', '20-b freeze', '20-b thaw', '10-a thaw')
        Test-Frozen $X.MountPoint | Should -BeFalse
    }

    Context 'whoever thaws runs the thaw hooks, exactly once' {
        BeforeEach { $dir = New-HookDir ([ordered]@{ '10-log' = $LogLine }) }

        It 'Invoke-FsThaw in another process, of a freeze held by <How>' -ForEach @(@{ How = 'a watchdog'; T = 30 }, @{ How = 'no watchdog (-TimeoutSec 0)'; T = 0 }) {
            $f = Invoke-FsFreeze -LiteralPath $X.MountPoint -TimeoutSec $T -HookDirectory $dir
            $json = $f | ConvertTo-Json -AsArray
            $r = Invoke-ChildPwsh -TimeoutMs 60000 -Environment @{ J = $json; FSFREEZE_STATE_DIR = $env:FSFREEZE_STATE_DIR } -Command @'
Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1
$env:J | ConvertFrom-Json | Invoke-FsThaw -Verbose 4>&1 | ForEach-Object { "$_" }
'@
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            @($r.Lines | Where-Object { $_ -like "Hook '10-log' thaw: exit 0 in *" }).Count | Should -Be 1
            Start-Sleep -Milliseconds 500
            Read-HookLog | Should -Be @("10-log freeze thawed - $($f.FreezeId)", "10-log thaw thawed thawed $($f.FreezeId)")
            Test-Frozen $X.MountPoint | Should -BeFalse
        }

        It 'Invoke-FsThaw of a whole set piped back in one go (thawed together), held by <How>' -ForEach @(@{ How = 'a watchdog'; T = 30 }, @{ How = 'no watchdog (-TimeoutSec 0)'; T = 0 }) {
            $f = @(Invoke-FsFreeze -LiteralPath $X.MountPoint, $Y.MountPoint -TimeoutSec $T -HookDirectory $dir)
            $f.Count | Should -Be 2
            $out = @($f | Invoke-FsThaw -Verbose 4>&1)
            @($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -like "Hook '10-log' thaw: exit 0 in *" }).Count | Should -Be 1 -Because 'the set ends once, so its thaw hook is reported once'
            @($out | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }).Count | Should -Be 2
            Start-Sleep -Milliseconds 500
            Read-HookLog | Should -Be @("10-log freeze thawed - $($f[0].FreezeId)", "10-log thaw thawed thawed $($f[0].FreezeId)")
            Test-Frozen $X.MountPoint | Should -BeFalse
            Test-Frozen $Y.MountPoint | Should -BeFalse
        }

        It 'the watchdog at its deadline (FSFREEZE_THAW_REASON=timeout)' {
            $f = Invoke-FsFreeze -LiteralPath $X.MountPoint -TimeoutSec 3 -HookDirectory $dir
            $log = Wait-HookLog 2 -TimeoutSec 20
            $log | Should -Be @("10-log freeze thawed - $($f.FreezeId)", "10-log thaw thawed timeout $($f.FreezeId)")
            $f | Invoke-FsThaw -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
            ($err | Get-ErrorId) | Should -Be 'FsFreeze.ThawedByTimeout'
            Start-Sleep -Milliseconds 500
            @(Read-HookLog).Count | Should -Be 2 -Because 'the thaw hooks ran once'
        }

        It 'the watchdog on SIGTERM' {
            $f = Invoke-FsFreeze -LiteralPath $X.MountPoint -TimeoutSec 60 -HookDirectory $dir
            $wd = (Get-FsFreezeStatus -LiteralPath $X.MountPoint).WatchdogPid
            Send-Signal TERM $wd | Should -Be 0
            (Wait-HookLog 2)[1] | Should -Be "10-log thaw thawed thawed $($f.FreezeId)"
            Test-Frozen $X.MountPoint | Should -BeFalse
        }

        It 'the watchdog when the Use-FsFreeze scope''s process is killed (kill -9)' {
            $c = Start-ChildPwsh -Environment @{ D = $dir; M = $X.MountPoint; HOOKLOG = $env:HOOKLOG } -Command @'
Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1
Use-FsFreeze -LiteralPath $env:M -HookDirectory $env:D -TimeoutSec 60 -ScriptBlock { [Console]::Out.WriteLine('in scope'); [Console]::Out.Flush(); Start-Sleep 120 }
'@
            $script:Children.Add($c)
            Wait-Condition -TimeoutSec 30 -Condition { @(Read-HookLog).Count -ge 1 -and (Test-Frozen $X.MountPoint) } | Should -BeTrue
            Send-Signal KILL $c.Process.Id | Should -Be 0
            $log = Wait-HookLog 2
            $log[1] | Should -BeLike '10-log thaw thawed thawed *'
            Start-Sleep -Milliseconds 500
            @(Read-HookLog).Count | Should -Be 2
            Test-Frozen $X.MountPoint | Should -BeFalse
        }
    }

    It 'writes hook output only after the thaw: Use-FsFreeze -Verbose *>> a log on the frozen member finishes' {
        $dir = New-HookDir ([ordered]@{ '10-talk' = 'echo "talking on $1"' })
        $log = Join-Path $X.MountPoint 'fsfreeze.log'
        $r = Invoke-ChildPwsh -TimeoutMs 60000 -Environment @{ D = $dir; M = $X.MountPoint; L = $log; FSFREEZE_STATE_DIR = $env:FSFREEZE_STATE_DIR } -Command @'
Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1
Use-FsFreeze -LiteralPath $env:M -HookDirectory $env:D -TimeoutSec 20 -Verbose -ScriptBlock { 'scope' } *>> $env:L
'@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $text = Get-Content -Raw $log
        $text | Should -Match '10-talk freeze\| talking on freeze'
        $text | Should -Match '10-talk thaw\| talking on thaw'
        $text | Should -Not -Match 'ThawedByTimeout'
    }

    It 'a named hook directory that does not exist, or that others can write to, is FsFreeze.HookFailed with nothing run or frozen' {
        Invoke-FsFreeze -LiteralPath $X.MountPoint -HookDirectory '/nonexistent/fsfreeze-hooks' -ErrorVariable e1 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        ($e1 | Get-ErrorId) | Should -Be 'FsFreeze.HookFailed'
        $dir = New-HookDir ([ordered]@{ '10-log' = $LogLine })
        & chmod 0777 $dir
        Invoke-FsFreeze -LiteralPath $X.MountPoint -HookDirectory $dir -ErrorVariable e2 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        ($e2 | Get-ErrorId) | Should -Be 'FsFreeze.HookFailed'
        $e2[0].Exception.Message | Should -BeLike '*group or others can write*'
        Read-HookLog | Should -BeNullOrEmpty
        Test-Frozen $X.MountPoint | Should -BeFalse
    }

    It '-NoHooks and -HookDirectory '''' run none' {
        $dir = New-HookDir ([ordered]@{ '10-log' = $LogLine })
        Use-FsFreeze -LiteralPath $X.MountPoint -HookDirectory $dir -NoHooks -ScriptBlock { } | Out-Null
        Use-FsFreeze -LiteralPath $X.MountPoint -HookDirectory '' -ScriptBlock { } | Out-Null
        Read-HookLog | Should -BeNullOrEmpty
    }
}
