#Requires -Modules Pester
# Issue 10: the whole host, root filesystem included (-All), in simulated hosts only (tests/SimHost): a host's / is a
# loop image of its own, checked by Assert-SimHostIsolated, so nothing here can freeze a filesystem of this machine.
# -All never runs outside such a host. Every freeze has Start-SimHostThawGuard behind it, and Remove-SimHost thaws
# before it tears a host down.

BeforeAll {
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    Import-Module $PSScriptRoot/SimHost/SimHost.psm1 -Force
    # The per-type judge of a frozen copy (ext4: clean; XFS: clean after one log replay), shared with the demo.
    Import-Module $PSScriptRoot/../src/Demo/BackupDemo.psm1 -Force
    Get-SimHost -Orphaned | Remove-SimHost
    $null = Initialize-SimHostImage

    # pwsh in a host keeps its cache on /run (a tmpfs), so it can exit while the host's / is frozen (about_FsFreeze).
    $script:PwshEnv = @{ XDG_CACHE_HOME = '/run/pwsh-cache' }

    function Invoke-HostPwsh($SimHost, [string] $Command, [int] $TimeoutSec = 120) {
        $r = Invoke-SimHostPwsh $SimHost -TimeoutSec $TimeoutSec -Environment $script:PwshEnv -Command $Command
        $r.TimedOut | Should -BeFalse -Because "pwsh in the host must return: $($r.StdErr)"
        $r
    }

    function Test-HostFrozen($SimHost, [string] $MountPoint) {
        # fsfreeze's probe inside the host (EBUSY = frozen; success froze it, so thaw at once).
        $r = Invoke-SimHost $SimHost -Environment @{ M = $MountPoint } 'if fsfreeze -f "$M" 2>/dev/null; then fsfreeze -u "$M"; echo no; else echo yes; fi'
        $r.StdOut.Trim() -eq 'yes'
    }

    function Start-HostWriter($SimHost, [string] $Path, [string] $Tag) {
        # A shell in the host that writes to $Path (it blocks while that filesystem is frozen) and notes on /run when it got through.
        $r = Invoke-SimHost $SimHost -Environment @{ P = $Path; T = $Tag } -Check -Command @'
sh -c 'echo $$ > "/run/$T.pid"; echo written > "$P"; date +%s.%N > "/run/$T.done"' </dev/null >/dev/null 2>&1 &
for i in $(seq 200); do [ -s "/run/$T.pid" ] && break; sleep 0.05; done
cat "/run/$T.pid"
'@
        [int]($r.Lines[-1])
    }

    function Wait-HostFile($SimHost, [string] $Path, [int] $TimeoutSec = 20) {
        $r = Invoke-SimHost $SimHost -Environment @{ F = $Path } -TimeoutSec ($TimeoutSec + 10) `
            -Command "for i in `$(seq $($TimeoutSec * 10)); do [ -s `"`$F`" ] && exec cat `"`$F`"; sleep 0.1; done; exit 1"
        ($r.ExitCode -eq 0) ? $r.StdOut.Trim() : $null
    }

    function Get-HostProcessState($SimHost, [int] $ProcessId) {
        (Invoke-SimHost $SimHost "cut -d' ' -f3 /proc/$ProcessId/stat 2>/dev/null || true").StdOut.Trim()
    }

    # A network namespace of its own (held by a sleeping process of ours) gives the hosts a sysfs of their own, so /sys
    # is there to be skipped like on a real machine.
    $script:NetHolder = [Diagnostics.Process]::Start('unshare', @('--net', 'sleep', '3600'))
    $mine = [IO.FileInfo]::new('/proc/self/ns/net').LinkTarget
    $script:NetNs = "/proc/$($script:NetHolder.Id)/ns/net"
    $deadline = [DateTime]::UtcNow.AddSeconds(10)
    while ([IO.FileInfo]::new($script:NetNs).LinkTarget -eq $mine -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
}

AfterAll {
    if ($script:NetHolder -and -not $script:NetHolder.HasExited) { $script:NetHolder.Kill(); $null = $script:NetHolder.WaitForExit(5000) }
    Get-SimHostLeak | Should -BeNullOrEmpty -Because 'every simulated host must be gone'
}

Describe 'Invoke-FsFreeze -All in a simulated host' -Tag 'WholeHost' {
    BeforeAll {
        $h = New-SimHost -Name 'wholehost-a' -ModulePath $env:FSFREEZE_TEST_MODULE -DataFilesystem ext4, xfs -NetNs $script:NetNs
        $loops = @{}
        foreach ($l in $h.Loops) { $loops[$l.MountPoint] = $l }
    }
    AfterAll { if ($h) { Remove-SimHost $h; Get-SimHostLeak $h | Should -BeNullOrEmpty } }

    It '-WhatIf plans /, /data1 and /data2 (data first) and reports /proc, /sys, /dev, /run and /tmp as skipped, each with its reason' {
        Assert-SimHostIsolated $h
        $guard = Start-SimHostThawGuard $h -AfterSec 60
        try {
            $r = Invoke-HostPwsh $h @'
Import-Module FsFreeze
Invoke-FsFreeze -All -WhatIf -InformationVariable plan -Verbose 4>&1 | ForEach-Object { "V: $_" }
$plan | ForEach-Object { 'S: {0}|{1}|{2}' -f $_.MessageData.MountPoint, $_.MessageData.Reason, $_.MessageData.Why }
'@
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $what = @($r.StdOut -split "`n" | Where-Object { $_ -match '^What if: .*"Freeze with a 60 s timeout" on target "(\S+) ' } | ForEach-Object { $Matches[1] })
            $what | Should -Be @('/data2', '/data1', '/')
            $skipped = @{}
            foreach ($l in $r.Lines | Where-Object { $_ -like 'S: *' }) { $mp, $reason, $why = $l.Substring(3).Split('|'); $skipped[$mp] = "$reason|$why" }
            foreach ($mp in '/proc', '/sys', '/dev', '/run', '/tmp') { $skipped[$mp] | Should -BeLike 'Type|*' -Because "$mp is skipped by its type" }
            $skipped['/proc'] | Should -BeLike '*view of kernel state*'
            $skipped['/run'] | Should -BeLike '*memory only*'
            $r.StdOut | Should -Match 'What if: .*"Skip \(sysfs is a view of kernel state, not storage\)" on target "/sys'
            $r.Lines | Should -Contain 'V: Skipping ''/tmp'' (tmpfs on tmpfs): tmpfs lives in memory only: there is nothing on disk to make consistent.'
            foreach ($mp in '/', '/data1', '/data2') { Test-HostFrozen $h $mp | Should -BeFalse -Because '-WhatIf freezes nothing' }
        }
        finally { $null = Invoke-SimHostThaw $h; Stop-SimHostThawGuard $guard }
    }

    It 'freezes / and the data filesystems; a shell writing to / is held; copies taken meanwhile are clean (ext4) or clean after one log replay (XFS); the thaw comes over the socket from an already-running pwsh' {
        Assert-SimHostIsolated $h
        $guard = Start-SimHostThawGuard $h -AfterSec 150
        try {
            # The thawer: a pwsh started before the freeze, everything it needs loaded, waiting for /run/go.
            Invoke-SimHost $h -Check -Command @'
cat > /run/thawer.ps1 <<'PS'
$ErrorActionPreference = 'Stop'
Import-Module FsFreeze
$null = '{}' | ConvertFrom-Json; $null = @{ a = 1 } | ConvertTo-Json; $null = Get-Content /etc/hostname; $null = Get-Command Invoke-FsThaw
Set-Content /run/thawer.ready $PID
while (-not (Test-Path /run/go)) { Start-Sleep -Milliseconds 20 }
$t = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds()
$out = Get-Content /run/frozen.json -Raw | ConvertFrom-Json | Invoke-FsThaw
"$t|$([DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds())|$(@($out).Count)|$((@($out.MountPoint) | Sort-Object) -join ',')" | Set-Content /run/thawer.done
PS
'@ | Out-Null
            $envs = 'DOTNET_ROOT=/opt/dotnet PSModulePath=/opt/fsfreeze XDG_CACHE_HOME=/run/pwsh-cache-thawer POWERSHELL_TELEMETRY_OPTOUT=1'
            Invoke-SimHost $h -Check "env $envs setsid /opt/dotnet/dotnet /opt/pwsh/pwsh.dll -NoProfile -NonInteractive -File /run/thawer.ps1 >/run/thawer.log 2>&1 </dev/null &" | Out-Null
            Wait-HostFile $h '/run/thawer.ready' -TimeoutSec 60 | Should -Not -BeNullOrEmpty -Because 'the thawer pwsh runs before the freeze'

            $sw = [Diagnostics.Stopwatch]::StartNew()
            $r = Invoke-HostPwsh $h @'
$ErrorActionPreference = 'Stop'
Import-Module FsFreeze
$f = Invoke-FsFreeze -All -TimeoutSec 90
$f | ConvertTo-Json -EnumsAsStrings -AsArray | Set-Content /run/frozen.json
$f | ForEach-Object { '{0}|{1}|{2}' -f $_.MountPoint, $_.FileSystemType, $_.State }
'@
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $sw.Elapsed.TotalSeconds | Should -BeLessThan 60 -Because 'the freezing pwsh returned (and exited) while / was frozen'
            $r.Lines | Should -Be @('/data2|xfs|Frozen', '/data1|ext4|Frozen', '/|ext4|Frozen')

            $writer = Start-HostWriter $h '/var/tmp/wholehost-probe' 'w-all'
            $state = $null
            for ($i = 0; $i -lt 50 -and $state -ne 'D'; $i++) { $state = Get-HostProcessState $h $writer; Start-Sleep -Milliseconds 100 }
            $state | Should -Be 'D' -Because 'a write to the frozen / sleeps until the thaw'

            # Copies of every image while frozen, from this machine (sparse: only the data is read).
            $copies = foreach ($mp in '/', '/data1', '/data2') {
                $l = $loops[$mp]
                $copy = Join-Path $TestDrive "$($l.Role).img"
                Invoke-Native cp --sparse=always $l.Image $copy | Out-Null
                [pscustomobject]@{ MountPoint = $mp; Type = $l.Type; Copy = $copy }
            }
            Test-HostFrozen $h '/' | Should -BeTrue -Because 'still frozen after the copies'
            (Invoke-SimHost $h 'test -e /run/w-all.done').ExitCode | Should -Be 1

            Invoke-SimHost $h 'touch /run/go' -Check | Out-Null
            $done = Wait-HostFile $h '/run/thawer.done' -TimeoutSec 30
            $done | Should -Not -BeNullOrEmpty -Because "the already-running pwsh thawed: $((Invoke-SimHost $h 'cat /run/thawer.log').StdOut)"
            $t0, $t1, $count, $mps = $done.Split('|')
            $count | Should -Be 3
            $mps | Should -Be '/,/data1,/data2'
            ([double]$t1 - [double]$t0) | Should -BeLessThan 5000
            Wait-HostFile $h '/run/w-all.done' | Should -Not -BeNullOrEmpty -Because 'the thaw released the writer'
            foreach ($mp in '/', '/data1', '/data2') { Test-HostFrozen $h $mp | Should -BeFalse }

            foreach ($c in $copies) {
                $verdict = Test-ImageConsistency -Image $c.Copy -Type $c.Type
                Write-Host "WholeHost: copy of $($c.MountPoint) ($($c.Type)) taken while frozen: $($verdict.Detail)"
                $verdict.Clean | Should -BeTrue -Because "the copy of $($c.MountPoint) ($($verdict.Detail))"
                $verdict.LogReplays | Should -BeLessOrEqual 1
            }
        }
        finally { $null = Invoke-SimHostThaw $h; Stop-SimHostThawGuard $guard }
    }

    It 'the deadline thaws -All: a shell writing to / is held until then' {
        Assert-SimHostIsolated $h
        $guard = Start-SimHostThawGuard $h -AfterSec 60
        try {
            $r = Invoke-HostPwsh $h @'
Import-Module FsFreeze
$f = Invoke-FsFreeze -All -TimeoutSec 5 -ErrorAction Stop
$f[0].FrozenAt.ToUniversalTime().Subtract([DateTime]::UnixEpoch).TotalSeconds
'@
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $frozenAt = [double]$r.Lines[-1]
            $writer = Start-HostWriter $h '/var/tmp/wholehost-deadline' 'w-deadline'
            $done = Wait-HostFile $h '/run/w-deadline.done' -TimeoutSec 30
            $done | Should -Not -BeNullOrEmpty -Because 'the watchdog thaws at its deadline'
            ([double]$done - $frozenAt) | Should -BeGreaterOrEqual 4.5
            ([double]$done - $frozenAt) | Should -BeLessThan 20
        }
        finally { $null = Invoke-SimHostThaw $h; Stop-SimHostThawGuard $guard }
    }

    It 'a member another tool froze fails the set (FsFreeze.AlreadyFrozen) and stays that tool''s; -Exclude leaves it out' {
        Assert-SimHostIsolated $h
        $guard = Start-SimHostThawGuard $h -AfterSec 90
        try {
            Invoke-SimHost $h 'fsfreeze -f /data1' -Check | Out-Null
            $r = Invoke-HostPwsh $h @'
Import-Module FsFreeze
Invoke-FsFreeze -All -TimeoutSec 30 -ErrorVariable e -ErrorAction SilentlyContinue | Out-Null
'{0}|{1}' -f ($e[0].FullyQualifiedErrorId -split ',')[0], $e[0].TargetObject
'@
            $r.Lines[-1] | Should -Be 'FsFreeze.AlreadyFrozen|/data1'
            Test-HostFrozen $h '/data1' | Should -BeTrue -Because 'the other tool''s freeze is left alone'
            Test-HostFrozen $h '/data2' | Should -BeFalse -Because 'what -All froze before it was thawed again'
            Test-HostFrozen $h '/' | Should -BeFalse

            $r = Invoke-HostPwsh $h @'
Import-Module FsFreeze
Use-FsFreeze -All -Exclude '/data1' -TimeoutSec 30 -ScriptBlock { ($args[0].MountPoint) -join ',' } -InformationVariable info
($info.MessageData | Where-Object MountPoint -EQ '/data1').Reason
'@
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $r.Lines | Should -Be @('/data2,/', 'Excluded')
            Test-HostFrozen $h '/data1' | Should -BeTrue -Because 'FsFreeze never thaws another tool''s freeze'
        }
        finally { $null = Invoke-SimHostThaw $h; Stop-SimHostThawGuard $guard }
    }

    It 'refuses -All with -TimeoutSec 0 and Invoke-FsFreeze -All at an interactive prompt (unless -Force), freezing nothing' {
        Assert-SimHostIsolated $h
        $guard = Start-SimHostThawGuard $h -AfterSec 60
        try {
            $r = Invoke-HostPwsh $h @'
Import-Module FsFreeze
Invoke-FsFreeze -All -TimeoutSec 0 -ErrorVariable e1 -ErrorAction SilentlyContinue | Out-Null
Import-Module PSReadLine
Invoke-FsFreeze -All -ErrorVariable e2 -ErrorAction SilentlyContinue | Out-Null
($e1 + $e2) | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] + '|' + $_.Exception.Message }
'@
            $r.Lines.Count | Should -Be 2 -Because $r.StdErr
            $r.Lines[0] | Should -BeLike 'FsFreeze.SessionFilesystem|-All freezes ''/''*-TimeoutSec 0*'
            $r.Lines[1] | Should -BeLike 'FsFreeze.SessionFilesystem|Invoke-FsFreeze -All would freeze ''/''*interactive prompt*Use-FsFreeze -All*'
            foreach ($mp in '/', '/data1', '/data2') { Test-HostFrozen $h $mp | Should -BeFalse }
        }
        finally { $null = Invoke-SimHostThaw $h; Stop-SimHostThawGuard $guard }
    }

    It 'Use-FsFreeze -All runs the host''s /etc/fsfreeze/hooks.d around the freeze of its /' -Tag 'Hooks' {
        Assert-SimHostIsolated $h
        $guard = Start-SimHostThawGuard $h -AfterSec 90
        try {
            Invoke-SimHost $h -Check -Command @'
mkdir -p /etc/fsfreeze/hooks.d
cat > /etc/fsfreeze/hooks.d/10-app <<'H'
#!/bin/sh
if fsfreeze -f / 2>/dev/null; then fsfreeze -u /; st=thawed; else st=frozen; fi
echo "$1 $st ${FSFREEZE_THAW_REASON:--} $(printf '%s' "$FSFREEZE_MOUNTPOINTS" | tr '\n' ,)" >> /run/hook.log
H
chmod 755 /etc/fsfreeze/hooks.d/10-app
'@ | Out-Null
            $r = Invoke-HostPwsh $h @'
Import-Module FsFreeze
Use-FsFreeze -All -TimeoutSec 30 -ScriptBlock { (Get-Content /run/hook.log) -join ';' }
'@
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $r.Lines[-1] | Should -Be 'freeze thawed - /data2,/data1,/'
            (Invoke-SimHost $h 'cat /run/hook.log' -Check).Lines | Should -Be @('freeze thawed - /data2,/data1,/', 'thaw thawed thawed /data2,/data1,/')
        }
        finally {
            $null = Invoke-SimHostThaw $h
            Invoke-SimHost $h 'rm -rf /etc/fsfreeze /run/hook.log' | Out-Null
            Stop-SimHostThawGuard $guard
        }
    }
}
