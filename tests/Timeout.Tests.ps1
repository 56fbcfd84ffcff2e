#Requires -Modules Pester
# The freeze timeout: fsfreeze-watchdog, Reset-FsFreezeTimeout, Get-FsFreezeStatus, on real loop filesystems
# with real child processes. Every test that could leave a filesystem frozen has an independent thaw behind it:
# AfterEach stops the test's watchdogs (SIGTERM: they thaw, then exit) and Remove-LoopFilesystem runs fsfreeze -u.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force

    # A private state directory, so these tests see only their own freezes (and children inherit it).
    $script:StateDir = New-TestDirectory -Prefix 'fsfreeze-state'
    Invoke-Native chmod 700 $script:StateDir | Out-Null
    $script:SavedStateDir = $env:FSFREEZE_STATE_DIR
    $env:FSFREEZE_STATE_DIR = $script:StateDir
    $script:Children = [Collections.Generic.List[Diagnostics.Process]]::new()

    function Start-ChildPwsh {
        # A child pwsh running $Script with the module imported; stdout is read line by line with bounds.
        param([string] $Script, [string] $StdinText)
        $psi = [Diagnostics.ProcessStartInfo]::new((Get-PwshPath))
        foreach ($a in '-NoProfile', '-NonInteractive', '-Command', "Import-Module '$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1'; $Script") { $psi.ArgumentList.Add($a) }
        $psi.UseShellExecute = $false
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardInput = $true
        $psi.WorkingDirectory = '/'
        $p = [Diagnostics.Process]::Start($psi)
        if ($StdinText) { $p.StandardInput.Write($StdinText) }
        $p.StandardInput.Close()
        $script:Children.Add($p)
        $p
    }

    function Read-ChildLine {
        # The child's next stdout line, or $null if none came within the bound.
        param([Diagnostics.Process] $Process, [int] $TimeoutMs = 30000)
        $read = $Process.StandardOutput.ReadLineAsync()
        if ($read.Wait($TimeoutMs)) { $read.Result } else { $null }
    }

    function Wait-Thawed {
        # Polls the kernel's only probe until the filesystem is no longer frozen; $true if that happened in time.
        param([string] $Path, [datetime] $By)
        while ([datetime]::Now -lt $By) {
            if (-not (Test-IsFrozen $Path)) { return $true }
            Start-Sleep -Milliseconds 100
        }
        -not (Test-IsFrozen $Path)
    }

    function Stop-TestWatchdogs {
        # SIGTERM to the watchdogs recorded in this test's state directory: each thaws what it holds, then exits.
        foreach ($file in Get-ChildItem $script:StateDir -Filter '*.frozen' -ErrorAction SilentlyContinue) {
            # The watchdog may remove its record between the listing and this read.
            $line = Get-Content -LiteralPath $file.FullName -ErrorAction SilentlyContinue | Where-Object { $_ -like "watchdog`t*" } | Select-Object -First 1
            $watchdogPid = if ($line) { [int]($line -split "`t")[1] } else { 0 }
            if ($watchdogPid -gt 0) {
                & kill -TERM $watchdogPid 2>$null
                for ($i = 0; $i -lt 50 -and (Test-Path "/proc/$watchdogPid"); $i++) { Start-Sleep -Milliseconds 100 }
            }
        }
        Get-ChildItem $script:StateDir -ErrorAction SilentlyContinue | Remove-Item -Force -ErrorAction SilentlyContinue
    }

    function Stop-Children {
        foreach ($p in $script:Children) {
            if (-not $p.HasExited) { $p.Kill($true); [void]$p.WaitForExit(5000) }
            $p.Dispose()
        }
        $script:Children.Clear()
    }
}

AfterAll {
    $env:FSFREEZE_STATE_DIR = $script:SavedStateDir
    # FsFreeze mounted a tmpfs on it (its state never lives where a freeze could hold a write).
    if ($script:StateDir -and (Test-Path $script:StateDir)) {
        for ($i = 0; $i -lt 5 -and (& findmnt -n --mountpoint $script:StateDir); $i++) { & umount -l $script:StateDir }
        Remove-Item $script:StateDir -Recurse -Force
    }
}

Describe 'Timeout arguments (pure logic)' -Tag 'Timeout', 'Unit' {
    It 'accepts 0 and 2 or more, refuses 1 and negatives' {
        { [FsFreeze.FreezeTimeout]::Validate(0, '/x') } | Should -Not -Throw
        { [FsFreeze.FreezeTimeout]::Validate(2, '/x') } | Should -Not -Throw
        { [FsFreeze.FreezeTimeout]::Validate(1, '/x') } | Should -Throw '*reserved 1*'
        { [FsFreeze.FreezeTimeout]::Validate(-3, '/x') } | Should -Throw '*negative*'
    }

    It 'reads the seed''s argument: 0 and 1 mean no timeout' {
        [FsFreeze.FreezeTimeout]::FromSeed(0) | Should -Be 0
        [FsFreeze.FreezeTimeout]::FromSeed(1) | Should -Be 0
        [FsFreeze.FreezeTimeout]::FromSeed(10) | Should -Be 10
    }
}

