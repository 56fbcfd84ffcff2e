#Requires -Modules Pester
# Issue 9: a process that has made a timed freeze keeps one idle watchdog for its next one (started after a thaw),
# so the watchdog's start is not part of the next freeze+thaw pair. The spare is used only while it is still good:
# alive, the same module folder's watchdog, and started with the environment the process has now (the hooks it runs
# inherit it). It ends with its process; FSFREEZE_SPARE_WATCHDOG=0 keeps none.
#
# Each case runs in a fresh child pwsh (no spare from other tests), on a loop filesystem this file mounted, with an
# independent thaw behind it. Watchdogs are found as the child's children (by pid, confirmed by name).

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    Import-Module $PSScriptRoot/ExactnessHelpers.psm1 -Force

    # Run in the child: its live fsfreeze-watchdog children (a spare, or the one holding a freeze).
    $script:Prelude = @'
Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1
Import-Module $env:HELPERS
function Get-Watchdogs {
    @(Get-ChildProcessId $PID | Where-Object {
            (Get-Content "/proc/$_/stat" -Raw -ErrorAction SilentlyContinue) -match '^\d+ \(fsfreeze-watchd\) [^Z]'
        } | Sort-Object)
}
function Wait-Watchdogs([int] $Count) {
    $by = [datetime]::UtcNow.AddSeconds(5)
    while ((Get-Watchdogs).Count -ne $Count -and [datetime]::UtcNow -lt $by) { Start-Sleep -Milliseconds 50 }
    Get-Watchdogs
}
'@

    function Invoke-Child([string] $Command, [hashtable] $Environment = @{}) {
        $envs = @{ M = $X.MountPoint; HELPERS = (Join-Path $PSScriptRoot 'TestHelpers.psm1'); FSFREEZE_STATE_DIR = $env:FSFREEZE_STATE_DIR }
        foreach ($k in $Environment.Keys) { $envs[$k] = $Environment[$k] }
        $r = Invoke-ChildPwsh -TimeoutMs 60000 -Environment $envs -Command ($script:Prelude + "`n" + $Command)
        $r.ExitCode | Should -Be 0 -Because "the child failed: $($r.StdErr)"
        # "name=value" lines into a hashtable.
        $h = @{}
        foreach ($l in $r.Lines) { if ($l -match '^(\w+)=(.*)$') { $h[$Matches[1]] = $Matches[2] } }
        $h
    }
}

