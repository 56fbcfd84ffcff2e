#Requires -Modules Pester
# Fleet freezes (issue 11) on simulated hosts: three hosts, each in a network namespace of its own with a veth link to
# the controller's, its own sshd with pwsh as the powershell subsystem, and every disk image on one btrfs storage
# filesystem, so the controller (a child pwsh in the controller namespace) snapshots them all with cp --reflink while
# every host is frozen. Use-FsFreezeFleet over PSSessions and the fsfreeze_fleet Ansible role over SSH, and the faults:
# a controller killed with kill -9, a host whose freeze fails, a link cut during the snapshot, / in the set. Every
# snapshot copy is checked (ext4: no needs_recovery, e2fsck -fn clean; btrfs: btrfs check clean).
# The fleet is made once for the file; its teardown (also on failure) removes every namespace, sshd, host and mount,
# and the last AfterAll fails the run on anything left.

BeforeAll {
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    Import-Module $PSScriptRoot/SimHost/SimHost.psm1 -Force
    # Fleets and hosts of a test run that died before its teardown (their creator is gone): thaw and remove them first.
    Get-SimFleet -Orphaned | Remove-SimFleet
    $null = Initialize-SimHostImage

    $sw = [Diagnostics.Stopwatch]::StartNew()
    $Fleet = New-SimFleet -Count 3 -ModulePath $env:FSFREEZE_TEST_MODULE -DataFilesystem ext4, btrfs
    Write-Host "Fleet: 3 hosts (ext4 /, ext4 /data1, btrfs /data2; images on btrfs storage) with sshd up in $([Math]::Round($sw.Elapsed.TotalSeconds, 1)) s"
    $Conn = Get-Content -LiteralPath $Fleet.ConnectionFile -Raw | ConvertFrom-Json
    $Hosts = @($Fleet.Hosts)

    function Get-HostEntry([string] $Name) { $Hosts | Where-Object Name -EQ $Name | Select-Object -First 1 }

    function Invoke-FleetRun {
        <#
            Use-FsFreezeFleet in a controller (a child pwsh in the controller namespace, sessions over SSH to every host).
            The scriptblock copies the images of -Roles of every host into a fresh snapshot directory, writes a marker,
            then waits for a go file (at most -HoldSec). Returns Ran (did the scriptblock run), Hosts (the
            FleetHostFreeze objects), Errors (Id, Message, Category), plus the snapshot directory and the process result.
            -Background: returns the started controller (and its files) instead of waiting.
        #>
        param(
            [string[]] $Path = @('/data1', '/data2'),
            [string[]] $Roles = @('data1', 'data2'),
            [int] $LeaseSec = 10,
            [switch] $Force,
            [int] $HoldSec = 0,
            [string[]] $Extra = @(),
            [switch] $Background,
            [int] $TimeoutSec = 180
        )
        $tag = [guid]::NewGuid().ToString('N').Substring(0, 8)
        $snap = Join-Path $Conn.Storage "snapshots/$tag"
        $null = New-Item -ItemType Directory -Path $snap
        $envs = @{
            FLEET_PATHS = ($Path -join ','); FLEET_ROLES = ($Roles -join ','); FLEET_LEASE = $LeaseSec; FLEET_FORCE = [int][bool]$Force
            FLEET_SNAPDIR = $snap; FLEET_MARKER = (Join-Path $Fleet.Dir "marker-$tag"); FLEET_GO = (Join-Path $Fleet.Dir "go-$tag"); FLEET_HOLD = $HoldSec
            FLEET_EXTRA = ($Extra -join ' ')
        }
        $script = @'
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
Import-Module $env:SIMHOST_PSM1
Import-Module (Join-Path $env:FSFREEZE_TEST_MODULE 'FsFreeze.psd1')
$conn = Get-Content -LiteralPath $env:SIMFLEET_CONNECTION -Raw | ConvertFrom-Json
$sessions = New-SimFleetSession -ConnectionFile $env:SIMFLEET_CONNECTION
'FLEET-SESSIONS ' + (@($sessions | ForEach-Object { "$($_.Name)=$($_.ComputerName)" }) -join ' ')
$state = @{ Ran = $false }
$hostsOut = @(); $errs = @()
$fleetArgs = @{ Session = $sessions; Path = $env:FLEET_PATHS -split ','; LeaseSec = [int]$env:FLEET_LEASE; Force = ($env:FLEET_FORCE -eq '1') }
if ($env:FLEET_EXTRA -match 'Verbose') { $fleetArgs.Verbose = $true }
try {
    # -OutVariable: the host objects are written before an exception of the scriptblock is rethrown, which an
    # assignment would lose.
    $null = Use-FsFreezeFleet @fleetArgs -ErrorVariable fleetErrors -OutVariable fleetOut -ErrorAction SilentlyContinue -ScriptBlock {
        param($fleet)
        $state.Ran = $true
        $roles = $env:FLEET_ROLES -split ','
        foreach ($h in $conn.Hosts) {
            foreach ($i in @($h.Images | Where-Object Role -In $roles)) {
                & cp --reflink=always $i.Image (Join-Path $env:FLEET_SNAPDIR "$($h.Name)-$($i.Role).img")
                if ($LASTEXITCODE) { throw "cp of $($i.Image) failed" }
            }
        }
        Set-Content -LiteralPath $env:FLEET_MARKER -Value ([DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds() / 1000)
        $until = [DateTime]::UtcNow.AddSeconds([int]$env:FLEET_HOLD)
        while ([DateTime]::UtcNow -lt $until -and -not (Test-Path -LiteralPath $env:FLEET_GO)) { Start-Sleep -Milliseconds 50 }
        'scriptblock states: ' + (@($fleet | ForEach-Object State) -join ',')
    }
    $errs = @($fleetErrors)
}
catch {
    # -ErrorVariable holds a terminating error too: once.
    $caught = $_
    # (-ErrorVariable also holds it, as the CmdletInvocationException that carried it.)
    $errs = @($fleetErrors | Where-Object { $_ -is [Management.Automation.ErrorRecord] -and $_.FullyQualifiedErrorId -ne $caught.FullyQualifiedErrorId }) + @($caught)
    if ($caught.TargetObject -is [array]) { $hostsOut = @($caught.TargetObject) }
}
$fleetOut | Where-Object { $_ -is [string] }
if (-not $hostsOut) { $hostsOut = @($fleetOut | Where-Object { $_ -is [FsFreeze.FleetHostFreeze] }) }
$result = [ordered]@{
    Ran    = $state.Ran
    Hosts  = @($hostsOut | Select-Object -Property * -ExcludeProperty Members)
    Errors = @($errs | ForEach-Object { [ordered]@{ Id = ($_.FullyQualifiedErrorId -split ',')[0]; Category = "$($_.CategoryInfo.Category)"; Message = "$_"; Target = @($_.TargetObject | ForEach-Object { "$_" }) } })
}
'FLEET-RESULT ' + ($result | ConvertTo-Json -Depth 6 -Compress -EnumsAsStrings)
'@
        if ($Background) {
            $c = Start-SimFleetController $Fleet $script -Environment $envs
            return [pscustomobject]@{ Controller = $c; Marker = $envs.FLEET_MARKER; Go = $envs.FLEET_GO; Snapshot = $snap }
        }
        $r = Invoke-SimFleetController $Fleet $script -Environment $envs -TimeoutSec $TimeoutSec
        ConvertFrom-FleetRun $r.StdOut $r.StdErr $snap $r.ExitCode
    }

    function ConvertFrom-FleetRun([string] $StdOut, [string] $StdErr, [string] $Snapshot, [int] $ExitCode) {
        $line = ($StdOut -split "`n" | Where-Object { $_.StartsWith('FLEET-RESULT ') } | Select-Object -Last 1)
        if (-not $line) { throw "The controller printed no result (exit $ExitCode):`n$StdOut`n$StdErr" }
        $res = $line.Substring(13) | ConvertFrom-Json
        $sessions = @{}
        foreach ($pair in (($StdOut -split "`n" | Where-Object { $_.StartsWith('FLEET-SESSIONS ') } | Select-Object -First 1) -replace '^FLEET-SESSIONS ', '').Trim().Split(' ')) {
            if ($pair) { $n, $a = $pair.Split('='); $sessions[$a] = $n }
        }
        foreach ($h in @($res.Hosts)) { $h | Add-Member -NotePropertyName Name -NotePropertyValue $sessions[$h.ComputerName] }
        [pscustomobject]@{ Ran = $res.Ran; Hosts = @($res.Hosts); Errors = @($res.Errors); Snapshot = $Snapshot; StdOut = $StdOut; StdErr = $StdErr; ExitCode = $ExitCode }
    }

    function Wait-FleetMarker($Run, [int] $TimeoutSec = 90) {
        # The scriptblock is running (every host frozen): returns the time it wrote the marker, or throws with the output.
        $sw = [Diagnostics.Stopwatch]::StartNew()
        while ($sw.Elapsed.TotalSeconds -lt $TimeoutSec) {
            if (Test-Path -LiteralPath $Run.Marker) { return [double](Get-Content -LiteralPath $Run.Marker -Raw) }
            if ($Run.Controller.Process.HasExited) { break }
            Start-Sleep -Milliseconds 50
        }
        throw "The controller's scriptblock did not start: $(Get-Content -Raw $Run.Controller.OutFile -ErrorAction Ignore) $(Get-Content -Raw $Run.Controller.ErrFile -ErrorAction Ignore)"
    }

    function Complete-FleetRun($Run, [int] $TimeoutSec = 120) {
        # Lets the scriptblock end (go file) and waits for the controller; returns the parsed run.
        Set-Content -LiteralPath $Run.Go -Value go
        if (-not $Run.Controller.Process.WaitForExit($TimeoutSec * 1000)) { throw "The controller did not finish within $TimeoutSec s." }
        ConvertFrom-FleetRun (Get-Content -Raw $Run.Controller.OutFile) (Get-Content -Raw $Run.Controller.ErrFile) $Run.Snapshot $Run.Controller.Process.ExitCode
    }

    function Start-HostWriter($SimHost, [string] $Path, [string] $Tag) {
        # In the host, in the background: writes $Path (blocks while its filesystem is frozen), then notes when it
        # finished in /run (a tmpfs, never frozen). Returns the writer's PID inside the host.
        $r = Invoke-SimHost $SimHost -Environment @{ P = $Path; T = $Tag } -Check -Command @'
rm -f "/run/$T.pid" "/run/$T.done"
sh -c 'echo $$ > "/run/$T.pid"; echo written > "$P"; date +%s.%N > "/run/$T.done"' </dev/null >/dev/null 2>&1 &
for i in $(seq 200); do [ -s "/run/$T.pid" ] && break; sleep 0.05; done
cat "/run/$T.pid"
'@
        [int]($r.Lines[-1])
    }

    function Wait-HostProcessState($SimHost, [int] $ProcessId, [string] $State, [int] $TimeoutMs = 10000) {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        do {
            $s = (Invoke-SimHost $SimHost "cut -d' ' -f3 /proc/$ProcessId/stat 2>/dev/null || true").StdOut.Trim()
            if ($s -eq $State) { return $s }
            Start-Sleep -Milliseconds 100
        } while ($sw.ElapsedMilliseconds -lt $TimeoutMs)
        $s
    }

    function Wait-HostFile($SimHost, [string] $Path, [int] $TimeoutSec = 20) {
        # The file's content once it exists (bounded), else $null.
        $r = Invoke-SimHost $SimHost -Environment @{ F = $Path } -TimeoutSec ($TimeoutSec + 10) `
            -Command "for i in `$(seq $($TimeoutSec * 20)); do [ -s `"`$F`" ] && exec cat `"`$F`"; sleep 0.05; done; exit 1"
        ($r.ExitCode -eq 0) ? $r.StdOut.Trim() : $null
    }

    function Get-HostFrozen($SimHost, [string[]] $MountPoint = @('/data1', '/data2')) {
        # The mount points of the host that are frozen now, whoever froze them. The only probe is a freeze: EBUSY means
        # frozen; a freeze that succeeds is undone at once (inside the host, which passed its isolation check).
        $r = Invoke-SimHost $SimHost -Environment @{ MPS = ($MountPoint -join ' ') } -Check -Command @'
for m in $MPS; do
  if fsfreeze -f "$m" 2>/dev/null; then fsfreeze -u "$m"; else echo "$m"; fi
done
'@
        @($r.Lines)
    }

    function Assert-SnapshotClean([string] $Directory, [int] $Count) {
        # Every copy in the directory: ext4 without needs_recovery and clean for e2fsck -fn; btrfs clean for btrfs check.
        $copies = @(Get-ChildItem -LiteralPath $Directory -Filter '*.img')
        $copies.Count | Should -Be $Count -Because "every host's images were copied ($(@($copies.Name) -join ', '))"
        foreach ($c in $copies) {
            $type = (& blkid -o value -s TYPE $c.FullName).Trim()
            switch ($type) {
                'ext4' {
                    (& dumpe2fs -h $c.FullName 2>$null) -join "`n" | Should -Not -Match 'needs_recovery' -Because "$($c.Name) was copied while frozen"
                    $out = & e2fsck -fn $c.FullName 2>&1
                    $LASTEXITCODE | Should -Be 0 -Because "e2fsck -fn $($c.Name): $($out -join ' ')"
                }
                'btrfs' {
                    $out = & btrfs check --readonly $c.FullName 2>&1
                    $LASTEXITCODE | Should -Be 0 -Because "btrfs check $($c.Name): $($out -join ' ')"
                }
                default { throw "$($c.Name): unexpected filesystem '$type'" }
            }
        }
        Remove-Item -LiteralPath $Directory -Recurse -Force
    }

    function Write-Dirty([string] $Tag) {
        # Dirty data on every host's data filesystems, so the copies have something a torn snapshot would lose.
        foreach ($e in $Hosts) {
            Invoke-SimHost $e.SimHost -Environment @{ T = $Tag } -Check -Command 'for m in /data1 /data2; do head -c 4M /dev/urandom > "$m/$T.bin"; echo "$T" > "$m/$T.txt"; done' | Out-Null
        }
    }
}

AfterAll {
    if ($Fleet) { Remove-SimFleet $Fleet }
    # Whatever any test left behind fails the run.
    Get-SimFleetLeak | Should -BeNullOrEmpty -Because 'every namespace, sshd, host, mount and loop device of the fleet must be gone'
}

Describe 'Use-FsFreezeFleet over SSH sessions' -Tag 'Fleet' {
    It 'freezes every host at once, runs the scriptblock while all are frozen, renews the leases, thaws, one object per host; the copies are clean' {
        Write-Dirty 'happy'
        $run = Invoke-FleetRun -LeaseSec 4 -HoldSec 60 -Extra Verbose -Background
        $markedAt = Wait-FleetMarker $run
        # Every host is frozen now: a write to its data filesystems waits (D) until the thaw.
        $writers = foreach ($e in $Hosts) { [pscustomobject]@{ Entry = $e; Pid = (Start-HostWriter $e.SimHost '/data1/during.txt' 'happy-w') } }
        foreach ($w in $writers) { Wait-HostProcessState $w.Entry.SimHost $w.Pid 'D' | Should -Be 'D' -Because "$($w.Entry.Name) is frozen while the scriptblock runs" }
        # Longer than the 4 s lease: only the renewals keep the hosts frozen.
        Start-Sleep -Seconds 6
        foreach ($w in $writers) { (Invoke-SimHost $w.Entry.SimHost 'test -e /run/happy-w.done').ExitCode | Should -Be 1 -Because "$($w.Entry.Name) is still frozen after 1.5 leases" }
        $res = Complete-FleetRun $run

        $res.ExitCode | Should -Be 0 -Because $res.StdErr
        $res.Errors | Should -BeNullOrEmpty
        $res.Ran | Should -BeTrue
        $res.StdOut | Should -Match 'scriptblock states: Frozen,Frozen,Frozen'
        $res.Hosts.Count | Should -Be 3
        @($res.Hosts.Name) | Should -Be @('fleet1', 'fleet2', 'fleet3') -Because 'one object per host, in the order of the sessions'
        foreach ($h in $res.Hosts) {
            $h.State | Should -Be 'Thawed'
            $h.HeldThroughScriptBlock | Should -BeTrue
            $h.Renewals | Should -BeGreaterOrEqual 2 -Because "$($h.Name): renewed every 2 s for about 7 s"
            @($h.MountPoint | Sort-Object) | Should -Be @('/data1', '/data2')
            $h.FrozenAt | Should -BeLessThan $h.ScriptBlockStartedAt
            $h.ThawedAt | Should -BeGreaterThan $h.ScriptBlockEndedAt
            $h.FrozenForMs | Should -BeGreaterThan 6000
            $h.Reason | Should -BeNullOrEmpty
        }
        # Concurrent, not one after another: every freeze request left before the first answer came back.
        $lastSent = ($res.Hosts.FreezeSentAt | Measure-Object -Maximum).Maximum
        $firstAnswer = ($res.Hosts.FreezeAnsweredAt | Measure-Object -Minimum).Minimum
        $lastSent | Should -BeLessThan $firstAnswer
        # The writers finished only when their host was thawed.
        foreach ($w in $writers) {
            $done = Wait-HostFile $w.Entry.SimHost '/run/happy-w.done'
            $done | Should -Not -BeNullOrEmpty
            $h = $res.Hosts | Where-Object Name -EQ $w.Entry.Name
            [double]$done | Should -BeGreaterOrEqual (([DateTimeOffset]$h.ThawedAt).ToUnixTimeMilliseconds() / 1000 - 0.05)
            Get-HostFrozen $w.Entry.SimHost | Should -BeNullOrEmpty
        }
        $res.StdOut | Should -Match 'Every host is frozen; the barrier'
        Write-Host ("Fleet: barrier {0:0.0} ms; holds {1} ms with a {2:0} ms scriptblock" -f (($res.Hosts.FrozenAt | Measure-Object -Maximum).Maximum - ($res.Hosts.FrozenAt | Measure-Object -Minimum).Minimum).TotalMilliseconds,
            (@($res.Hosts | ForEach-Object { $_.FrozenForMs.ToString('0') }) -join ', '), ($res.Hosts[0].ScriptBlockEndedAt - $res.Hosts[0].ScriptBlockStartedAt).TotalMilliseconds)
        Assert-SnapshotClean $res.Snapshot -Count 6
    }

    It 'the by-hand recipe of about_FsFreezeFleet (Invoke-Command with the existing cmdlets) freezes, renews and thaws every host' {
        # The code as the about topic shows it, with a reflink copy (and a wait past the 10 s lease) as the snapshot.
        $about = Get-Content -Raw (Join-Path $PSScriptRoot '../docs/about_FsFreezeFleet.md')
        $recipe = [regex]::Match($about, '(?s)The same by hand.*?```powershell\r?\n(.*?)```').Groups[1].Value
        $recipe | Should -Match 'Reset-FsFreezeTimeout'
        $recipe = $recipe.Replace('/srv/data', '/data1').Replace('storage-cli snapshot create --group cluster1',
            'foreach ($i in $using:images) { cp --reflink=always $i.Image (Join-Path $using:snap "$($i.Name).img") }; Start-Sleep -Seconds 12')
        $snap = Join-Path $Conn.Storage 'snapshots/by-hand'
        $null = New-Item -ItemType Directory -Path $snap
        $r = Invoke-SimFleetController $Fleet -TimeoutSec 120 -Environment @{ RECIPE = $recipe; SNAP = $snap } -Command @'
$ErrorActionPreference = 'Stop'
Import-Module $env:SIMHOST_PSM1
$conn = Get-Content -LiteralPath $env:SIMFLEET_CONNECTION -Raw | ConvertFrom-Json
$s = New-SimFleetSession -ConnectionFile $env:SIMFLEET_CONNECTION
$snap = $env:SNAP
$images = @(foreach ($h in $conn.Hosts) { [pscustomobject]@{ Name = $h.Name; Image = ($h.Images | Where-Object Role -EQ 'data1').Image } })
$sw = [Diagnostics.Stopwatch]::StartNew()
. ([scriptblock]::Create($env:RECIPE))
'recipe took {0:0.0} s' -f $sw.Elapsed.TotalSeconds
'still held by FsFreeze: ' + (Invoke-Command -Session $s { @(Get-FsFreezeStatus).Count } | Measure-Object -Sum).Sum
'@
        $r.ExitCode | Should -Be 0 -Because "$($r.StdOut) $($r.StdErr)"
        [double]([regex]::Match($r.StdOut, 'recipe took ([\d.]+) s').Groups[1].Value) | Should -BeGreaterThan 12 -Because 'the snapshot outlasted the 10 s lease: only the renewals kept the hosts frozen'
        $r.StdOut | Should -Match 'still held by FsFreeze: 0' -Because 'every host thawed its own freeze (a lease that ran out would have failed the recipe: ErrorActionPreference Stop)'
        foreach ($e in $Hosts) { Get-HostFrozen $e.SimHost | Should -BeNullOrEmpty }
        Assert-SnapshotClean $snap -Count 3
    }

    It 'refuses a lease shorter than 2 s and freezes nothing with -WhatIf' {
        $r = Invoke-SimFleetController $Fleet -TimeoutSec 120 -Command @'
Import-Module $env:SIMHOST_PSM1
Import-Module (Join-Path $env:FSFREEZE_TEST_MODULE 'FsFreeze.psd1')
$s = New-SimFleetSession -ConnectionFile $env:SIMFLEET_CONNECTION
try { Use-FsFreezeFleet -Session $s -Path /data1 -LeaseSec 1 -ScriptBlock { 'ran' } } catch { 'lease: ' + $_.FullyQualifiedErrorId }
$out = Use-FsFreezeFleet -Session $s -Path /data1 -WhatIf -ScriptBlock { 'ran' }
'whatif: ' + @($out).Count
'@
        $r.StdOut | Should -Match 'lease: ParameterArgumentValidationError'
        $r.StdOut | Should -Match 'whatif: 0'
        foreach ($e in $Hosts) { Get-HostFrozen $e.SimHost | Should -BeNullOrEmpty }
    }
}

Describe 'Fleet faults' -Tag 'Fleet' {
    It 'the controller killed with kill -9 while every host is frozen: each host is thawed by its lease within the lease plus 2 s' {
        $lease = 6
        $run = Invoke-FleetRun -LeaseSec $lease -HoldSec 120 -Background
        $null = Wait-FleetMarker $run
        $writers = foreach ($e in $Hosts) { [pscustomobject]@{ Entry = $e; Pid = (Start-HostWriter $e.SimHost '/data2/kill.txt' 'kill-w') } }
        foreach ($w in $writers) { Wait-HostProcessState $w.Entry.SimHost $w.Pid 'D' | Should -Be 'D' }
        # A renewal or two first, so the leases that remain are the renewed ones.
        Start-Sleep -Seconds 4
        $c = $run.Controller
        # The controller pwsh itself (nsenter execs it): its PID, checked against its start time, never a group.
        $stat = [IO.File]::ReadAllText("/proc/$($c.Pid)/stat")
        $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')[19] | Should -Be $c.StartTime
        (Get-Content "/proc/$($c.Pid)/comm") | Should -Match 'pwsh|dotnet'
        $killedAt = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds() / 1000
        & kill -KILL $c.Pid
        $c.Process.WaitForExit(10000) | Should -BeTrue

        foreach ($w in $writers) {
            $done = Wait-HostFile $w.Entry.SimHost '/run/kill-w.done' -TimeoutSec ($lease + 10)
            $done | Should -Not -BeNullOrEmpty -Because "$($w.Entry.Name) must thaw by its lease"
            Write-Host "Fleet: $($w.Entry.Name) thawed by its $lease s lease $(([double]$done - $killedAt).ToString('0.00')) s after the controller's kill -9"
            ([double]$done - $killedAt) | Should -BeLessOrEqual ($lease + 2) -Because "$($w.Entry.Name) thaws within the lease plus 2 s of the kill"
            Get-HostFrozen $w.Entry.SimHost | Should -BeNullOrEmpty
        }
        # The copies were taken while every host was frozen, before the kill.
        Assert-SnapshotClean $run.Snapshot -Count 6
    }

    It 'SIGTERM to the controller while every host is frozen thaws every host at once, long before the lease' {
        $lease = 30
        $run = Invoke-FleetRun -LeaseSec $lease -HoldSec 120 -Background
        $null = Wait-FleetMarker $run
        $writers = foreach ($e in $Hosts) { [pscustomobject]@{ Entry = $e; Pid = (Start-HostWriter $e.SimHost '/data1/term.txt' 'term-w') } }
        foreach ($w in $writers) { Wait-HostProcessState $w.Entry.SimHost $w.Pid 'D' | Should -Be 'D' }
        $c = $run.Controller
        $stat = [IO.File]::ReadAllText("/proc/$($c.Pid)/stat")
        $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')[19] | Should -Be $c.StartTime
        $termAt = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds() / 1000
        & kill -TERM $c.Pid
        $c.Process.WaitForExit(20000) | Should -BeTrue -Because 'SIGTERM ends the controller after the thaw'
        foreach ($w in $writers) {
            $done = Wait-HostFile $w.Entry.SimHost '/run/term-w.done' -TimeoutSec 10
            $done | Should -Not -BeNullOrEmpty
            ([double]$done - $termAt) | Should -BeLessThan 10 -Because "$($w.Entry.Name) is thawed by the controller's SIGTERM handler, not by its $lease s lease"
            Get-HostFrozen $w.Entry.SimHost | Should -BeNullOrEmpty
        }
        Assert-SnapshotClean $run.Snapshot -Count 6
    }

    It 'one host''s freeze fails: every host that froze is thawed again, the scriptblock does not run, another tool''s freeze is left alone' {
        $bad = Get-HostEntry 'fleet3'
        Invoke-SimHost $bad.SimHost 'fsfreeze -f /data1' -Check | Out-Null   # another tool holds it: FIFREEZE gives EBUSY
        try {
            $res = Invoke-FleetRun -LeaseSec 10 -HoldSec 5
            $res.Ran | Should -BeFalse
            $res.Errors.Count | Should -Be 1 -Because ($res.Errors | ConvertTo-Json -Depth 4)
            $res.Errors[0].Id | Should -Be 'FsFreeze.FleetFreezeFailed'
            $res.Errors[0].Message | Should -Match '\[10\.231\.3\.2\] FsFreeze\.AlreadyFrozen'
            ($res.Hosts | Where-Object Name -EQ 'fleet3').State | Should -Be 'FreezeFailed'
            ($res.Hosts | Where-Object Name -EQ 'fleet3').ErrorId | Should -Be 'FsFreeze.AlreadyFrozen'
            foreach ($h in $res.Hosts | Where-Object Name -NE 'fleet3') {
                $h.State | Should -Be 'RolledBack' -Because "$($h.Name) froze and was thawed again (all or nothing)"
                $h.FrozenAt | Should -Not -BeNullOrEmpty
                $h.ThawedAt | Should -Not -BeNullOrEmpty
            }
            foreach ($e in $Hosts | Where-Object Name -NE 'fleet3') { Get-HostFrozen $e.SimHost | Should -BeNullOrEmpty -Because "no host is left frozen ($($e.Name))" }
            Get-HostFrozen $bad.SimHost | Should -Be @('/data1') -Because 'the other tool''s freeze is not FsFreeze''s to thaw; /data2 was thawed by its own set'
            @(Get-ChildItem -LiteralPath $res.Snapshot) | Should -BeNullOrEmpty -Because 'no snapshot was taken'
        }
        finally {
            Invoke-SimHost $bad.SimHost 'fsfreeze -u /data1' | Out-Null
        }
        Remove-Item -LiteralPath $res.Snapshot -Recurse -Force
    }

    It 'a host whose link is cut during the snapshot thaws by its lease, and the run reports the fleet snapshot inconsistent' {
        $lease = 6
        $cut = Get-HostEntry 'fleet2'
        $run = Invoke-FleetRun -LeaseSec $lease -HoldSec 60 -Background
        $null = Wait-FleetMarker $run
        $w = Start-HostWriter $cut.SimHost '/data1/cut.txt' 'cut-w'
        Wait-HostProcessState $cut.SimHost $w 'D' | Should -Be 'D'
        try {
            $cutAt = [DateTimeOffset](Set-SimFleetLink $Fleet $cut.Name -Down)
            $done = Wait-HostFile $cut.SimHost '/run/cut-w.done' -TimeoutSec ($lease + 10)
            $done | Should -Not -BeNullOrEmpty -Because 'its lease thaws the host cut off from the controller'
            Write-Host "Fleet: $($cut.Name) thawed by its $lease s lease $(([double]$done - $cutAt.ToUnixTimeMilliseconds() / 1000).ToString('0.00')) s after its link was cut"
            ([double]$done - $cutAt.ToUnixTimeMilliseconds() / 1000) | Should -BeLessOrEqual ($lease + 2)
            Start-Sleep -Seconds 1
            $res = Complete-FleetRun $run
        }
        finally {
            $null = Set-SimFleetLink $Fleet $cut.Name -Up
        }
        $res.Ran | Should -BeTrue
        $h2 = $res.Hosts | Where-Object Name -EQ $cut.Name
        $h2.HeldThroughScriptBlock | Should -BeFalse
        $h2.State | Should -BeIn 'Unreachable', 'ThawedByLease'
        $h2.Reason | Should -Not -BeNullOrEmpty
        foreach ($h in $res.Hosts | Where-Object Name -NE $cut.Name) {
            $h.State | Should -Be 'Thawed'
            $h.HeldThroughScriptBlock | Should -BeTrue
        }
        $inconsistent = @($res.Errors | Where-Object Id -EQ 'FsFreeze.FleetInconsistent')
        $inconsistent.Count | Should -Be 1 -Because 'a host thawed before the scriptblock ended is an error, not a warning'
        $inconsistent[0].Category | Should -Be 'InvalidResult'
        $inconsistent[0].Message | Should -Match '10\.231\.2\.2'
        $inconsistent[0].Target | Should -Be "10.231.2.2 ($($h2.State))"
        foreach ($e in $Hosts) { Get-HostFrozen $e.SimHost | Should -BeNullOrEmpty }
        # The copies were taken before the cut, while every host was frozen.
        Assert-SnapshotClean $res.Snapshot -Count 6
    }

    It 'a host whose / is in its set: the thaw reaches it through the session that was already open' {
        # An independent thaw behind every host, armed before the freeze.
        $guards = foreach ($e in $Hosts) { Start-SimHostThawGuard $e.SimHost -AfterSec 120 }
        try {
            Write-Dirty 'root'
            $run = Invoke-FleetRun -Path '/', '/data1' -Roles 'root', 'data1' -Force -LeaseSec 10 -HoldSec 60 -Background
            $null = Wait-FleetMarker $run
            $writers = foreach ($e in $Hosts) { [pscustomobject]@{ Entry = $e; Pid = (Start-HostWriter $e.SimHost '/var/tmp/root-probe.txt' 'root-w') } }
            foreach ($w in $writers) { Wait-HostProcessState $w.Entry.SimHost $w.Pid 'D' | Should -Be 'D' -Because "/ of $($w.Entry.Name) is frozen" }
            $res = Complete-FleetRun $run
            $res.ExitCode | Should -Be 0 -Because $res.StdErr
            $res.Errors | Should -BeNullOrEmpty
            foreach ($h in $res.Hosts) {
                $h.State | Should -Be 'Thawed' -Because "$($h.Name) was thawed through its open session, not by its lease"
                $h.HeldThroughScriptBlock | Should -BeTrue
                @($h.MountPoint) | Should -Contain '/'
            }
            foreach ($w in $writers) { Wait-HostFile $w.Entry.SimHost '/run/root-w.done' | Should -Not -BeNullOrEmpty }
            foreach ($e in $Hosts) { Get-HostFrozen $e.SimHost '/', '/data1' | Should -BeNullOrEmpty }
            Assert-SnapshotClean $res.Snapshot -Count 6
        }
        finally {
            foreach ($e in $Hosts) { $null = Invoke-SimHostThaw $e.SimHost }
            foreach ($g in $guards) { Stop-SimHostThawGuard $g }
        }
    }
}

Describe 'The fsfreeze_fleet Ansible role' -Tag 'Fleet', 'Ansible' {
    BeforeAll {
        $AnsibleDir = Join-Path $PSScriptRoot '../docs/examples/ansible'
        $Playbook = Join-Path $AnsibleDir 'fleet_snapshot.yml'
        $Inventory = Join-Path $Fleet.Dir 'fleet.ini'
        # The inventory reaches the hosts over SSH at their fleet addresses, with the fleet's key and known_hosts.
        Set-Content -LiteralPath $Inventory -Value (@('[fleet]') + @($Conn.Hosts | ForEach-Object { "$($_.Name) ansible_host=$($_.Address)" }) + @(
                '[fleet:vars]', 'ansible_user=root', "ansible_ssh_private_key_file=$($Conn.KeyFile)",
                "ansible_ssh_common_args='-o UserKnownHostsFile=$($Conn.KnownHosts) -o StrictHostKeyChecking=yes -o BatchMode=yes'",
                'ansible_python_interpreter=/usr/bin/python3',
                # Ansible's files on the hosts go to a tmpfs, never to a filesystem the play freezes.
                'ansible_remote_tmp=/run/ansible-tmp'))

        function Invoke-FleetPlaybook([hashtable] $ExtraVars) {
            $tag = [guid]::NewGuid().ToString('N').Substring(0, 8)
            $snap = Join-Path $Conn.Storage "snapshots/ansible-$tag"
            $null = New-Item -ItemType Directory -Path $snap
            # The snapshot, run once on the controller: a reflink copy of every host's data images.
            $lines = @('set -e') + @(foreach ($h in $Conn.Hosts) { foreach ($i in @($h.Images | Where-Object Role -In 'data1', 'data2')) { "cp --reflink=always '$($i.Image)' '$snap/$($h.Name)-$($i.Role).img'" } })
            if ($ExtraVars.ContainsKey('snapshot_sleep')) { $lines += "sleep $($ExtraVars.snapshot_sleep)"; $ExtraVars = $ExtraVars.Clone(); $ExtraVars.Remove('snapshot_sleep') }
            $snapScript = Join-Path $Fleet.Dir "snapshot-$tag.sh"
            Set-Content -LiteralPath $snapScript -Value $lines
            $vars = @{ fsfreeze_fleet_paths = @('/data1', '/data2'); fsfreeze_fleet_lease_sec = 30; fsfreeze_fleet_snapshot_argv = @('/bin/sh', $snapScript) }
            foreach ($k in $ExtraVars.Keys) { $vars[$k] = $ExtraVars[$k] }
            $varsFile = Join-Path $Fleet.Dir "vars-$tag.json"
            $vars | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath $varsFile
            $envs = @{
                ANSIBLE_ROLES_PATH = (Join-Path $AnsibleDir 'roles'); ANSIBLE_LOCAL_TEMP = (Join-Path $Fleet.Dir 'ansible-local')
                ANSIBLE_SSH_CONTROL_PATH_DIR = (Join-Path $Fleet.Dir 'ansible-cp'); ANSIBLE_PIPELINING = 'True'; ANSIBLE_NOCOLOR = '1'
                ANSIBLE_RETRY_FILES_ENABLED = 'false'; ANSIBLE_HOST_KEY_CHECKING = 'True'; HOME = $Fleet.Dir
            }
            $r = Invoke-SimFleetNative $Fleet ansible-playbook -ArgumentList '-i', $Inventory, $Playbook, '-e', "@$varsFile" -Environment $envs -TimeoutSec 240
            $recap = @{}
            foreach ($m in [regex]::Matches($r.StdOut, '(?m)^(fleet\d)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)')) {
                $recap[$m.Groups[1].Value] = [pscustomobject]@{ Ok = [int]$m.Groups[2].Value; Changed = [int]$m.Groups[3].Value; Failed = [int]$m.Groups[5].Value; Rescued = [int]$m.Groups[7].Value }
            }
            [pscustomobject]@{ ExitCode = $r.ExitCode; Output = "$($r.StdOut)`n$($r.StdErr)"; Recap = $recap; Snapshot = $snap }
        }
    }

    It 'freezes every host with a lease, snapshots on the controller, verifies, thaws: changed, not failed, copies clean' {
        Write-Dirty 'ansible'
        $run = Invoke-FleetPlaybook @{}
        $run.ExitCode | Should -Be 0 -Because $run.Output
        $run.Recap.Count | Should -Be 3 -Because $run.Output
        foreach ($n in 'fleet1', 'fleet2', 'fleet3') {
            $run.Recap[$n].Failed | Should -Be 0
            $run.Recap[$n].Rescued | Should -Be 0
            $run.Recap[$n].Changed | Should -BeGreaterOrEqual 2 -Because "$n was frozen and thawed (the controller's snapshot counts for the first host)"
        }
        $run.Output | Should -Match 'TASK \[fsfreeze_fleet : Verify the freeze still holds[^\n]*\n(ok: \[fleet\d\]\n){3}'
        foreach ($e in $Hosts) { Get-HostFrozen $e.SimHost | Should -BeNullOrEmpty }
        Assert-SnapshotClean $run.Snapshot -Count 6
    }

    It 'a host whose freeze fails rolls the others back: the play fails, no snapshot, nothing left frozen' {
        $bad = Get-HostEntry 'fleet3'
        Invoke-SimHost $bad.SimHost 'fsfreeze -f /data1' -Check | Out-Null
        try {
            $run = Invoke-FleetPlaybook @{}
            $run.ExitCode | Should -Not -Be 0
            foreach ($n in 'fleet1', 'fleet2', 'fleet3') { $run.Recap[$n].Failed | Should -Be 1 -Because "the fleet failed, so $n did ($($run.Output))" }
            $run.Output | Should -Match 'Not every host froze \(fleet3 did not\): no snapshot is taken'
            $run.Output | Should -Match 'TASK \[fsfreeze_fleet : Thaw what was frozen\][^\n]*\n(skipping: \[fleet3\]\n|changed: \[fleet[12]\]\n){3}'
            @(Get-ChildItem -LiteralPath $run.Snapshot) | Should -BeNullOrEmpty
            foreach ($e in $Hosts | Where-Object Name -NE 'fleet3') { Get-HostFrozen $e.SimHost | Should -BeNullOrEmpty }
            Get-HostFrozen $bad.SimHost | Should -Be @('/data1') -Because 'the other tool''s freeze is left alone'
        }
        finally { Invoke-SimHost $bad.SimHost 'fsfreeze -u /data1' | Out-Null }
        Remove-Item -LiteralPath $run.Snapshot -Recurse -Force
    }

    It 'a snapshot that outlives the lease fails the verification: the play fails as inconsistent, every host thawed' {
        $run = Invoke-FleetPlaybook @{ fsfreeze_fleet_lease_sec = 3; snapshot_sleep = 6 }
        $run.ExitCode | Should -Not -Be 0
        foreach ($n in 'fleet1', 'fleet2', 'fleet3') { $run.Recap[$n].Failed | Should -Be 1 -Because "the fleet failed, and the thaw of a freeze its lease ended is no failure ($($run.Output))" }
        $run.Output | Should -Match 'The fleet snapshot is inconsistent'
        $run.Output | Should -Match 'FsFreeze|thawed by the timeout|already thawed'
        foreach ($e in $Hosts) { Get-HostFrozen $e.SimHost | Should -BeNullOrEmpty }
        Remove-Item -LiteralPath $run.Snapshot -Recurse -Force
    }
}