Describe 'Freeze timeout on ext4' -Tag 'Timeout' {
    BeforeEach { $fs = New-LoopFilesystem -Type ext4 }
    AfterEach {
        Stop-TestWatchdogs
        Remove-LoopFilesystem $fs     # thaws (fsfreeze -u) before unmounting
        Stop-Children                 # a child asleep on the frozen filesystem can only die after that thaw
    }

    It 'thaws by its deadline after the freezer is killed with kill -9' {
        $child = Start-ChildPwsh "Invoke-FsFreeze '$($fs.MountPoint)' -TimeoutSec 3 | ForEach-Object { `$_.Deadline.ToString('o') }; Start-Sleep 600"
        $deadlineText = Read-ChildLine $child
        $deadlineText | Should -Not -BeNullOrEmpty -Because 'the child reports its deadline once frozen'
        $deadline = [datetime]::Parse($deadlineText, $null, 'RoundtripKind')
        Test-IsFrozen $fs.MountPoint | Should -BeTrue

        $child.Kill()   # SIGKILL: the freezer gets no chance to thaw
        $child.WaitForExit(5000) | Should -BeTrue
        Test-IsFrozen $fs.MountPoint | Should -BeTrue -Because 'killing the freezer does not thaw; the watchdog holds the freeze'

        Wait-Thawed $fs.MountPoint -By $deadline.AddSeconds(1) | Should -BeTrue -Because 'the watchdog thaws within a second of the deadline'
        $err = { Invoke-FsThaw $fs.MountPoint -ErrorAction Stop } | Should -Throw -ErrorId 'FsFreeze.ThawedByTimeout,FsFreeze.Commands.InvokeFsThawCommand' -PassThru
        $err.CategoryInfo.Category | Should -Be 'OperationTimeout'
        $err.Exception.Message | Should -Match 'already thawed by the timeout at \d\d:\d\d:\d\d'
    }

    It 'rescues a Use-FsFreeze scope that writes to its own frozen filesystem, and reports ThawedByTimeout' {
        $target = Join-Path $fs.MountPoint 'written-in-scope.txt'
        $child = Start-ChildPwsh @"
Use-FsFreeze '$($fs.MountPoint)' -TimeoutSec 2 { Set-Content -LiteralPath '$target' -Value 'from the scope'; 'scope-ended' } -ErrorVariable problems -ErrorAction SilentlyContinue
foreach (`$p in `$problems) { "error:`$(`$p.FullyQualifiedErrorId):`$(`$p.CategoryInfo.Category)" }
'done'
"@
        $child.WaitForExit(30000) | Should -BeTrue -Because 'the timeout thaws the filesystem, so the write and the scope finish'
        $lines = $child.StandardOutput.ReadToEnd() -split "`n" | ForEach-Object Trim
        $lines | Should -Contain 'scope-ended'
        $lines | Should -Contain 'error:FsFreeze.ThawedByTimeout,FsFreeze.Commands.UseFsFreezeCommand:OperationTimeout'
        $lines | Should -Contain 'done'
        Get-Content -LiteralPath $target | Should -Be 'from the scope'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'extends the deadline on Reset-FsFreezeTimeout' {
        $frozen = Invoke-FsFreeze $fs.MountPoint -TimeoutSec 2
        $frozen.TimeoutSec | Should -Be 2
        $frozen.Deadline | Should -Not -BeNullOrEmpty
        $status = $frozen | Reset-FsFreezeTimeout -TimeoutSec 30   # binds MountPoint, like Invoke-FsThaw
        $status | Should -BeOfType ([FsFreeze.FreezeStatus])
        $status.TimeoutSec | Should -Be 30
        $status.Deadline | Should -BeGreaterThan $frozen.Deadline.AddSeconds(20)

        # Past the first deadline (with slack), it is still frozen: the reset moved it.
        while ([datetime]::Now -lt $frozen.Deadline.AddSeconds(1.5)) { Start-Sleep -Milliseconds 200 }
        Test-IsFrozen $fs.MountPoint | Should -BeTrue

        ($frozen | Invoke-FsThaw).State | Should -Be 'Thawed'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        Get-FsFreezeStatus -Path $fs.MountPoint | Should -BeNullOrEmpty -Because 'a thaw ends the watchdog and its record'
    }

    It 'clears the deadline with -TimeoutSec 0' {
        $frozen = Invoke-FsFreeze $fs.MountPoint -TimeoutSec 2
        (Reset-FsFreezeTimeout $fs.MountPoint -TimeoutSec 0).Deadline | Should -BeNullOrEmpty
        while ([datetime]::Now -lt $frozen.Deadline.AddSeconds(1.5)) { Start-Sleep -Milliseconds 200 }
        Test-IsFrozen $fs.MountPoint | Should -BeTrue
        ($frozen | Invoke-FsThaw).State | Should -Be 'Thawed'
    }

    It 'fails a reset after the timeout thawed it, saying when' {
        $frozen = Invoke-FsFreeze $fs.MountPoint -TimeoutSec 2
        Wait-Thawed $fs.MountPoint -By $frozen.Deadline.AddSeconds(1) | Should -BeTrue
        $err = $null
        Reset-FsFreezeTimeout $fs.MountPoint -TimeoutSec 10 -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'FsFreeze.NotFrozen,FsFreeze.Commands.ResetFsFreezeTimeoutCommand'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
        $err[0].Exception.Message | Should -Match 'already thawed by the timeout at \d\d:\d\d:\d\d'
    }

    It 'fails a reset after an explicit thaw' {
        Invoke-FsFreeze $fs.MountPoint -TimeoutSec 30 | Invoke-FsThaw | Out-Null
        { Reset-FsFreezeTimeout $fs.MountPoint -TimeoutSec 10 -ErrorAction Stop } | Should -Throw -ErrorId 'FsFreeze.NotFrozen,FsFreeze.Commands.ResetFsFreezeTimeoutCommand'
    }

    It 'freezes in one pwsh and thaws in another' {
        $freezer = Start-ChildPwsh "Invoke-FsFreeze '$($fs.MountPoint)' -TimeoutSec 60 | ConvertTo-Json -Compress"
        $json = Read-ChildLine $freezer
        $freezer.WaitForExit(30000) | Should -BeTrue -Because 'the freezer exits; the watchdog holds the freeze'
        $json | Should -Not -BeNullOrEmpty
        Test-IsFrozen $fs.MountPoint | Should -BeTrue

        $thawer = Start-ChildPwsh '$input | ConvertFrom-Json | Invoke-FsThaw | ForEach-Object { "$($_.State) $($null -ne $_.FrozenFor)" }' -StdinText "$json`n"
        Read-ChildLine $thawer | Should -Be 'Thawed True'
        $thawer.WaitForExit(30000) | Should -BeTrue
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        Get-FsFreezeStatus | Should -BeNullOrEmpty
    }

    It 'lists a freeze whose freezer was killed: the watchdog still holds it, so it is not orphaned' {
        $child = Start-ChildPwsh "Invoke-FsFreeze '$($fs.MountPoint)' -TimeoutSec 60 | ForEach-Object FreezeId; Start-Sleep 600"
        $id = Read-ChildLine $child
        $id | Should -Not -BeNullOrEmpty
        $child.Kill()
        $child.WaitForExit(5000) | Should -BeTrue

        $status = Get-FsFreezeStatus -Path $fs.MountPoint
        $status | Should -HaveCount 1
        $status.FreezeId | Should -Be $id
        $status.MountPoint | Should -Be $fs.MountPoint
        $status.State | Should -Be 'Frozen'
        $status.FreezerPid | Should -Be $child.Id
        $status.FreezerAlive | Should -BeFalse
        $status.WatchdogAlive | Should -BeTrue
        $status.Orphaned | Should -BeFalse -Because 'its watchdog still thaws it by the deadline'
        $status.TimeLeft | Should -BeGreaterThan ([TimeSpan]::Zero)
        Test-IsFrozen $fs.MountPoint | Should -BeTrue

        (Invoke-FsThaw $fs.MountPoint).State | Should -Be 'Thawed'
        Get-FsFreezeStatus | Should -BeNullOrEmpty
    }

    It 'thaws everything when its watchdog is told to terminate (SIGTERM)' {
        $frozen = Invoke-FsFreeze $fs.MountPoint -TimeoutSec 60
        $watchdog = Get-Process -Id (Get-FsFreezeStatus -Path $fs.MountPoint).WatchdogPid
        Invoke-Native kill -TERM $watchdog.Id | Out-Null
        $watchdog.WaitForExit(10000) | Should -BeTrue
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        Get-FsFreezeStatus | Should -BeNullOrEmpty
    }

    It 'still thaws when the watchdog itself was killed with kill -9' {
        $frozen = Invoke-FsFreeze $fs.MountPoint -TimeoutSec 60
        $watchdog = Get-Process -Id (Get-FsFreezeStatus -Path $fs.MountPoint).WatchdogPid
        $watchdog.Kill()
        $watchdog.WaitForExit(10000) | Should -BeTrue
        Test-IsFrozen $fs.MountPoint | Should -BeTrue -Because 'a freeze outlives the process that made it'
        $status = Get-FsFreezeStatus -Path $fs.MountPoint
        $status.WatchdogAlive | Should -BeFalse -Because 'status says the timer is gone'
        ($frozen | Invoke-FsThaw).State | Should -Be 'Thawed'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        Get-FsFreezeStatus | Should -BeNullOrEmpty
    }

    It 'rejects -TimeoutSec <_> and freezes nothing' -ForEach 1, -5 {
        $err = { Invoke-FsFreeze $fs.MountPoint -TimeoutSec $_ } | Should -Throw -ErrorId 'FsFreeze.InvalidTimeout,FsFreeze.Commands.InvokeFsFreezeCommand' -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $script:ran = $false
        { Use-FsFreeze $fs.MountPoint -TimeoutSec $_ { $script:ran = $true } } | Should -Throw -ErrorId 'FsFreeze.InvalidTimeout,FsFreeze.Commands.UseFsFreezeCommand'
        $script:ran | Should -BeFalse
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'explains why 1 is refused' {
        { Invoke-FsFreeze $fs.MountPoint -TimeoutSec 1 } | Should -Throw '*reserved 1 to mean "no timeout"*'
    }

    It 'lists a -TimeoutSec 0 freeze (no watchdog) until it is thawed' {
        $frozen = Invoke-FsFreeze $fs.MountPoint -TimeoutSec 0
        $frozen.Deadline | Should -BeNullOrEmpty
        $status = Get-FsFreezeStatus -Path $fs.MountPoint
        $status.WatchdogPid | Should -Be 0
        $status.Deadline | Should -BeNullOrEmpty
        $status.FreezerAlive | Should -BeTrue
        ($frozen | Invoke-FsThaw).State | Should -Be 'Thawed'
        Get-FsFreezeStatus | Should -BeNullOrEmpty
    }

    It 'refuses an unsafe state directory (a symlink) and freezes nothing' {
        $link = Join-Path $fs.Root 'state-link'
        New-Item -ItemType SymbolicLink -Path $link -Target $script:StateDir | Out-Null
        $env:FSFREEZE_STATE_DIR = $link
        try {
            { Invoke-FsFreeze $fs.MountPoint -TimeoutSec 5 -ErrorAction Stop } | Should -Throw -ErrorId 'FsFreeze.UnsafeStateDirectory,FsFreeze.Commands.InvokeFsFreezeCommand'
        }
        finally { $env:FSFREEZE_STATE_DIR = $script:StateDir }
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'refuses a state directory <Case>, and freezes nothing' -ForEach @(
        @{ Case = 'that group and others can write to (0775)'; Mode = '775'; Owner = '0'; Message = '*has mode 775: group or others can write to it*' }
        @{ Case = 'owned by another user (uid 65534)'; Mode = '700'; Owner = '65534'; Message = '*owned by uid 65534, not root*' }
    ) {
        $dir = Join-Path $fs.Root 'state-unsafe'
        New-Item -ItemType Directory -Path $dir | Out-Null
        Invoke-Native chmod $Mode $dir | Out-Null
        Invoke-Native chown $Owner $dir | Out-Null
        $env:FSFREEZE_STATE_DIR = $dir
        try {
            $err = { Invoke-FsFreeze $fs.MountPoint -TimeoutSec 5 -ErrorAction Stop } | Should -Throw -ErrorId 'FsFreeze.UnsafeStateDirectory,FsFreeze.Commands.InvokeFsFreezeCommand' -PassThru
            $err.CategoryInfo.Category | Should -Be 'SecurityError'
            $err.Exception.Message | Should -BeLike $Message
        }
        finally { $env:FSFREEZE_STATE_DIR = $script:StateDir }
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        Get-ChildItem -LiteralPath $dir | Should -BeNullOrEmpty -Because 'nothing is written to a directory it refuses'
    }

    It 'runs a watchdog as small as the README says: 2 MB on disk, about 5 MB of memory while it holds a freeze' {
        $frozen = Invoke-FsFreeze $fs.MountPoint -TimeoutSec 60
        try {
            $watchdogPid = (Get-FsFreezeStatus -Path $fs.MountPoint).WatchdogPid
            $peakKB = [int]((Get-Content "/proc/$watchdogPid/status" | Where-Object { $_ -like 'VmHWM:*' }) -replace '\D', '')
        }
        finally { $frozen | Invoke-FsThaw | Out-Null }
        $peakKB | Should -BeGreaterThan 1000
        $peakKB | Should -BeLessThan (6.5 * 1024) -Because "'about 5 MB' (README); measured peak RSS $peakKB KB"
        (Get-Item (Join-Path $env:FSFREEZE_TEST_MODULE 'fsfreeze-watchdog')).Length | Should -BeLessThan (2.5MB) -Because "'a 2 MB NativeAOT helper' (README)"
    }

    It 'keeps its state on a tmpfs even when the state directory is on a member, so a timed freeze of that member works' {
        $inside = Join-Path $fs.MountPoint 'state'
        New-Item -ItemType Directory -Path $inside | Out-Null
        Invoke-Native chmod 700 $inside | Out-Null
        $env:FSFREEZE_STATE_DIR = $inside
        try {
            $frozen = Invoke-FsFreeze $fs.MountPoint -TimeoutSec 30
            Test-IsFrozen $fs.MountPoint | Should -BeTrue
            (& findmnt -n -o FSTYPE --mountpoint $inside) | Should -Be 'tmpfs' -Because 'a record write on the frozen member would hang'
            (Get-FsFreezeStatus).FreezeId | Should -Be $frozen.FreezeId
            ($frozen | Invoke-FsThaw).State | Should -Be 'Thawed'
        }
        finally {
            $env:FSFREEZE_STATE_DIR = $script:StateDir
            & umount $inside 2>$null
        }
    }

    It 'gives the seed''s interface: 1 means no timeout, reset after thaw is NotFrozen' {
        $frozen = [FsFreeze.SeedApi]::Freeze($fs.MountPoint, 1)
        $frozen[0].TimeoutSec | Should -Be 0
        (Get-FsFreezeStatus -Path $fs.MountPoint).WatchdogPid | Should -Be 0
        [FsFreeze.SeedApi]::Thaw($fs.MountPoint)
        Test-IsFrozen $fs.MountPoint | Should -BeFalse

        $frozen = [FsFreeze.SeedApi]::Freeze($fs.MountPoint, 5)
        [FsFreeze.SeedApi]::ResetTimeout($fs.MountPoint, 20) | Should -BeGreaterThan ([datetime]::UtcNow.AddSeconds(15))
        [FsFreeze.SeedApi]::Thaw($fs.MountPoint)
        $e = { [FsFreeze.SeedApi]::ResetTimeout($fs.MountPoint, 20) } | Should -Throw -PassThru
        $e.Exception.InnerException.Kind | Should -Be 'NotFrozen'
    }
}

Describe 'A set that fails without a timeout (-TimeoutSec 0)' -Tag 'Timeout' {
    BeforeAll {
        # ext4 nested in a tmpfs: frozen first (deeper), then the tmpfs fails and ext4 is rolled back.
        $tmp = New-LoopFilesystem -Type tmpfs
        $ext4 = New-NestedLoopFilesystem -Parent $tmp -Type ext4 -MountName 'ext4'
    }
    AfterAll { Remove-LoopFilesystem $ext4; Remove-LoopFilesystem $tmp }

    It 'rolls back and removes the record it wrote before its FIFREEZE' {
        Invoke-FsFreeze -Path $ext4.MountPoint, $tmp.MountPoint -TimeoutSec 0 -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.NotSupported|NotImplemented|$($tmp.MountPoint)"
        $err[0].Exception.Message | Should -BeLike "*thawed again*'$($ext4.MountPoint)'*"
        Test-IsFrozen $ext4.MountPoint | Should -BeFalse
        Get-ChildItem -LiteralPath $script:StateDir | Should -BeNullOrEmpty -Because 'no record of a freeze that did not happen is left'
        Get-FsFreezeStatus | Should -BeNullOrEmpty
    }
}

Describe 'A set with a filesystem frozen by fsfreeze(8)' -Tag 'Timeout' {
    BeforeEach {
        # Ours is mounted deeper, so frozen first (nested mounts first); the set then reaches theirs, fails,
        # and must roll ours back. (Depth, not mount order: the kernel reuses mount ids.)
        $theirs = New-LoopFilesystem -Type ext4 -MountName 'theirs'
        $ours = New-LoopFilesystem -Type ext4 -MountName 'deeper/ours'
    }
    AfterEach {
        Stop-TestWatchdogs
        Remove-LoopFilesystem $ours
        Remove-LoopFilesystem $theirs
    }

    It 'fails with AlreadyFrozen, rolls back ours, and leaves theirs frozen past our deadline' {
        Invoke-Native fsfreeze -f $theirs.MountPoint | Out-Null
        $err = $null
        Invoke-FsFreeze $ours.MountPoint, $theirs.MountPoint -TimeoutSec 2 -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'FsFreeze.AlreadyFrozen,FsFreeze.Commands.InvokeFsFreezeCommand'
        $err[0].Exception.Message | Should -Match 'thawed again'
        Test-IsFrozen $ours.MountPoint | Should -BeFalse -Because 'the set is all or nothing'

        Start-Sleep -Seconds 3.5  # past our deadline: nothing of ours may thaw theirs
        Test-IsFrozen $theirs.MountPoint | Should -BeTrue -Because 'FsFreeze never thaws a freeze it did not make'
        Get-FsFreezeStatus | Should -BeNullOrEmpty
        Invoke-Native fsfreeze -u $theirs.MountPoint | Out-Null
    }
}

Describe 'A FIFREEZE that blocks past the deadline' -Tag 'Timeout' {
    BeforeEach {
        # 'inner' lives on a loop device whose image sits in 'backing': with 'backing' frozen, a FIFREEZE of
        # 'inner' blocks (its journal write cannot reach the image). 'first' is deeper, so frozen before 'inner'.
        $backing = New-LoopFilesystem -Type ext4 -MountName 'backing' -SizeMB 160
        $inner = New-LoopFilesystem -Type ext4 -MountName 'inner' -Under $backing.MountPoint
        $first = New-LoopFilesystem -Type ext4 -MountName 'deep/er/first'
    }
    AfterEach {
        & fsfreeze -u $backing.MountPoint 2>$null   # first: everything below waits on it
        Stop-TestWatchdogs
        Remove-LoopFilesystem $first
        Remove-LoopFilesystem $inner
        Remove-LoopFilesystem $backing
    }

    It 'thaws what is already frozen at the deadline, and the stuck member as soon as its FIFREEZE returns' {
        Set-Content -LiteralPath (Join-Path $inner.MountPoint 'dirty.txt') -Value 'unsynced data for the freeze to write'
        Invoke-Native fsfreeze -f $backing.MountPoint | Out-Null
        $err = $null
        $started = [datetime]::Now
        Invoke-FsFreeze $first.MountPoint, $inner.MountPoint -TimeoutSec 3 -NoFlush -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'FsFreeze.ThawedByTimeout,FsFreeze.Commands.InvokeFsFreezeCommand'
        $err[0].Exception.Message | Should -Match 'still blocked'
        ([datetime]::Now - $started).TotalSeconds | Should -BeLessThan 30 -Because 'the watchdog answers at its deadline, not when the stuck FIFREEZE returns'
        # Never probe 'inner' here: a second FIFREEZE on it would block the test too.
        Test-IsFrozen $first.MountPoint | Should -BeFalse -Because 'the member frozen before the stuck one was thawed at the deadline'
        # The one watchdog this call used (a child of this process: the spare this process kept, or one it started),
        # still running: its worker is stuck in FIFREEZE. A spare it let go (a stale one) ends meanwhile.
        $watchdog = @()
        $by = [datetime]::UtcNow.AddSeconds(5)
        do {
            $watchdog = @(Get-ChildProcessId $PID | ForEach-Object { Get-Process -Id $_ -ErrorAction SilentlyContinue } |
                Where-Object { $_.ProcessName -eq 'fsfreeze-watchdog' -and -not $_.HasExited -and
                    (Get-Content "/proc/$($_.Id)/stat" -Raw -ErrorAction SilentlyContinue) -notmatch '^\d+ \(fsfreeze-watchd\) Z' })
        } while ($watchdog.Count -ne 1 -and [datetime]::UtcNow -lt $by -and -not (Start-Sleep -Milliseconds 50))
        $watchdog.Count | Should -Be 1 -Because 'the watchdog waits for the stuck FIFREEZE to return, to thaw it'
        Wait-ProcessState -ProcessId $watchdog[0].Id -State D -TimeoutMs 5000 | Should -BeTrue -Because 'its worker sleeps in the blocked FIFREEZE'

        Invoke-Native fsfreeze -u $backing.MountPoint | Out-Null   # the stuck FIFREEZE can now finish
        $watchdog[0].WaitForExit(30000) | Should -BeTrue -Because 'once its FIFREEZE returns the worker thaws it and the watchdog exits'
        Test-IsFrozen $inner.MountPoint | Should -BeFalse -Because 'the member whose FIFREEZE returned after the deadline was thawed at once'
    }
}

Describe 'Stopping Invoke-FsFreeze (Ctrl+C) while a FIFREEZE is blocked' -Tag 'Timeout' {
    BeforeEach {
        $backing = New-LoopFilesystem -Type ext4 -MountName 'backing' -SizeMB 160
        $inner = New-LoopFilesystem -Type ext4 -MountName 'inner' -Under $backing.MountPoint
        $first = New-LoopFilesystem -Type ext4 -MountName 'deep/er/first'
        $ps = $null
        $async = $null
    }
    AfterEach {
        & fsfreeze -u $backing.MountPoint 2>$null
        if ($ps) {
            # Let the stopped (or finished) invocation end before disposing: disposing under a running batch crashed
            # the test process once (its worker thread met a closed runspace).
            if ($async) { [void]$async.AsyncWaitHandle.WaitOne(30000) }
            $ps.Dispose()
        }
        Stop-TestWatchdogs
        Remove-LoopFilesystem $first
        Remove-LoopFilesystem $inner
        Remove-LoopFilesystem $backing
    }

    It 'has the watchdog thaw what it froze, long before the deadline' {
        Set-Content -LiteralPath (Join-Path $inner.MountPoint 'dirty.txt') -Value 'unsynced data for the freeze to write'
        Invoke-Native fsfreeze -f $backing.MountPoint | Out-Null
        $ps = [powershell]::Create()
        [void]$ps.AddCommand('Import-Module').AddArgument("$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1").AddStatement()
        [void]$ps.AddCommand('Invoke-FsFreeze').AddParameter('Path', @($first.MountPoint, $inner.MountPoint)).AddParameter('TimeoutSec', 600).AddParameter('NoFlush').AddParameter('Verbose')
        $async = $ps.BeginInvoke()
        # Wait for the watchdog's report that 'first' is frozen (the set is then stuck on 'inner'), bounded.
        # Not by probing with FIFREEZE: a probe landing before the watchdog's FIFREEZE would make that one fail.
        $by = [datetime]::Now.AddSeconds(20)
        while (-not ($ps.Streams.Verbose | Where-Object Message -like "Froze '$($first.MountPoint)'*") -and [datetime]::Now -lt $by) { Start-Sleep -Milliseconds 100 }
        Test-IsFrozen $first.MountPoint | Should -BeTrue
        $async.IsCompleted | Should -BeFalse -Because 'Invoke-FsFreeze waits for the blocked FIFREEZE'

        $ps.Stop()   # what Ctrl+C does
        Test-IsFrozen $first.MountPoint | Should -BeFalse -Because 'on SIGTERM the watchdog thaws what it froze; the 600 s deadline is far away'
    }
}

Describe 'A real SIGINT (Ctrl+C) to a child pwsh whose Invoke-FsFreeze waits on a blocked FIFREEZE' -Tag 'Timeout' {
    BeforeEach {
        $backing = New-LoopFilesystem -Type ext4 -MountName 'backing' -SizeMB 160
        $inner = New-LoopFilesystem -Type ext4 -MountName 'inner' -Under $backing.MountPoint
        $first = New-LoopFilesystem -Type ext4 -MountName 'deep/er/first'
        $child = $null
        $watchdogPid = 0
        $net = 0
    }
    AfterEach {
        & fsfreeze -u $backing.MountPoint 2>$null   # the stuck FIFREEZE returns; the watchdog thaws it and exits
        if ($watchdogPid) { for ($i = 0; $i -lt 100 -and (Test-Path "/proc/$watchdogPid"); $i++) { Start-Sleep -Milliseconds 100 } }
        Stop-BackgroundPwsh $child -WaitMs 0
        Stop-TestWatchdogs
        Stop-IndependentThaw $net
        Remove-LoopFilesystem $first
        Remove-LoopFilesystem $inner
        Remove-LoopFilesystem $backing
    }

    It 'ends the child at once, and its watchdog thaws what it froze long before the 600 s deadline' {
        Set-Content -LiteralPath (Join-Path $inner.MountPoint 'dirty.txt') -Value 'unsynced data for the freeze to write'
        $net = Start-IndependentThaw $backing.MountPoint -Seconds 90
        Invoke-Native fsfreeze -f $backing.MountPoint | Out-Null
        $child = Start-BackgroundPwsh -DefaultSigInt -Environment @{ FIRST = $first.MountPoint; INNER = $inner.MountPoint } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
Invoke-FsFreeze -Path $env:FIRST, $env:INNER -TimeoutSec 600 -NoFlush
'returned'
'@
        # 'first' is frozen once a writer there is held (not a FIFREEZE probe: it could race the watchdog's own).
        $probe = $null
        $by = [DateTime]::UtcNow.AddSeconds(30)
        while ([DateTime]::UtcNow -lt $by) {
            $probe = Start-ProbeWriter $first.MountPoint -NoSync
            if (Wait-WriterBlocked $probe -TimeoutMs 500) { break }
            $probe = $null
        }
        $probe | Should -Not -BeNullOrEmpty -Because 'the watchdog froze first, then got stuck on inner'
        $watchdogPid = @(Get-ChildProcessId $child.Process.Id | Where-Object { (Get-Process -Id $_ -ErrorAction SilentlyContinue).ProcessName -eq 'fsfreeze-watchdog' })[0]
        $watchdogPid | Should -BeGreaterThan 0
        $child.Process.HasExited | Should -BeFalse -Because 'Invoke-FsFreeze waits for the blocked FIFREEZE'

        Invoke-Native kill -INT $child.Process.Id | Out-Null
        $child.Process.WaitForExit(20000) | Should -BeTrue -Because 'Ctrl+C stops Invoke-FsFreeze and pwsh ends'
        Wait-ProbeWriter $probe -TimeoutMs 20000 | Should -BeTrue -Because 'the watchdog thawed first on its SIGTERM; the 600 s deadline is far away'
        Read-BackgroundLine $child -TimeoutMs 1000 | Should -Not -Be 'returned' -Because 'the stopped pipeline ran no further'
        Test-Path "/proc/$watchdogPid" | Should -BeTrue -Because 'the watchdog still waits for the stuck FIFREEZE on inner, to thaw it when it returns'
    }
}

Describe 'The watchdog outlives its caller''s process group and session' -Tag 'Timeout' {
    BeforeEach { $fs = New-LoopFilesystem -Type ext4; $child = $null }
    AfterEach {
        Stop-TestWatchdogs
        Remove-LoopFilesystem $fs
        Stop-BackgroundPwsh $child -WaitMs 0
    }

    It 'keeps holding the freeze when the caller''s whole process group is killed with SIGKILL, in a session of its own' {
        $child = Start-BackgroundPwsh -NewSession -Environment @{ MP = $fs.MountPoint } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
Invoke-FsFreeze -Path $env:MP -TimeoutSec 60 | ForEach-Object FreezeId
Start-Sleep -Seconds 600
'@
        $id = Read-BackgroundLine $child
        $id | Should -Not -BeNullOrEmpty -Because "the child froze ($($child.StdErr.Wait(0) ? $child.StdErr.Result : ''))"
        $caller = Get-ProcStat $child.Process.Id
        $caller.Pgrp | Should -Be $child.Process.Id -Because 'the caller leads a process group of its own (setsid)'
        $watchdogPid = (Get-FsFreezeStatus -Path $fs.MountPoint).WatchdogPid
        $watchdog = Get-ProcStat $watchdogPid
        $watchdog.Session | Should -Be $watchdogPid -Because 'the watchdog leads a session of its own'
        $watchdog.Pgrp | Should -Be $watchdogPid
        $watchdog.Session | Should -Not -Be $caller.Session

        & kill -KILL -- "-$($caller.Pgrp)"   # the caller's whole process group (not Invoke-Native: a function call drops "--")
        $LASTEXITCODE | Should -Be 0
        $child.Process.WaitForExit(10000) | Should -BeTrue
        Start-Sleep -Milliseconds 200
        Test-Path "/proc/$watchdogPid" | Should -BeTrue -Because 'the group kill did not reach the watchdog'
        $status = Get-FsFreezeStatus -Path $fs.MountPoint
        $status.FreezeId | Should -Be $id
        $status.WatchdogAlive | Should -BeTrue
        $status.FreezerAlive | Should -BeFalse
        $status.Orphaned | Should -BeFalse -Because 'its watchdog still thaws it by the deadline'
        Test-IsFrozen $fs.MountPoint | Should -BeTrue
        (Invoke-FsThaw -Path $fs.MountPoint).State | Should -Be 'Thawed' -Because 'the surviving watchdog answers the thaw'
        Get-FsFreezeStatus | Should -BeNullOrEmpty
    }
}

Describe 'A timeout thaw is logged to syslog' -Tag 'Timeout' {
    BeforeAll {
        $fs = New-LoopFilesystem -Type ext4
        # No syslog daemon runs here: listen on /dev/log ourselves, only if nobody else does, and remove it after.
        $listener = $null
        $listenerInode = $null
        if (-not (Test-Path -LiteralPath '/dev/log')) {
            $listener = [Net.Sockets.Socket]::new([Net.Sockets.AddressFamily]::Unix, [Net.Sockets.SocketType]::Dgram, [Net.Sockets.ProtocolType]::Unspecified)
            try {
                $listener.Bind([Net.Sockets.UnixDomainSocketEndPoint]::new('/dev/log'))
                $listenerInode = (& stat -c %i /dev/log).Trim()
            }
            catch { $listener.Dispose(); $listener = $null }   # another run bound it first
        }
    }
    AfterAll {
        Stop-TestWatchdogs
        if ($listener) {
            $listener.Dispose()
            # Only our own socket: the inode tells it from one another process may have made since.
            if ((Test-Path -LiteralPath '/dev/log') -and (& stat -c %i /dev/log).Trim() -eq $listenerInode) { Remove-Item -LiteralPath '/dev/log' -Force }
        }
        Remove-LoopFilesystem $fs
    }

    It 'a timeout thaw is logged to syslog (tag fsfreeze, facility daemon, warning), naming the freeze and what it thawed' {
        if (-not $listener) { Set-ItResult -Skipped -Because 'another process owns /dev/log: its messages cannot be read here'; return }
        $frozen = Invoke-FsFreeze -Path $fs.MountPoint -TimeoutSec 2
        $frozen.FreezeId | Should -Not -BeNullOrEmpty
        $listener.ReceiveTimeout = 1000
        $buffer = [byte[]]::new(8192)
        $mine = $null
        $by = [DateTime]::UtcNow.AddSeconds(20)
        while (-not $mine -and [DateTime]::UtcNow -lt $by) {
            try { $n = $listener.Receive($buffer) } catch [Net.Sockets.SocketException] { continue }
            $text = [Text.Encoding]::UTF8.GetString($buffer, 0, $n)
            if ($text -like "*freeze $($frozen.FreezeId)*") { $mine = $text }   # other processes on this machine may log too
        }
        $mine | Should -Not -BeNullOrEmpty -Because 'the watchdog logs its timeout thaw'
        $mine | Should -Match '^<28>' -Because 'LOG_DAEMON | LOG_WARNING'
        $mine | Should -Match 'fsfreeze\[\d+\]: '
        $mine | Should -BeLike "*timeout of 2 s*thawed $($fs.MountPoint)*"
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }
}

Describe 'FsFreeze.WatchdogFailed' -Tag 'Timeout', 'Errors' {
    BeforeAll {
        $fs = New-LoopFilesystem -Type ext4
        # Copies of the built module: one without its watchdog, one whose watchdog ends before its handshake.
        $copies = New-TestDirectory -Prefix 'fsfreeze-module'
        foreach ($name in 'missing', 'dying') { Copy-Item -Recurse $env:FSFREEZE_TEST_MODULE (Join-Path $copies $name) }
        Remove-Item (Join-Path $copies 'missing/fsfreeze-watchdog')
        Set-Content (Join-Path $copies 'dying/fsfreeze-watchdog') "#!/bin/sh`ncat >/dev/null`necho 'watchdog gave up' >&2`nexit 7"
        Invoke-Native chmod 755 (Join-Path $copies 'dying/fsfreeze-watchdog') | Out-Null
    }
    AfterAll {
        Remove-LoopFilesystem $fs
        Remove-Item -LiteralPath $copies -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'is reported when the watchdog <Case>, and nothing is frozen' -ForEach @(
        @{ Case = 'is missing from the module folder'; Copy = 'missing'; Message = '*watchdog*is missing from the module folder*Nothing was frozen.' }
        @{ Case = 'ends without its handshake'; Copy = 'dying'; Message = '*ended without finishing the handshake (exit code 7): watchdog gave up.*Nothing was frozen.' }
    ) {
        $r = Invoke-ChildPwsh -Environment @{ MOD = (Join-Path $copies $Copy); MP = $fs.MountPoint; FSFREEZE_TEST_HELPERS = "$PSScriptRoot/TestHelpers.psm1" } -Command @'
Import-Module "$env:MOD/FsFreeze.psd1"
Import-Module "$env:FSFREEZE_TEST_HELPERS"
Invoke-FsFreeze -Path $env:MP -TimeoutSec 30 -ErrorVariable err -ErrorAction SilentlyContinue
$err | Get-ErrorSummary
$err | ForEach-Object { $_.Exception.Message }
'@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.Lines[0] | Should -Be "FsFreeze.WatchdogFailed|ResourceUnavailable|$($fs.MountPoint)"
        $r.Lines[1] | Should -BeLike $Message
        $r.Lines.Count | Should -Be 2
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        Get-ChildItem $script:StateDir -Filter '*.frozen' | Should -BeNullOrEmpty
    }
}

Describe 'Our freeze thawed behind our back' -Tag 'Timeout', 'ExternalThaw' {
    BeforeEach { $fs = New-LoopFilesystem -Type ext4 }
    AfterEach {
        Stop-TestWatchdogs
        Remove-LoopFilesystem $fs
    }

    It 'lets go at once, so its deadline cannot thaw a later freeze by another tool' {
        $frozen = Invoke-FsFreeze $fs.MountPoint -TimeoutSec 120
        $watchdog = Get-Process -Id (Get-FsFreezeStatus -Path $fs.MountPoint).WatchdogPid
        Invoke-Native fsfreeze -u $fs.MountPoint | Out-Null    # someone thaws our freeze with fsfreeze(8)
        $err = $null
        $frozen | Invoke-FsThaw -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'FsFreeze.NotFrozen,FsFreeze.Commands.InvokeFsThawCommand'
        # Without letting go, it would sit until its deadline (120 s) and then FITHAW whatever freeze is there.
        $watchdog.WaitForExit(10000) | Should -BeTrue -Because 'nothing is left for the watchdog to hold'
        Get-FsFreezeStatus | Should -BeNullOrEmpty
    }
}
