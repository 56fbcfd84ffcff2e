#Requires -Modules Pester
# Issue 8, "Exact ownership": FsFreeze freezes, reports and thaws exactly the freeze it made, and nothing else.
# Written BEFORE the fix: each test is named after the defect it proves and fails against the code of that time
# where it encodes a defect (see the report in the commit message).
#
# Safety: only loop filesystems these tests mounted under temp directories they made are frozen. Every test has an
# independent thaw behind it (a setsid'ed timer, Start-IndependentThaw), and one teardown (Complete-TestContext)
# that, also when the test failed, stops the test's watchdogs (by pid, from its own state directory), thaws every
# mount of the test, only then kills its children, unmounts and detaches. A filesystem unmounted while frozen is
# mounted again and thawed before its loop device is detached. The state directory is a tmpfs of this file's own.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    Import-Module $PSScriptRoot/ExactnessHelpers.psm1 -Force

    # A private state directory on a tmpfs of our own: never /run/fsfreeze, never another engineer's freezes.
    $script:SavedStateDir = $env:FSFREEZE_STATE_DIR
    $script:StateRoot = New-StateRoot
    $env:FSFREEZE_STATE_DIR = $script:StateRoot.Dir
    # Module folders whose fsfreeze-watchdog processes the teardown may stop (by pid).
    $script:ModuleDirs = [Collections.Generic.List[string]]::new()
    $script:ModuleDirs.Add((Resolve-Path $env:FSFREEZE_TEST_MODULE).ProviderPath)

    function New-TestContext {
        [pscustomobject]@{
            Fs         = [Collections.Generic.List[object]]::new()   # New-LoopFilesystem fixtures, removed last first
            Mounts     = [Collections.Generic.List[string]]::new()   # extra mounts (bind, tmpfs), unmounted last first, before Fs
            Children   = [Collections.Generic.List[object]]::new()
            Timers     = [Collections.Generic.List[object]]::new()
            Watchdogs  = [Collections.Generic.List[int]]::new()
            StateDirs  = [Collections.Generic.List[string]]::new()   # other state directories the test pointed FsFreeze at
            StateRoots = [Collections.Generic.List[object]]::new()   # tmpfs state roots the test mounted
            Scratch    = [Collections.Generic.List[string]]::new()
            Pre        = [Collections.Generic.List[scriptblock]]::new()   # first of all (remove a FIFO from a state directory)
            Thaw       = [Collections.Generic.List[scriptblock]]::new()   # extra thaws (a filesystem unmounted while frozen)
        }
    }

    function Add-Fs {
        param($Ctx, [hashtable] $Spec = @{})
        $fs = New-LoopFilesystem @Spec
        $Ctx.Fs.Add($fs)
        $fs
    }

    function Add-Scratch {
        param($Ctx, [string] $Mode = '0755')
        $d = New-ScratchDirectory -Mode $Mode
        $Ctx.Scratch.Add($d)
        $d
    }

    function Protect-TestContext {
        # The independent thaw: every mount of the test, after -AfterSec, whatever happens to this process.
        param($Ctx, [int] $AfterSec = 150, [string] $Loop, [string] $Image)
        $points = @($Ctx.Mounts) + @($Ctx.Fs | ForEach-Object MountPoint)
        $Ctx.Timers.Add((Start-IndependentThaw -MountPoint $points -AfterSec $AfterSec -Loop $Loop -Image $Image))
    }

    function Add-WatchdogOf {
        # Remembers the watchdog pids Get-FsFreezeStatus names for a path (never while a FIFO is in the state directory).
        param($Ctx, [string] $Path)
        foreach ($s in @(Get-FsFreezeStatus -Path $Path -ErrorAction SilentlyContinue -WarningAction SilentlyContinue)) {
            if ($s -and $s.WatchdogPid -gt 0) { $Ctx.Watchdogs.Add($s.WatchdogPid) }
        }
    }

    function Restore-UnmountedFrozen {
        # A filesystem unmounted while frozen stays frozen, invisibly: mount its device again, thaw it there, and let
        # the fixture's teardown unmount that place and detach the device.
        param($Fs)
        if (-not $Fs.Loop) { return }
        $mounted = Select-String -LiteralPath /proc/self/mounts -SimpleMatch -Pattern "$($Fs.Loop) " -Quiet
        if ($mounted) { return }
        $again = "$($Fs.Root)/rescue"
        try {
            Mount-Device -Device $Fs.Loop -MountPoint $again | Out-Null
            Invoke-Quiet fsfreeze -u $again | Out-Null
            $Fs.MountPoint = $again
        }
        catch { Write-Warning "Teardown: could not mount $($Fs.Loop) again to thaw it: $_" }
    }

    function Complete-TestContext {
        param($Ctx)
        if (-not $Ctx) { return }
        # Each step on its own: one that fails is reported and the others still run.
        function Step([string] $Name, [scriptblock] $Do) { try { & $Do } catch { Write-Warning "Teardown ($Name): $_" } }
        foreach ($sb in $Ctx.Pre) { Step 'pre' $sb }
        # 1. Watchdogs (pids read from our state directories, or noted by the test): SIGTERM thaws what they hold.
        Step 'watchdogs' {
            $dirs = @($script:StateRoot.Dir) + @($Ctx.StateDirs)
            $pids = @($Ctx.Watchdogs) + @(Get-StateWatchdogPid -Dir $dirs)
            Stop-Watchdog -ProcessId $pids -ModuleDir $script:ModuleDirs
        }
        # 2. Thaw every mount of the test (tolerating "not frozen"), and what was unmounted while frozen.
        Step 'thaw' {
            foreach ($m in @($Ctx.Mounts) + @($Ctx.Fs | ForEach-Object MountPoint)) {
                if ($m -and (Invoke-Quiet mountpoint -q $m) -eq 0) { Invoke-Quiet fsfreeze -u $m | Out-Null }
            }
        }
        foreach ($sb in $Ctx.Thaw) { Step 'thaw' $sb }
        # 3. Children: only now can one asleep on a frozen filesystem die.
        Step 'children' { Stop-Child $Ctx.Children }
        # 4. Extra mounts, then fixtures, last made first.
        for ($i = $Ctx.Mounts.Count - 1; $i -ge 0; $i--) { Step 'unmount' { Dismount-Path $Ctx.Mounts[$i] } }
        for ($i = $Ctx.Fs.Count - 1; $i -ge 0; $i--) { Step 'fixture' { Remove-LoopFilesystem $Ctx.Fs[$i] } }
        # 5. The independent thaws are not needed any more.
        Step 'timers' { Stop-IndependentThaw $Ctx.Timers }
        # 6. State.
        $env:FSFREEZE_STATE_DIR = $script:StateRoot.Dir
        foreach ($sr in $Ctx.StateRoots) { Step 'state root' { Remove-StateRoot $sr } }
        Step 'state' { Reset-StateDirectory $script:StateRoot.Dir }
        foreach ($d in $Ctx.Scratch) { Step 'scratch' { Remove-ScratchDirectory $d } }
    }

    function Format-Ids {
        # 'FsFreeze.A,FsFreeze.B' of a list of ErrorRecords ('' for none): one string for one assertion.
        param($Errors)
        (@($Errors) | Get-ErrorId) -join ','
    }

    function Fill-Filesystem {
        # Fills a tmpfs until ENOSPC; returns whether a further 4 KB write then fails (the precondition).
        param([string] $MountPoint)
        & dd if=/dev/zero "of=$MountPoint/fill" bs=4k 2>&1 | Out-Null
        try { [IO.File]::WriteAllBytes("$MountPoint/probe-full", [byte[]]::new(4096)); $false }
        catch { $true }
    }
}