Describe 'A spare watchdog for the next timed freeze' -Tag 'Timeout', 'Spare' {
    BeforeEach {
        $X = New-LoopFilesystem
        $guard = Start-IndependentThaw -MountPoint $X.MountPoint -AfterSec 120
    }
    AfterEach {
        & fsfreeze -u $X.MountPoint 2>$null
        Remove-LoopFilesystem $X
        Stop-IndependentThaw $guard
    }

    It 'is started after a thaw, taken by the next timed freeze (Invoke-FsFreeze and Use-FsFreeze), and replaced by a new one after it' {
        $r = Invoke-Child @'
"before=$((Get-Watchdogs) -join ',')"
$null = Invoke-FsFreeze -LiteralPath $env:M | Invoke-FsThaw
"spare1=$((Wait-Watchdogs 1) -join ',')"
$f = Invoke-FsFreeze -LiteralPath $env:M
"holder2=$((Get-FsFreezeStatus -LiteralPath $env:M).WatchdogPid)"
$null = $f | Invoke-FsThaw
"spare2=$((Wait-Watchdogs 1) -join ',')"
"holder3=$(Use-FsFreeze -LiteralPath $env:M { (Get-FsFreezeStatus -LiteralPath $env:M).WatchdogPid })"
"spare3=$((Wait-Watchdogs 1) -join ',')"
'@
        $r.before | Should -BeNullOrEmpty -Because 'a process that has made no timed freeze keeps no spare'
        $r.spare1 | Should -Match '^\d+$'
        $r.holder2 | Should -Be $r.spare1 -Because 'the next timed freeze took the spare'
        $r.spare2 | Should -Match '^\d+$'
        $r.spare2 | Should -Not -Be $r.spare1 -Because 'the spare taken now held a freeze and ended with it; a new one was started'
        $r.holder3 | Should -Be $r.spare2 -Because 'a Use-FsFreeze scope takes it too'
        $r.spare3 | Should -Match '^\d+$'
        Test-IsFrozen $X.MountPoint | Should -BeFalse
    }

    It 'ends with its process' {
        $r = Invoke-Child @'
$null = Invoke-FsFreeze -LiteralPath $env:M | Invoke-FsThaw
"spare=$((Wait-Watchdogs 1) -join ',')"
'@
        $r.spare | Should -Match '^\d+$'
        Wait-Condition -TimeoutSec 5 -Condition { -not (Test-Path "/proc/$($r.spare)/comm") -or (Get-Content "/proc/$($r.spare)/comm") -ne 'fsfreeze-watchd' } |
            Should -BeTrue -Because 'its stdin closed with the process that kept it'
    }

    It 'is not used once the environment changed: the freeze''s hooks see the environment of now, and the old spare ends' {
        $hooks = (& mktemp -d /tmp/fsfreeze-hooks.XXXXXX | Select-Object -Last 1).Trim()
        $log = Join-Path $hooks.Replace('fsfreeze-hooks', 'fsfreeze-hooklog') 'log'
        try {
            & chmod 0755 $hooks
            New-Item -ItemType Directory -Path (Split-Path $log) -Force | Out-Null
            [IO.File]::WriteAllText("$hooks/10-env", "#!/bin/sh`necho `"`$1 `$SPARE_PROBE`" >> '$log'`n")
            & chmod 0755 "$hooks/10-env"
            $r = Invoke-Child -Environment @{ HOOKS = $hooks } @'
$null = Invoke-FsFreeze -LiteralPath $env:M -NoHooks | Invoke-FsThaw
$old = (Wait-Watchdogs 1) -join ','
"old=$old"
$env:SPARE_PROBE = 'set after the spare started'
$f = Invoke-FsFreeze -LiteralPath $env:M -HookDirectory $env:HOOKS
"holder=$((Get-FsFreezeStatus -LiteralPath $env:M).WatchdogPid)"
$by = [datetime]::UtcNow.AddSeconds(5)
while ((Test-Path "/proc/$old") -and [datetime]::UtcNow -lt $by) { Start-Sleep -Milliseconds 50 }
"oldAlive=$(Test-Path "/proc/$old")"
$null = $f | Invoke-FsThaw
'@
            $r.old | Should -Match '^\d+$'
            $r.holder | Should -Not -Be $r.old -Because 'a spare started before the change would run the hooks with the old environment'
            $r.oldAlive | Should -Be 'False' -Because 'the stale spare was let go'
            Get-Content $log | Should -Be @('freeze set after the spare started', 'thaw set after the spare started')
        }
        finally {
            Remove-Item -LiteralPath $hooks, (Split-Path $log) -Recurse -Force -ErrorAction SilentlyContinue
        }
    }

    It 'is not kept with FSFREEZE_SPARE_WATCHDOG=0, nor by a process that made only -TimeoutSec 0 freezes (<Case>)' -ForEach @(
        @{ Case = 'FSFREEZE_SPARE_WATCHDOG=0'; Spare = '0'; Timeout = 60 }
        @{ Case = '-TimeoutSec 0'; Spare = ''; Timeout = 0 }
    ) {
        $r = Invoke-Child -Environment @{ FSFREEZE_SPARE_WATCHDOG = $Spare; T = $Timeout } @'
$null = Invoke-FsFreeze -LiteralPath $env:M -TimeoutSec $env:T | Invoke-FsThaw
Use-FsFreeze -LiteralPath $env:M -TimeoutSec $env:T {}
"after=$((Wait-Watchdogs 0) -join ',')"
'@
        $r.after | Should -BeNullOrEmpty
    }
}