AfterAll {
    # Watchdogs still named in our state directory (there should be none), then the tmpfs.
    Stop-Watchdog -ProcessId (Get-StateWatchdogPid -Dir $script:StateRoot.Dir) -ModuleDir $script:ModuleDirs
    $env:FSFREEZE_STATE_DIR = $script:SavedStateDir
    Remove-StateRoot $script:StateRoot
}

Describe 'Issue 8: exact ownership' -Tag 'Exactness' {
    # One context per test: what it made, and the one teardown that undoes it (also when the test failed).
    BeforeEach { $ctx = New-TestContext }
    AfterEach { Complete-TestContext $ctx }

    Describe 'Defect 1: a directory on the path swapped for a symlink between planning and open' -Tag 'Exactness' {
        BeforeEach {
            $A = Add-Fs $ctx
            $B = Add-Fs $ctx
            # u belongs to a user (uid 65534), who may rename what is in it: the swap needs no privilege.
            [IO.Directory]::CreateDirectory("$($A.MountPoint)/u/x") | Out-Null
            Invoke-Native chown 65534:65534 "$($A.MountPoint)/u" | Out-Null
            Protect-TestContext $ctx
        }

        It 'defect 1: the swap (to a symlink onto B) after "Resolved" is FsFreeze.PathChanged and freezes neither A nor B (-TimeoutSec <T>)' -ForEach @(
            @{ T = 0 }, @{ T = 60 }
        ) {
            $path = "$($A.MountPoint)/u/x"
            $target = $B.MountPoint
            $r = Invoke-InRunspace -Command 'Invoke-FsFreeze' -Parameters @{ Path = $path; TimeoutSec = $T; Verbose = $true } -TimeoutSec 60 -Setup {
                param($ps)
                [FsFreezeExactTest.SwapOnVerbose]::Attach($ps.Streams.Verbose, 'Resolved ', $path, "$path.aside", $target)
            }
            $aFrozen = Test-Frozen $A.MountPoint
            $bFrozen = Test-Frozen $B.MountPoint
            $r.Completed | Should -BeTrue -Because 'Invoke-FsFreeze returns'
            $r.State.Fired | Should -BeTrue -Because 'precondition: the handler swapped the directory when "Resolved" was written'
            $r.State.Error | Should -BeNullOrEmpty -Because 'precondition: the swap itself worked'
            (Get-Item -LiteralPath $path).LinkType | Should -Be 'SymbolicLink'

            $facts = "errors=$(Format-Ids $r.Errors); output=$(@($r.Output | ForEach-Object MountPoint) -join ','); A frozen=$aFrozen; B frozen=$bFrozen"
            $facts | Should -Be 'errors=FsFreeze.PathChanged; output=; A frozen=False; B frozen=False' -Because "it was: $facts"
        }
    }

    Describe 'Defect 2: a path under a mount that a later mount hides' -Tag 'Exactness' {
        BeforeEach {
            $R = Add-Scratch $ctx
            $A = Move-LoopFilesystem (Add-Fs $ctx) "$R/p/q"
            $abind = Mount-Device -Device $A.MountPoint -MountPoint "$R/abind" -Option '--bind'   # A stays probe-able here
            $ctx.Mounts.Add($abind)
            $C = Add-Fs $ctx
            [IO.Directory]::CreateDirectory("$($C.MountPoint)/q") | Out-Null
            $C = Move-LoopFilesystem $C "$R/p"   # hides A (R/p/q is now C's directory q)
            Protect-TestContext $ctx
        }

        It 'defect 2: Invoke-FsFreeze R/p/q names and freezes C (mounted on R/p), not the hidden A' {
            $out = Invoke-FsFreeze "$R/p/q" -TimeoutSec 0 -ErrorVariable err -ErrorAction SilentlyContinue
            $cFrozen = Test-Frozen "$R/p"
            $aFrozen = Test-Frozen $abind
            $facts = "errors=$(Format-Ids $err); MountPoint=$(@($out | ForEach-Object MountPoint) -join ','); C frozen=$cFrozen; A frozen=$aFrozen"
            $facts | Should -Be "errors=; MountPoint=$R/p; C frozen=True; A frozen=False" -Because "it was: $facts"
            $out | Invoke-FsThaw -ErrorVariable thawErr -ErrorAction SilentlyContinue | Out-Null
            Format-Ids $thawErr | Should -BeNullOrEmpty
            Test-Frozen "$R/p" | Should -BeFalse
        }
    }

    Describe 'Defect 3: a stale Invoke-FsThaw' -Tag 'Exactness' {
        BeforeEach {
            $X = Add-Fs $ctx
            Protect-TestContext $ctx
        }

        It 'defect 3: <How> of a freeze the timeout ended is FsFreeze.ThawedByTimeout and leaves the newer freeze of X frozen' -ForEach @(
            @{ How = 'piping the old object'; Json = $false }
            @{ How = 'piping the old object after a JSON round trip'; Json = $true }
        ) {
            $a = Invoke-FsFreeze $X.MountPoint -TimeoutSec 3
            Add-WatchdogOf $ctx $X.MountPoint
            Wait-FsThawed $X.MountPoint -TimeoutSec 10 | Should -BeTrue -Because 'precondition: the 3 s timeout thawed X'
            $b = Invoke-FsFreeze $X.MountPoint -TimeoutSec 60
            Add-WatchdogOf $ctx $X.MountPoint
            Test-Frozen $X.MountPoint | Should -BeTrue -Because 'precondition: the second freeze holds X'

            $old = if ($Json) { $a | ConvertTo-Json -Depth 4 | ConvertFrom-Json } else { $a }
            $old | Invoke-FsThaw -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
            $stillFrozen = Test-Frozen $X.MountPoint
            $facts = "errors=$(Format-Ids $err); X still frozen=$stillFrozen"
            $facts | Should -Be 'errors=FsFreeze.ThawedByTimeout; X still frozen=True' -Because "it was: $facts"

            $b | Invoke-FsThaw -ErrorVariable err2 -ErrorAction SilentlyContinue | Out-Null
            Format-Ids $err2 | Should -BeNullOrEmpty
            Test-Frozen $X.MountPoint | Should -BeFalse
        }

        It 'defect 3: every object Invoke-FsFreeze emits carries a FreezeId (-TimeoutSec <T>)' -ForEach @(@{ T = 0 }, @{ T = 60 }) {
            $out = Invoke-FsFreeze $X.MountPoint -TimeoutSec $T
            Add-WatchdogOf $ctx $X.MountPoint
            try {
                @($out).Count | Should -Be 1
                $out.FreezeId | Should -Not -BeNullOrEmpty
            }
            finally { $out | Invoke-FsThaw -ErrorAction SilentlyContinue | Out-Null }
        }
    }

    Describe 'Defect 4: thaws that undo a freeze FsFreeze does not own' -Tag 'Exactness' {
        Context 'one filesystem (and a tmpfs)' {
            BeforeEach {
                $X = Add-Fs $ctx
                $T = Add-Fs $ctx @{ Type = 'tmpfs' }
                Protect-TestContext $ctx
            }

            It 'defect 4a: after a failed freeze of a set with X (-TimeoutSec <Timeout>), the stale thaw is FsFreeze.ThawedByTimeout and fsfreeze(8)''s freeze of X stays' -ForEach @(
                @{ Timeout = 60 }, @{ Timeout = 0 }
            ) {
                $a = Invoke-FsFreeze $X.MountPoint -TimeoutSec 3
                Add-WatchdogOf $ctx $X.MountPoint
                Wait-FsThawed $X.MountPoint -TimeoutSec 10 | Should -BeTrue -Because 'precondition: the 3 s timeout thawed X'

                Invoke-FsFreeze $X.MountPoint, $T.MountPoint -TimeoutSec $Timeout -ErrorVariable failed -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
                Format-Ids $failed | Should -Be 'FsFreeze.NotSupported' -Because 'precondition: the set fails on the tmpfs'
                Test-Frozen $X.MountPoint | Should -BeFalse -Because 'precondition: the failed set left X thawed'

                Invoke-OtherToolFreeze $X.MountPoint   # another tool
                $a | Invoke-FsThaw -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
                $stillFrozen = Test-Frozen $X.MountPoint
                $facts = "errors=$(Format-Ids $err); X still frozen=$stillFrozen"
                $facts | Should -Be 'errors=FsFreeze.ThawedByTimeout; X still frozen=True' -Because "it was: $facts"
            }

            It 'defect 4b: a thaw by path of a filesystem frozen by fsfreeze(8) is FsFreeze.NotOwned and leaves it frozen; -Force thaws it' {
                Invoke-OtherToolFreeze $X.MountPoint
                Invoke-FsThaw $X.MountPoint -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
                $stillFrozen = Test-Frozen $X.MountPoint
                $facts = "errors=$(Format-Ids $err); X still frozen=$stillFrozen"
                $facts | Should -Be 'errors=FsFreeze.NotOwned; X still frozen=True' -Because "it was: $facts"

                Invoke-FsThaw $X.MountPoint -Force -ErrorVariable err2 -ErrorAction SilentlyContinue | Out-Null
                Format-Ids $err2 | Should -BeNullOrEmpty
                Test-Frozen $X.MountPoint | Should -BeFalse
            }

            It 'defect 4c: with the state directory deleted, a thaw by path thaws X and ends its watchdog, whose old deadline then leaves fsfreeze(8)''s freeze alone' {
                $a = Invoke-FsFreeze $X.MountPoint -TimeoutSec 4
                $watchdogPid = (Get-FsFreezeStatus -Path $X.MountPoint).WatchdogPid
                $watchdogPid | Should -BeGreaterThan 0 -Because 'precondition: a watchdog holds X'
                $ctx.Watchdogs.Add($watchdogPid)
                $deadline = $a.Deadline
                Invoke-Native rm -rf $env:FSFREEZE_STATE_DIR | Out-Null

                Invoke-FsThaw $X.MountPoint -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
                $thawed = -not (Test-Frozen $X.MountPoint)
                $facts = "errors=$(Format-Ids $err); X thawed=$thawed"
                $facts | Should -Be 'errors=; X thawed=True' -Because "it was: $facts"
                if ([datetime]::Now -ge $deadline.AddMilliseconds(-300)) {
                    Set-ItResult -Inconclusive -Because 'the machine was too slow: the old deadline passed before fsfreeze -f could run'
                    return
                }
                Invoke-OtherToolFreeze $X.MountPoint   # another tool, before the old deadline
                while ([datetime]::Now -lt $deadline.AddSeconds(3)) { Start-Sleep -Milliseconds 200 }   # bounded: at most 7 s
                $stillFrozen = Test-Frozen $X.MountPoint
                $watchdogGone = -not (Test-IsOurWatchdog $watchdogPid $script:ModuleDirs) -or (Get-ProcessState $watchdogPid) -eq 'Z'
                $facts = "fsfreeze(8)'s freeze still there=$stillFrozen; watchdog gone=$watchdogGone"
                $facts | Should -Be "fsfreeze(8)'s freeze still there=True; watchdog gone=True" -Because "it was: $facts"
            }
        }

        Context 'a filesystem unmounted while frozen' {
            BeforeEach {
                $P = Add-Fs $ctx @{ MountName = 'P' }
                $X = New-NestedLoopFilesystem -Parent $P -MountName 'x'   # image outside P
                $ctx.Fs.Add($X)
                $ctx.Thaw.Add({ Restore-UnmountedFrozen $X })
                Protect-TestContext $ctx -Loop $X.Loop -Image $X.Image
            }

            It 'defect 4d: the object of a freeze whose filesystem was unmounted is FsFreeze.PathChanged, and does not thaw the parent fsfreeze(8) froze' {
                $a = Invoke-FsFreeze $X.MountPoint -TimeoutSec 0
                Test-Frozen $X.MountPoint | Should -BeTrue -Because 'precondition: X is frozen'
                Invoke-Native umount $X.MountPoint | Out-Null    # X stays frozen, invisibly; its path is now P's directory x
                Invoke-OtherToolFreeze $P.MountPoint   # another tool

                $a | Invoke-FsThaw -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
                $parentFrozen = Test-Frozen $P.MountPoint
                $facts = "errors=$(Format-Ids $err); P still frozen=$parentFrozen"
                $facts | Should -Be 'errors=FsFreeze.PathChanged; P still frozen=True' -Because "it was: $facts"
            }
        }
    }

    Describe 'Defect 5: -LiteralPath' -Tag 'Exactness' {
        BeforeEach {
            $R = Add-Scratch $ctx
            $A = Move-LoopFilesystem (Add-Fs $ctx) "$R/a\b"    # a directory literally named 'a\b'
            $B = Move-LoopFilesystem (Add-Fs $ctx) "$R/a/b"
            Protect-TestContext $ctx
        }

        It 'defect 5: -LiteralPath "R/a\b" freezes the filesystem mounted at a\b (not a/b), and its object thaws it' {
            $literal = "$R/a\b"
            $out = Invoke-FsFreeze -LiteralPath $literal -TimeoutSec 0 -ErrorVariable err -ErrorAction SilentlyContinue
            $aFrozen = Test-Frozen $literal
            $bFrozen = Test-Frozen "$R/a/b"
            $facts = "errors=$(Format-Ids $err); MountPoint=$(@($out | ForEach-Object MountPoint) -join ','); a\b frozen=$aFrozen; a/b frozen=$bFrozen"
            $facts | Should -Be "errors=; MountPoint=$literal; a\b frozen=True; a/b frozen=False" -Because "it was: $facts"

            $out | Invoke-FsThaw -ErrorVariable thawErr -ErrorAction SilentlyContinue | Out-Null
            Format-Ids $thawErr | Should -BeNullOrEmpty
            Test-Frozen $literal | Should -BeFalse
        }
    }

    Describe 'Defect 6: Use-FsFreeze and the signals of its process' -Tag 'Exactness' {
        BeforeEach {
            $X = Add-Fs $ctx
            $markerDir = Add-Scratch $ctx    # on /tmp, not on X
            Protect-TestContext $ctx
        }

        It 'defect 6: Use-FsFreeze (-TimeoutSec <T>) thaws X within 5 s when its pwsh gets SIG<Signal>' -ForEach @(
            @{ T = 0; Signal = 'TERM' }
            @{ T = 0; Signal = 'HUP' }
            @{ T = 60; Signal = 'TERM' }
            @{ T = 60; Signal = 'HUP' }
            @{ T = 60; Signal = 'KILL' }
        ) {
            $marker = "$markerDir/in-scope"
            $child = Start-ChildPwsh -Environment @{ X = $X.MountPoint; T = $T; MARKER = $marker } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
Use-FsFreeze $env:X -TimeoutSec ([int]$env:T) { Set-Content -LiteralPath $env:MARKER -Value 1; Start-Sleep 120 }
'@
            $ctx.Children.Add($child)
            Wait-Condition -TimeoutSec 30 { Test-Path -LiteralPath $marker } | Should -BeTrue -Because 'precondition: the scope started'
            if ($T -gt 0) { Add-WatchdogOf $ctx $X.MountPoint }
            Test-Frozen $X.MountPoint | Should -BeTrue -Because 'precondition: the scope holds X frozen'

            Send-Signal $Signal $child.Process.Id | Should -Be 0
            Wait-FsThawed $X.MountPoint -TimeoutSec 5 | Should -BeTrue -Because "the freeze of a Use-FsFreeze scope ends with its process (SIG$Signal)"
        }
    }

    Describe 'Defect 7: signals to the watchdog' -Tag 'Exactness' {
        BeforeEach {
            $X = Add-Fs $ctx
            Protect-TestContext $ctx
        }

        It 'defect 7a: SIGTERM to a watchdog whose deadline was cleared (Reset-FsFreezeTimeout 0) thaws X within 5 s and the watchdog exits' {
            $null = Invoke-FsFreeze $X.MountPoint -TimeoutSec 30
            $null = Reset-FsFreezeTimeout $X.MountPoint 0
            $watchdogPid = (Get-FsFreezeStatus -Path $X.MountPoint).WatchdogPid
            $watchdogPid | Should -BeGreaterThan 0
            $ctx.Watchdogs.Add($watchdogPid)

            Send-Signal TERM $watchdogPid | Should -Be 0
            $thawed = Wait-FsThawed $X.MountPoint -TimeoutSec 5
            $exited = Wait-Condition -TimeoutSec 5 { -not (Test-IsOurWatchdog $watchdogPid $script:ModuleDirs) -or (Get-ProcessState $watchdogPid) -eq 'Z' }
            $facts = "X thawed within 5 s=$thawed; watchdog exited=$exited"
            $facts | Should -Be 'X thawed within 5 s=True; watchdog exited=True' -Because "it was: $facts"
        }

        It 'defect 7b: Invoke-FsThaw thaws X held by a stopped (SIGSTOP) watchdog without error, and that watchdog is gone afterwards' {
            $null = Invoke-FsFreeze $X.MountPoint -TimeoutSec 3
            $watchdogPid = (Get-FsFreezeStatus -Path $X.MountPoint).WatchdogPid
            $watchdogPid | Should -BeGreaterThan 0
            $ctx.Watchdogs.Add($watchdogPid)   # the teardown kills it (SIGKILL, then SIGCONT): it must never thaw later
            Send-Signal STOP $watchdogPid | Should -Be 0
            Start-Sleep -Seconds 5

            Invoke-FsThaw $X.MountPoint -ErrorVariable err -ErrorAction SilentlyContinue -WarningAction SilentlyContinue | Out-Null
            $thawed = -not (Test-Frozen $X.MountPoint)
            $gone = Wait-Condition -TimeoutSec 5 { -not (Test-IsOurWatchdog $watchdogPid $script:ModuleDirs) -or (Get-ProcessState $watchdogPid) -eq 'Z' }
            $facts = "errors=$(Format-Ids $err); X thawed=$thawed; stopped watchdog gone=$gone"
            $facts | Should -Be 'errors=; X thawed=True; stopped watchdog gone=True' -Because "it was: $facts"
        }
    }

    Describe 'Defect 8: Use-FsFreeze streams redirected to the frozen filesystem' -Tag 'Exactness' {
        BeforeEach {
            $X = Add-Fs $ctx
            Protect-TestContext $ctx
        }

        It 'defect 8: Use-FsFreeze -Verbose X {...} -TimeoutSec 20 *>> X/log finishes without FsFreeze.ThawedByTimeout, every line in X/log' {
            $child = Start-ChildPwsh -Environment @{ X = $X.MountPoint } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
$sw = [Diagnostics.Stopwatch]::StartNew()
Use-FsFreeze -Verbose $env:X { Write-Verbose v -Verbose; Write-Information i; Write-Host h; 'out' } -TimeoutSec 20 -ErrorVariable problems *>> "$env:X/log"
"seconds:$([int]$sw.Elapsed.TotalSeconds)"
foreach ($p in $problems) { "error:$(($p.FullyQualifiedErrorId -split ',')[0])" }
'done'
'@
            $ctx.Children.Add($child)
            $r = Wait-Child $child -TimeoutSec 40 -BeforeKill { Invoke-Quiet fsfreeze -u $X.MountPoint | Out-Null }
            $log = @(if (Test-Path -LiteralPath "$($X.MountPoint)/log") { Get-Content -LiteralPath "$($X.MountPoint)/log" })
            $missing = @('v', 'i', 'h', 'out' | Where-Object { $log -notcontains $_ })
            $errors = @($r.Lines | Where-Object { $_ -like 'error:*' })
            $facts = "timed out=$($r.TimedOut); $($r.Lines | Where-Object { $_ -like 'seconds:*' }); $($errors -join ','); missing in log=$($missing -join ',')"
            $facts | Should -BeLike 'timed out=False; seconds:*; ; missing in log=' -Because "it was: $facts; the child said: $($r.Lines -join ' | ') $($r.StdErr)"
            [int](($r.Lines | Where-Object { $_ -like 'seconds:*' }) -replace 'seconds:') | Should -BeLessThan 15 -Because 'nothing waited on the frozen X'
        }
    }

    Describe 'Defect 9: the state directory on a filesystem the earlier call froze' -Tag 'Exactness' {
        BeforeEach {
            $X = Add-Fs $ctx
            $Y = Add-Fs $ctx
            $stateOnX = "$($X.MountPoint)/state"
            [IO.Directory]::CreateDirectory($stateOnX) | Out-Null
            Invoke-Native chmod 0700 $stateOnX | Out-Null
            $ctx.Mounts.Add($stateOnX)   # the redesign may mount a tmpfs there: unmounted before X
            $ctx.StateDirs.Add($stateOnX)
            Protect-TestContext $ctx
        }

        It 'defect 9: freezing X, then Y (-TimeoutSec 0) with FSFREEZE_STATE_DIR=X/state does not hang: each succeeds or is FsFreeze.UnsafeStateDirectory' {
            $child = Start-ChildPwsh -Environment @{ X = $X.MountPoint; Y = $Y.MountPoint; FSFREEZE_STATE_DIR = $stateOnX } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
foreach ($name in 'X', 'Y') {
    $out = Invoke-FsFreeze ([Environment]::GetEnvironmentVariable($name)) -TimeoutSec 0 -ErrorVariable problems -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
    "${name}:$(@($out).Count):$((@($problems) | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] }) -join ',')"
}
'done'
'@
            $ctx.Children.Add($child)
            $r = Wait-Child $child -TimeoutSec 30 -BeforeKill {
                Invoke-Quiet fsfreeze -u $X.MountPoint | Out-Null
                Invoke-Quiet fsfreeze -u $Y.MountPoint | Out-Null
            }
            $r.TimedOut | Should -BeFalse -Because "the child must not hang on a state write to the frozen X (it said: $($r.Lines -join ' | '))"
            $r.Lines | Should -Contain 'done'
            foreach ($name in 'X', 'Y') {
                $line = $r.Lines | Where-Object { $_ -like "${name}:*" }
                $line | Should -BeIn @("${name}:1:", "${name}:0:FsFreeze.UnsafeStateDirectory")
            }
        }
    }

    Describe 'Defect 10: descriptors the watchdog inherits' -Tag 'Exactness' {
        BeforeEach {
            $X = Add-Fs $ctx
            $dir = Add-Scratch $ctx
            Protect-TestContext $ctx
        }

        It 'defect 10: flock''s lock is free once "flock LOCK pwsh -c Invoke-FsFreeze X -TimeoutSec 30" exited, while the watchdog still holds X' {
            $lock = "$dir/lock"
            [IO.File]::WriteAllText($lock, '')
            $child = Start-ChildPwsh -Prefix 'flock', $lock -Environment @{ X = $X.MountPoint } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
$null = Invoke-FsFreeze $env:X -TimeoutSec 30 -ErrorAction Stop
'@
            $ctx.Children.Add($child)
            $r = Wait-Child $child -TimeoutSec 60 -BeforeKill { Invoke-Quiet fsfreeze -u $X.MountPoint | Out-Null }
            Add-WatchdogOf $ctx $X.MountPoint
            $r.ExitCode | Should -Be 0 -Because "precondition: the freeze worked ($($r.StdErr))"
            Test-Frozen $X.MountPoint | Should -BeTrue -Because 'precondition: the watchdog holds X'
            Invoke-Quiet flock -n $lock true | Should -Be 0 -Because 'the watchdog must not hold the lock file descriptor it inherited'
        }
    }

    Describe 'Defect 11: a full state directory' -Tag 'Exactness' {
        BeforeEach {
            $tiny = New-StateRoot -Size 256k
            $ctx.StateRoots.Add($tiny)
            $ctx.StateDirs.Add($tiny.Dir)
            $env:FSFREEZE_STATE_DIR = $tiny.Dir   # the teardown restores the file's state directory
            $X = Add-Fs $ctx
            $Y = Add-Fs $ctx
            Protect-TestContext $ctx
        }

        It 'defect 11: with the state directory full, Reset-FsFreezeTimeout fails with an FsFreeze error and Get-FsFreezeStatus still shows the old deadline' {
            $null = Invoke-FsFreeze $X.MountPoint -TimeoutSec 30
            Add-WatchdogOf $ctx $X.MountPoint
            $old = (Get-FsFreezeStatus -Path $X.MountPoint).Deadline
            Fill-Filesystem $tiny.Mount | Should -BeTrue -Because 'precondition: the state tmpfs is full'

            Reset-FsFreezeTimeout $X.MountPoint 60 -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
            $now = (Get-FsFreezeStatus -Path $X.MountPoint -ErrorAction SilentlyContinue).Deadline
            $facts = "errors like FsFreeze.*=$((Format-Ids $err) -like 'FsFreeze.*'); deadline unchanged=$($null -ne $now -and [math]::Abs(($now - $old).TotalSeconds) -lt 1)"
            $facts | Should -Be 'errors like FsFreeze.*=True; deadline unchanged=True' -Because "it was: $facts"
        }

        It 'defect 11: a reset that failed for a full state directory leaves the old deadline in force (X thawed by it) [added: status and watchdog agree]' {
            $a = Invoke-FsFreeze $X.MountPoint -TimeoutSec 5
            Add-WatchdogOf $ctx $X.MountPoint
            Fill-Filesystem $tiny.Mount | Should -BeTrue -Because 'precondition: the state tmpfs is full'
            Reset-FsFreezeTimeout $X.MountPoint 60 -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
            Format-Ids $err | Should -BeLike 'FsFreeze.*'
            $left = ($a.Deadline - [datetime]::Now).TotalSeconds
            Wait-FsThawed $X.MountPoint -TimeoutSec ([math]::Max(0, $left) + 3) | Should -BeTrue -Because 'the failed reset must not have moved the deadline Get-FsFreezeStatus still shows'
        }

        It 'defect 11: a freeze (-TimeoutSec 3) with the state directory full fails cleanly with nothing frozen, or succeeds' {
            Fill-Filesystem $tiny.Mount | Should -BeTrue -Because 'precondition: the state tmpfs is full'
            $out = Invoke-FsFreeze $Y.MountPoint -TimeoutSec 3 -ErrorVariable err -ErrorAction SilentlyContinue
            Add-WatchdogOf $ctx $Y.MountPoint
            if ($out) {
                $out | Invoke-FsThaw -ErrorVariable thawErr -ErrorAction SilentlyContinue | Out-Null
                Format-Ids $thawErr | Should -BeIn @('', 'FsFreeze.ThawedByTimeout')
                Test-Frozen $Y.MountPoint | Should -BeFalse
            }
            else {
                Format-Ids $err | Should -BeLike 'FsFreeze.*'
                Test-Frozen $Y.MountPoint | Should -BeFalse -Because 'a failed freeze leaves nothing frozen'
            }
        }

        It 'defect 11: a timeout that fires with the state directory full is not listed as Frozen, and Invoke-FsThaw reports FsFreeze.ThawedByTimeout (not NotFrozen)' {
            $a = Invoke-FsFreeze $X.MountPoint -TimeoutSec 3
            Add-WatchdogOf $ctx $X.MountPoint
            Fill-Filesystem $tiny.Mount | Should -BeTrue -Because 'precondition: the state tmpfs is full'
            Wait-FsThawed $X.MountPoint -TimeoutSec 10 | Should -BeTrue -Because 'precondition: the timeout thawed X'
            Start-Sleep -Seconds 1   # the watchdog's bookkeeping after its thaw

            $listed = @(Get-FsFreezeStatus -ErrorAction SilentlyContinue -WarningAction SilentlyContinue | Where-Object { $_.MountPoint -eq $X.MountPoint -and "$($_.State)" -eq 'Frozen' })
            $a | Invoke-FsThaw -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
            $facts = "listed as Frozen=$($listed.Count); errors=$(Format-Ids $err)"
            $facts | Should -Be 'listed as Frozen=0; errors=FsFreeze.ThawedByTimeout' -Because "it was: $facts"
        }

        It 'defect 11: Invoke-FsThaw of one frozen member of a set succeeds with no error while the state directory is full' {
            $null = Invoke-FsFreeze $X.MountPoint, $Y.MountPoint -TimeoutSec 30
            Add-WatchdogOf $ctx $X.MountPoint
            Fill-Filesystem $tiny.Mount | Should -BeTrue -Because 'precondition: the state tmpfs is full'

            Invoke-FsThaw $X.MountPoint -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
            $xThawed = -not (Test-Frozen $X.MountPoint)
            $facts = "errors=$(Format-Ids $err); X thawed=$xThawed"
            $facts | Should -Be 'errors=; X thawed=True' -Because "it was: $facts"
            Invoke-FsThaw $Y.MountPoint -ErrorVariable err2 -ErrorAction SilentlyContinue | Out-Null
            $facts = "errors=$(Format-Ids $err2); Y thawed=$(-not (Test-Frozen $Y.MountPoint))"
            $facts | Should -Be 'errors=; Y thawed=True' -Because "it was: $facts"
        }
    }

    Describe 'Defect 12: malformed records in the state directory' -Tag 'Exactness' {
        BeforeEach {
            $X = Add-Fs $ctx
            $Y = Add-Fs $ctx
            $dir = $env:FSFREEZE_STATE_DIR
            $malformed = 'garbage.frozen', 'bad-enum.frozen', 'huge-ticks.frozen', 'z.frozen'
            # Before anything else in the teardown: no cmdlet may meet the FIFO.
            $ctx.Pre.Add({ foreach ($n in $malformed) { Remove-Item -LiteralPath "$dir/$n" -Force -ErrorAction SilentlyContinue } })
            Protect-TestContext $ctx

            function Add-Malformed {
                # Mutated copies of a real record (so they stay malformed whatever the record format): another id, mount
                # point and device, so they can never be mistaken for X's record.
                param([string] $Kind, [string] $TemplateText, $Status)
                $fake = $TemplateText.Replace($Status.FreezeId, "fake-$Kind").Replace($Status.MountPoint, "/nonexistent/fsx-$Kind")
                $fake = [regex]::Replace($fake, "(?<![\d:])$([regex]::Escape($Status.Device))(?![\d:])", '4095:4095')
                switch ($Kind) {
                    'garbage' { [IO.File]::WriteAllText("$dir/garbage.frozen", "this is not an FsFreeze record`n`t`t((( `u{1} `n") }
                    'bad-enum' { [IO.File]::WriteAllText("$dir/bad-enum.frozen", $fake.Replace('Frozen', 'Bogus')) }
                    'huge-ticks' { [IO.File]::WriteAllText("$dir/huge-ticks.frozen", [regex]::Replace($fake, '(?<!\d)\d{15,19}(?!\d)', '9223372036854775807')) }
                    'fifo' { Invoke-Native mkfifo "$dir/z.frozen" | Out-Null }
                }
            }
        }

        It 'defect 12: with <Kind> in the state directory, Get-FsFreezeStatus lists the real freezes with a warning, and Reset/Thaw still work' -ForEach @(
            @{ Kind = 'garbage'; Kinds = @('garbage') }
            @{ Kind = 'a bad enum value'; Kinds = @('bad-enum') }
            @{ Kind = 'huge ticks'; Kinds = @('huge-ticks') }
            @{ Kind = 'a FIFO z.frozen'; Kinds = @('fifo') }
            @{ Kind = 'all four'; Kinds = @('garbage', 'bad-enum', 'huge-ticks', 'fifo') }
        ) {
            $null = Invoke-FsFreeze $X.MountPoint -TimeoutSec 30
            $null = Invoke-FsFreeze $Y.MountPoint -TimeoutSec 0
            Add-WatchdogOf $ctx $X.MountPoint
            $status = Get-FsFreezeStatus -Path $X.MountPoint
            $template = Get-RegularStateFile $dir | ForEach-Object { [IO.File]::ReadAllText($_.FullName) } | Where-Object { $_.Contains($status.FreezeId) } | Select-Object -First 1
            $template | Should -Not -BeNullOrEmpty -Because 'precondition: X''s record is a file in the state directory'
            foreach ($k in $Kinds) { Add-Malformed -Kind $k -TemplateText $template -Status $status }

            $statusRun = Wait-Child -TimeoutSec 20 (Start-ChildPwsh -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
try {
    $s = Get-FsFreezeStatus -WarningVariable w -WarningAction SilentlyContinue -ErrorVariable e -ErrorAction SilentlyContinue
    foreach ($x in $s) { "status:$($x.MountPoint)" }
    "warnings:$(@($w).Count)"
    foreach ($x in $e) { "error:$(($x.FullyQualifiedErrorId -split ',')[0])" }
}
catch { "exception:$($_.Exception.GetType().Name): $($_.Exception.Message)" }
'done'
'@)
            $useRun = Wait-Child -TimeoutSec 20 (Start-ChildPwsh -Environment @{ X = $X.MountPoint; Y = $Y.MountPoint } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
try {
    $r = Reset-FsFreezeTimeout $env:X 20 -ErrorVariable e -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
    "reset:$(@($r).Count):$((@($e) | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] }) -join ',')"
}
catch { "reset:exception:$($_.Exception.GetType().Name)" }
try {
    $t = Invoke-FsThaw $env:X, $env:Y -ErrorVariable e -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
    "thaw:$(@($t).Count):$((@($e) | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] }) -join ',')"
}
catch { "thaw:exception:$($_.Exception.GetType().Name)" }
'done'
'@)
            $listed = @($statusRun.Lines | Where-Object { $_ -like 'status:*' } | ForEach-Object { $_.Substring(7) })
            $warnings = ($statusRun.Lines | Where-Object { $_ -like 'warnings:*' }) -replace 'warnings:'
            $bad = @($statusRun.Lines | Where-Object { $_ -like 'error:*' -or $_ -like 'exception:*' })
            $facts = "status timed out=$($statusRun.TimedOut); X listed=$($listed -contains $X.MountPoint); Y listed=$($listed -contains $Y.MountPoint); warned=$([int]"0$warnings" -ge 1); errors=$($bad -join ','); " +
                "reset/thaw timed out=$($useRun.TimedOut); $(@($useRun.Lines | Where-Object { $_ -notlike 'done' }) -join '; ')"
            $facts | Should -Be 'status timed out=False; X listed=True; Y listed=True; warned=True; errors=; reset/thaw timed out=False; reset:1:; thaw:2:' -Because "it was: $facts; the status child said: $($statusRun.Lines -join ' | ')"
            Test-Frozen $X.MountPoint | Should -BeFalse
            Test-Frozen $Y.MountPoint | Should -BeFalse
        }
    }

    Describe 'Defect 13: a state directory under a user-owned parent' -Tag 'Exactness' {
        BeforeEach {
            $X = Add-Fs $ctx
            $R = Add-Scratch $ctx
            $userDir = "$R/userdir"
            [IO.Directory]::CreateDirectory("$userDir/state") | Out-Null
            Invoke-Native chown 65534:65534 $userDir | Out-Null
            Invoke-Native chmod 0700 "$userDir/state" | Out-Null    # root-owned 0700 itself: only its parent is the user's
            $ctx.StateDirs.Add("$userDir/state")
            Protect-TestContext $ctx
        }

        It 'defect 13: a freeze (-TimeoutSec <T>) refuses with FsFreeze.UnsafeStateDirectory and freezes nothing' -ForEach @(@{ T = 60 }, @{ T = 0 }) {
            $env:FSFREEZE_STATE_DIR = "$userDir/state"
            try { $out = Invoke-FsFreeze $X.MountPoint -TimeoutSec $T -ErrorVariable err -ErrorAction SilentlyContinue -WarningAction SilentlyContinue }
            finally { $env:FSFREEZE_STATE_DIR = $script:StateRoot.Dir }
            $frozen = Test-Frozen $X.MountPoint
            $facts = "errors=$(Format-Ids $err); output=$(@($out).Count); X frozen=$frozen"
            $facts | Should -Be 'errors=FsFreeze.UnsafeStateDirectory; output=0; X frozen=False' -Because "it was: $facts"
        }
    }

    Describe 'Defect 14: callers that are not root' -Tag 'Exactness' {
        BeforeAll {
            # uid 65534 cannot traverse /root (where the pwsh tool lives): copy pwsh and the module to a readable place.
            $tools = New-ScratchDirectory -Mode 0755
            Invoke-Native cp -a $PSHOME "$tools/pwsh" | Out-Null
            Invoke-Native cp -a $env:FSFREEZE_TEST_MODULE "$tools/FsFreeze" | Out-Null
            Invoke-Native chmod -R a+rX "$tools/pwsh" "$tools/FsFreeze" | Out-Null
            [IO.Directory]::CreateDirectory("$tools/home") | Out-Null
            Invoke-Native chown 65534:65534 "$tools/home" | Out-Null
            $script:ModuleDirs.Add("$tools/FsFreeze")
        }
        AfterAll {
            $script:ModuleDirs.Remove("$tools/FsFreeze") | Out-Null
            Remove-ScratchDirectory $tools
        }
        BeforeEach {
            $X = Add-Fs $ctx
            $Y = Add-Fs $ctx
            Protect-TestContext $ctx
        }

        It 'defect 14: as uid 65534, Invoke-FsFreeze (default and -TimeoutSec 0) and Invoke-FsThaw are FsFreeze.PermissionDenied, and Get-FsFreezeStatus lists root''s freeze' {
            $null = Invoke-FsFreeze $X.MountPoint -TimeoutSec 60   # root's freeze, made before
            Add-WatchdogOf $ctx $X.MountPoint
            $child = Start-ChildPwsh -Pwsh "$tools/pwsh/pwsh" -Prefix 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--' -Environment @{
                X = $X.MountPoint; Y = $Y.MountPoint; HOME = "$tools/home"; FSFREEZE_TEST_MODULE = "$tools/FsFreeze"; POWERSHELL_TELEMETRY_OPTOUT = '1'
            } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
function Ids($e) { (@($e) | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] }) -join ',' }
"uid:$(id -u)"
try { $o = Invoke-FsFreeze $env:Y -ErrorVariable e -ErrorAction SilentlyContinue -WarningAction SilentlyContinue; "freeze default:$(@($o).Count):$(Ids $e)" } catch { "freeze default:exception:$($_.FullyQualifiedErrorId)" }
try { $o = Invoke-FsFreeze $env:Y -TimeoutSec 0 -ErrorVariable e -ErrorAction SilentlyContinue -WarningAction SilentlyContinue; "freeze 0:$(@($o).Count):$(Ids $e)" } catch { "freeze 0:exception:$($_.FullyQualifiedErrorId)" }
try { $o = Invoke-FsThaw $env:X -ErrorVariable e -ErrorAction SilentlyContinue -WarningAction SilentlyContinue; "thaw:$(@($o).Count):$(Ids $e)" } catch { "thaw:exception:$($_.FullyQualifiedErrorId)" }
try { $s = Get-FsFreezeStatus -ErrorVariable e -ErrorAction SilentlyContinue -WarningAction SilentlyContinue; "status:$((@($s) | ForEach-Object MountPoint) -join ','):$(Ids $e)" } catch { "status:exception:$($_.FullyQualifiedErrorId)" }
'@
            $ctx.Children.Add($child)
            $r = Wait-Child $child -TimeoutSec 60 -BeforeKill { Invoke-Quiet fsfreeze -u $Y.MountPoint | Out-Null }
            $r.Lines -join "`n" | Should -Be (@(
                    'uid:65534'
                    'freeze default:0:FsFreeze.PermissionDenied'
                    'freeze 0:0:FsFreeze.PermissionDenied'
                    'thaw:0:FsFreeze.PermissionDenied'
                    "status:$($X.MountPoint):"
                ) -join "`n") -Because "it was: $($r.Lines -join ' | '); stderr: $($r.StdErr)"
            Test-Frozen $Y.MountPoint | Should -BeFalse
            Test-Frozen $X.MountPoint | Should -BeTrue -Because 'the unprivileged thaw did nothing'
        }
    }

    Describe 'Defect 15: Orphaned, and a scope that thaws its own set' -Tag 'Exactness' {
        BeforeEach {
            $X = Add-Fs $ctx
            Protect-TestContext $ctx
        }

        It 'defect 15: after kill -9 of the watchdog holding X, Get-FsFreezeStatus shows Orphaned = $true (it was $false before)' {
            $null = Invoke-FsFreeze $X.MountPoint -TimeoutSec 60
            $before = Get-FsFreezeStatus -Path $X.MountPoint
            $before.WatchdogPid | Should -BeGreaterThan 0
            $ctx.Watchdogs.Add($before.WatchdogPid)
            Send-Signal KILL $before.WatchdogPid | Should -Be 0
            Wait-Condition -TimeoutSec 5 { -not (Test-IsOurWatchdog $before.WatchdogPid $script:ModuleDirs) -or (Get-ProcessState $before.WatchdogPid) -eq 'Z' } |
                Should -BeTrue -Because 'precondition: the watchdog is dead'
            $after = Get-FsFreezeStatus -Path $X.MountPoint
            $facts = "before=$($before.Orphaned); after=$(@($after | ForEach-Object Orphaned) -join ',')"
            $facts | Should -Be 'before=False; after=True' -Because "it was: $facts"
        }

        It 'defect 15: a live watchdog freeze whose freezer (a child pwsh) has exited is not Orphaned' {
            $child = Start-ChildPwsh -Environment @{ X = $X.MountPoint } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
$null = Invoke-FsFreeze $env:X -TimeoutSec 60 -ErrorAction Stop
'@
            $ctx.Children.Add($child)
            $r = Wait-Child $child -TimeoutSec 60 -BeforeKill { Invoke-Quiet fsfreeze -u $X.MountPoint | Out-Null }
            Add-WatchdogOf $ctx $X.MountPoint
            $r.ExitCode | Should -Be 0 -Because "precondition: the child froze X ($($r.StdErr))"
            $s = Get-FsFreezeStatus -Path $X.MountPoint
            $facts = "watchdog alive=$($s.WatchdogAlive); orphaned=$($s.Orphaned)"
            $facts | Should -Be 'watchdog alive=True; orphaned=False' -Because "it was: $facts"
        }

        It 'defect 15: a Use-FsFreeze scope (-TimeoutSec <T>) that thaws its own set ($args[0] | Invoke-FsThaw) reports no error' -ForEach @(@{ T = 60 }, @{ T = 0 }) {
            $null = Use-FsFreeze $X.MountPoint -TimeoutSec $T { $args[0] | Invoke-FsThaw } -ErrorVariable err -ErrorAction SilentlyContinue
            $facts = "errors=$(Format-Ids $err); X frozen=$(Test-Frozen $X.MountPoint)"
            $facts | Should -Be 'errors=; X frozen=False' -Because "it was: $facts"
        }
    }
}
