#Requires -Modules Pester
# Each errno, and each refusal, as the ErrorRecord a caller sees: stable id, real category, the path as target.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
}

Describe 'All or nothing: ext4 and tmpfs in one call' -Tag 'Errors' {
    BeforeAll {
        # Nesting fixes the freeze order (deeper first); mount ids would not, as the kernel reuses freed ones.
        # ext4 inside a tmpfs: ext4 is frozen first, then tmpfs fails, so ext4 must be rolled back.
        $tmpParent = New-LoopFilesystem -Type tmpfs
        $ext4Inside = New-NestedLoopFilesystem -Parent $tmpParent -Type ext4 -MountName 'ext4'
        # tmpfs inside an ext4: tmpfs fails first, before anything was frozen.
        $ext4Parent = New-LoopFilesystem -Type ext4
        $tmpInside = New-LoopFilesystem -Type tmpfs -Under $ext4Parent.MountPoint -MountName 'tmp'
    }
    AfterAll {
        Remove-LoopFilesystem $ext4Inside; Remove-LoopFilesystem $tmpParent
        Remove-LoopFilesystem $tmpInside; Remove-LoopFilesystem $ext4Parent
    }

    It 'rolls back <Case>, leaves ext4 thawed and names tmpfs' -ForEach @(
        @{ Case = 'an ext4 frozen before its tmpfs parent failed'; RolledBack = $true }
        @{ Case = 'nothing when a nested tmpfs fails first'; RolledBack = $false }
    ) {
        $ext4, $tmpfs = if ($RolledBack) { $ext4Inside, $tmpParent } else { $ext4Parent, $tmpInside }
        $out = Invoke-FsFreeze -Path $ext4.MountPoint, $tmpfs.MountPoint -ErrorVariable err -ErrorAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        $err.Count | Should -Be 1
        $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.NotSupported|NotImplemented|$($tmpfs.MountPoint)"
        $err[0].Exception.Message | Should -BeLike "*'$($tmpfs.MountPoint)' (tmpfs*"
        if ($RolledBack) { $err[0].Exception.Message | Should -BeLike "*thawed again*'$($ext4.MountPoint)'*" }
        else { $err[0].Exception.Message | Should -BeLike '*Nothing was frozen.' }

        Test-IsFrozen $ext4.MountPoint | Should -BeFalse
        $probe = Start-ProbeWriter $ext4.MountPoint
        Wait-ProbeWriter $probe | Should -BeTrue -Because 'ext4 was thawed again'
    }
}

Describe 'EBUSY: already frozen' -Tag 'Errors' {
    BeforeAll {
        $fs = New-LoopFilesystem -Type ext4
        $bind = Add-ExtraMount $fs -Name 'bind'
    }
    AfterEach { & fsfreeze -u $fs.MountPoint 2>$null }
    AfterAll { Remove-ExtraMount $bind; Remove-LoopFilesystem $fs }

    It 'a second Invoke-FsFreeze of <Case> is FsFreeze.AlreadyFrozen' -ForEach @(
        @{ Case = 'the same path'; Second = 'mount' }
        @{ Case = 'its bind mount'; Second = 'bind' }
    ) {
        $first = Invoke-FsFreeze -Path $fs.MountPoint
        $path = if ($Second -eq 'bind') { $bind } else { $fs.MountPoint }
        Invoke-FsFreeze -Path $path -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.AlreadyFrozen|ResourceBusy|$path"
        $err[0].Exception.Message | Should -BeLike '*EBUSY*already frozen*'
        # The failed second call must not have thawed the first freeze in its rollback.
        Test-IsFrozen $fs.MountPoint | Should -BeTrue
        $first | Invoke-FsThaw | Out-Null
    }

    It 'a freeze made by fsfreeze -f is FsFreeze.AlreadyFrozen; Invoke-FsThaw leaves it alone (NotOwned) unless -Force' {
        Invoke-Native fsfreeze -f $fs.MountPoint | Out-Null
        Invoke-FsFreeze -Path $fs.MountPoint -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.AlreadyFrozen|ResourceBusy|$($fs.MountPoint)"
        Invoke-FsThaw -Path $fs.MountPoint -ErrorVariable notOurs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $notOurs[0] | Get-ErrorSummary | Should -Be "FsFreeze.NotOwned|InvalidOperation|$($fs.MountPoint)"
        Test-IsFrozen $fs.MountPoint | Should -BeTrue -Because 'another tool''s freeze is not FsFreeze''s to thaw'
        (Invoke-FsThaw -Path $fs.MountPoint -Force).State | Should -Be 'Thawed'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }
}

Describe 'EINVAL: thaw of a filesystem that is not frozen' -Tag 'Errors' {
    BeforeAll {
        $a = New-LoopFilesystem -Type ext4
        $b = New-LoopFilesystem -Type xfs
    }
    AfterEach { & fsfreeze -u $a.MountPoint 2>$null; & fsfreeze -u $b.MountPoint 2>$null }
    AfterAll { Remove-LoopFilesystem $a; Remove-LoopFilesystem $b }

    It 'is FsFreeze.NotOwned without -Force (FsFreeze holds no freeze there), FsFreeze.NotFrozen (EINVAL) with it' {
        Invoke-FsThaw -Path $a.MountPoint -ErrorVariable notOurs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $notOurs[0] | Get-ErrorSummary | Should -Be "FsFreeze.NotOwned|InvalidOperation|$($a.MountPoint)"
        Invoke-FsThaw -Path $a.MountPoint -Force -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.NotFrozen|InvalidOperation|$($a.MountPoint)"
        $err[0].Exception.Message | Should -BeLike '*EINVAL*not frozen*'
    }

    It 'is non-terminating per path: the others still thaw' {
        Invoke-FsFreeze -Path $b.MountPoint | Out-Null
        $thawed = Invoke-FsThaw -Path $a.MountPoint, $b.MountPoint -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $thawed.MountPoint | Should -Be $b.MountPoint
        $err.Count | Should -Be 1
        $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.NotFrozen|InvalidOperation|$($a.MountPoint)"
        Test-IsFrozen $b.MountPoint | Should -BeFalse
    }
}

Describe 'A missing path' -Tag 'Errors' {
    BeforeAll { $fs = New-LoopFilesystem -Type ext4 }
    AfterEach { & fsfreeze -u $fs.MountPoint 2>$null }
    AfterAll { Remove-LoopFilesystem $fs }

    It 'is FsFreeze.PathNotFound, and nothing is frozen though the other path is fine' {
        $missing = "$($fs.MountPoint)/no/such/dir"
        Invoke-FsFreeze -Path $fs.MountPoint, $missing -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err.Count | Should -Be 1
        $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.PathNotFound|ObjectNotFound|$missing"
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'a path of another provider (<_>) is FsFreeze.PathNotFound, not a name looked up in the process cwd' -ForEach 'Env:HOME', 'Variable:PWD', 'NoSuchDrive:/x' {
        Invoke-FsFreeze -Path $_, $fs.MountPoint -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err.Count | Should -Be 1
        $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.PathNotFound|ObjectNotFound|$_"
        $err[0].Exception.Message | Should -BeLike "'$_' is not a filesystem path*"
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'Invoke-FsThaw reports a missing path and still thaws the others' {
        Invoke-FsFreeze -Path $fs.MountPoint | Out-Null
        $thawed = Invoke-FsThaw -Path '/no/such/path', $fs.MountPoint -ErrorVariable err -ErrorAction SilentlyContinue
        $thawed.MountPoint | Should -Be $fs.MountPoint
        $err | Get-ErrorSummary | Should -Be 'FsFreeze.PathNotFound|ObjectNotFound|/no/such/path'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'a block device with no mounted filesystem is FsFreeze.PathNotFound' {
        $loop = (Invoke-Native losetup -f --show $fs.Image | Select-Object -Last 1).Trim()   # a second, unmounted device
        try {
            Invoke-FsFreeze -Path $loop -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.PathNotFound|ObjectNotFound|$loop"
            $err[0].Exception.Message | Should -BeLike '*has no mounted filesystem*'
        }
        finally { Invoke-Native losetup -d $loop | Out-Null }
    }

    It 'stops Use-FsFreeze before it freezes or runs the scriptblock' {
        $ran = [ref] $false
        $caught = $null
        try { Use-FsFreeze -Path $fs.MountPoint, '/no/such/path' -ScriptBlock { $ran.Value = $true } -ErrorAction SilentlyContinue -ErrorVariable err }
        catch { $caught = $_ }
        $caught.FullyQualifiedErrorId | Should -BeLike 'FsFreeze.NothingFrozen,*'
        $err | Where-Object { $_ -is [Management.Automation.ErrorRecord] } | Get-ErrorSummary |
            Should -Contain 'FsFreeze.PathNotFound|ObjectNotFound|/no/such/path'
        $ran.Value | Should -BeFalse
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }
}

Describe 'EPERM: a caller without CAP_SYS_ADMIN' -Tag 'Errors' {
    BeforeAll {
        $fs = New-LoopFilesystem -Type ext4
        $frozenByUs = New-LoopFilesystem -Type ext4
    }
    AfterAll { Remove-LoopFilesystem $fs; Remove-LoopFilesystem $frozenByUs }

    It 'is FsFreeze.PermissionDenied for freeze, Use-FsFreeze and thaw, and changes nothing' {
        Invoke-Native fsfreeze -f $frozenByUs.MountPoint | Out-Null
        try {
            # root with every capability dropped from the bounding set: the uid is 0, CAP_SYS_ADMIN is gone.
            $r = Invoke-ChildPwsh -Prefix 'setpriv', '--inh-caps=-all', '--bounding-set=-all', '--' -Environment @{
                MP = $fs.MountPoint; FROZEN = $frozenByUs.MountPoint; FSFREEZE_TEST_HELPERS = "$PSScriptRoot/TestHelpers.psm1"
            } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
Import-Module "$env:FSFREEZE_TEST_HELPERS"
(Get-Content /proc/self/status | Where-Object { $_ -like 'CapEff:*' }) -replace '\s+', ' '
Invoke-FsFreeze -Path $env:MP -ErrorVariable err -ErrorAction SilentlyContinue
$err | Get-ErrorSummary
$err | ForEach-Object { $_.Exception.Message }
try { Use-FsFreeze -Path $env:MP -ScriptBlock { 'scriptblock ran' } } catch { $_ | Get-ErrorSummary }
Invoke-FsThaw -Path $env:FROZEN -ErrorVariable err -ErrorAction SilentlyContinue
$err | Get-ErrorSummary
'@
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $r.Lines[0] | Should -Be 'CapEff: 0000000000000000'
            $r.Lines[1] | Should -Be "FsFreeze.PermissionDenied|PermissionDenied|$($fs.MountPoint)"
            $r.Lines[2] | Should -BeLike '*EPERM*CAP_SYS_ADMIN*'
            $r.Lines[3] | Should -Be "FsFreeze.PermissionDenied|PermissionDenied|$($fs.MountPoint)" -Because 'Use-FsFreeze fails before the scriptblock'
            $r.Lines[4] | Should -Be "FsFreeze.PermissionDenied|PermissionDenied|$($frozenByUs.MountPoint)"
            $r.Lines.Count | Should -Be 5
            Test-IsFrozen $fs.MountPoint | Should -BeFalse
            Test-IsFrozen $frozenByUs.MountPoint | Should -BeTrue -Because 'the unprivileged thaw did nothing'
        }
        finally { & fsfreeze -u $frozenByUs.MountPoint 2>$null }
    }
}

Describe 'The session guard' -Tag 'Errors' {
    BeforeAll { $fs = New-LoopFilesystem -Type ext4 }
    AfterEach { & fsfreeze -u $fs.MountPoint 2>$null }
    AfterAll { Remove-LoopFilesystem $fs }

    It 'refuses / without -Force' {
        # -WhatIf as a second net: the guard runs before ShouldProcess, so the error still comes, and even a
        # broken guard could not freeze / here. -Force on / is never tested: it would freeze this machine.
        Invoke-FsFreeze -Path / -WhatIf -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0] | Get-ErrorSummary | Should -Be 'FsFreeze.SessionFilesystem|InvalidOperation|/'
        $err[0].Exception.Message | Should -BeLike "*Refusing to freeze '/'*root filesystem*-Force*"
        { Use-FsFreeze -Path / -ScriptBlock { 'ran' } -WhatIf } | Should -Throw -ErrorId 'FsFreeze.SessionFilesystem,*'
    }

    It 'refuses the filesystem of the PowerShell location without -Force' {
        Push-Location "$($fs.MountPoint)"
        try {
            Invoke-FsFreeze -Path . -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        }
        finally { Pop-Location }
        # The target is the path resolved against the location, the one the guard judged.
        $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.SessionFilesystem|InvalidOperation|$($fs.MountPoint)"
        $err[0].Exception.Message | Should -BeLike "*current location*"
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'refuses $HOME''s filesystem, named as ~, in a child pwsh whose HOME is on the test mount' {
        $r = Invoke-ChildPwsh -Environment @{ HOME = $fs.MountPoint; FSFREEZE_TEST_HELPERS = "$PSScriptRoot/TestHelpers.psm1" } -Command @'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
Import-Module "$env:FSFREEZE_TEST_HELPERS"
Invoke-FsFreeze -Path ~ -ErrorVariable err -ErrorAction SilentlyContinue
$err | Get-ErrorSummary
$err | ForEach-Object { $_.Exception.Message }
'@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.Lines[0] | Should -Be "FsFreeze.SessionFilesystem|InvalidOperation|$($fs.MountPoint)"
        $r.Lines[1] | Should -BeLike '*your home directory*'
        $r.Lines.Count | Should -Be 2
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It '-Force freezes the PowerShell location''s filesystem (a child pwsh located on a test mount)' {
        $r = Invoke-ChildPwsh -Environment @{ MP = $fs.MountPoint } -Command @'
$ErrorActionPreference = 'Stop'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
Set-Location -LiteralPath $env:MP
$frozen = Invoke-FsFreeze -Path . -Force
$frozen.MountPoint
(Invoke-FsThaw -Path . ).State
'@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.Lines | Should -Be @($fs.MountPoint, 'Thawed')
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }
}

Describe 'Rollback thaws only what this call froze' -Tag 'Errors' {
    BeforeAll {
        # $mine nested in $theirs, so $mine is frozen first, then $theirs fails.
        $theirs = New-LoopFilesystem -Type xfs
        $mine = New-NestedLoopFilesystem -Parent $theirs -Type ext4 -MountName 'mine'
    }
    AfterAll { Remove-LoopFilesystem $mine; Remove-LoopFilesystem $theirs }

    It 'leaves a freeze made by fsfreeze -f in place when the set fails on it' {
        Invoke-Native fsfreeze -f $theirs.MountPoint | Out-Null
        try {
            Invoke-FsFreeze -Path $theirs.MountPoint, $mine.MountPoint -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.AlreadyFrozen|ResourceBusy|$($theirs.MountPoint)"
            $err[0].Exception.Message | Should -BeLike "*thawed again*'$($mine.MountPoint)'*"
            Test-IsFrozen $mine.MountPoint | Should -BeFalse
            Test-IsFrozen $theirs.MountPoint | Should -BeTrue -Because 'the other tool''s freeze is not ours to undo'
        }
        finally { & fsfreeze -u $theirs.MountPoint 2>$null }
    }
}

Describe 'EOPNOTSUPP: <_>, which the kernel cannot freeze' -Tag 'Errors' -ForEach 'tmpfs', 'overlay', 'proc', 'vfat', 'fuse' {
    BeforeAll {
        # A kernel built without a filesystem cannot mount it (this one has no vfat): that alone may skip the test.
        $known = @(Get-Content /proc/filesystems | ForEach-Object { ($_ -split '\s+')[-1] })
        $inKernel = $_ -eq 'fuse' -or $known -contains $_
        $fs = if (-not $inKernel) { $null } elseif ($_ -in 'tmpfs', 'vfat') { New-LoopFilesystem -Type $_ } else { New-SpecialMount -Type $_ }
        $fstype = if ($fs) { (& findmnt -n -o FSTYPE --mountpoint $fs.MountPoint).Trim() }
    }
    AfterAll { Remove-LoopFilesystem $fs }

    It 'is FsFreeze.NotSupported, naming the type, for Invoke-FsFreeze and Use-FsFreeze' {
        if (-not $inKernel) { Set-ItResult -Skipped -Because "this kernel has no $_ (not in /proc/filesystems)"; return }
        # The fixture is what it claims: mounted with that type, and fsfreeze(8) gets EOPNOTSUPP from the kernel.
        $fstype | Should -BeLike "$($_ -replace 'fuse', 'fuse*')"
        (& env LC_ALL=C fsfreeze -f $fs.MountPoint 2>&1) -join ' ' | Should -BeLike '*freeze failed: Operation not supported*'

        Invoke-FsFreeze -Path $fs.MountPoint -TimeoutSec 0 -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err.Count | Should -Be 1
        $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.NotSupported|NotImplemented|$($fs.MountPoint)"
        $err[0].Exception.Message | Should -BeLike "*'$($fs.MountPoint)' ($fstype on *EOPNOTSUPP*cannot be frozen*Nothing was frozen."

        $ran = [ref] $false
        $caught = $null
        try { Use-FsFreeze -Path $fs.MountPoint -ScriptBlock { $ran.Value = $true } } catch { $caught = $_ }
        $caught | Get-ErrorSummary | Should -Be "FsFreeze.NotSupported|NotImplemented|$($fs.MountPoint)"
        $ran.Value | Should -BeFalse
    }
}

Describe 'EIO: a filesystem whose device fails its writes' -Tag 'Errors' {
    BeforeAll {
        # An ext4 image, sparse, on a 16 MB tmpfs: 20 MB of unsynced data cannot reach it, so the flush or the
        # FIFREEZE that writes it back gets EIO from the loop device.
        $small = New-LoopFilesystem -Type tmpfs -MountName 'small'
        $fs = New-LoopFilesystem -Type ext4 -MountName 'full' -Under $small.MountPoint
        & dd if=/dev/urandom "of=$($fs.MountPoint)/big.bin" bs=1M count=20 status=none
    }
    AfterAll { Remove-LoopFilesystem $fs; Remove-LoopFilesystem $small }

    It 'is FsFreeze.IoError (WriteError), with the errno, and nothing is left frozen' {
        Invoke-FsFreeze -Path $fs.MountPoint -TimeoutSec 0 -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err.Count | Should -Be 1
        $err[0] | Get-ErrorSummary | Should -Be "FsFreeze.IoError|WriteError|$($fs.MountPoint)"
        # The flush (syncfs) meets the loop device's failed writes first: ENOSPC from the full tmpfs; a FIFREEZE would say EIO.
        $err[0].Exception.Message | Should -Match ('^Cannot (flush|freeze) ' + [regex]::Escape("'$($fs.MountPoint)' (ext4 on $($fs.Loop)): ") + '(ENOSPC \(No space left on device\)|EIO \(Input/output error\))\. Nothing was frozen\.$')
        # Not frozen: a writer there is not held (it may fail, the journal is gone; a FIFREEZE probe would only say EIO again).
        $probe = Start-ProbeWriter $fs.MountPoint -NoSync
        Wait-ProbeWriter $probe | Should -BeTrue -Because 'a writer on a frozen filesystem would sleep until a thaw'
        (& env LC_ALL=C fsfreeze -u $fs.MountPoint 2>&1) -join ' ' | Should -BeLike '*Invalid argument*' -Because 'FITHAW says EINVAL: nothing holds it frozen'
    }
}

Describe 'The session guard for what the shell runs from' -Tag 'Errors' {
    # Each in a child pwsh whose temp directory, runtime or module lives on a test mount. -WhatIf as the second net:
    # the guard runs before ShouldProcess, so a broken guard freezes nothing here, and the test fails on the missing error.
    BeforeEach { $fs = New-LoopFilesystem -Type ext4 -SizeMB 200 }
    AfterEach { Remove-LoopFilesystem $fs }

    It 'refuses the filesystem holding <Case> without -Force' -ForEach @(
        @{ Case = 'the temp directory ($TMPDIR)'; What = 'temp'; Why = '*it holds the temp directory*' }
        @{ Case = 'the running .NET runtime (the pwsh executable)'; What = 'runtime'; Why = '*it holds the running .NET runtime (/proc/self/exe)*' }
        @{ Case = 'the FsFreeze module'; What = 'module'; Why = '*it holds the FsFreeze module*' }
    ) {
        $pwsh = Get-PwshPath
        $module = $env:FSFREEZE_TEST_MODULE
        $environment = @{ MP = $fs.MountPoint; FSFREEZE_TEST_HELPERS = "$PSScriptRoot/TestHelpers.psm1" }
        switch ($What) {
            'temp' { New-Item -ItemType Directory "$($fs.MountPoint)/tmp" | Out-Null; $environment.TMPDIR = "$($fs.MountPoint)/tmp" }
            'runtime' { Invoke-Native cp -r $PSHOME "$($fs.MountPoint)/pwsh" | Out-Null; $pwsh = "$($fs.MountPoint)/pwsh/pwsh" }
            'module' { Invoke-Native cp -r $env:FSFREEZE_TEST_MODULE "$($fs.MountPoint)/FsFreeze" | Out-Null; $module = "$($fs.MountPoint)/FsFreeze" }
        }
        $environment.MOD = $module
        $r = Invoke-ChildPwsh -PwshPath $pwsh -Environment $environment -Command @'
Import-Module "$env:MOD/FsFreeze.psd1"
Import-Module "$env:FSFREEZE_TEST_HELPERS"
(Get-Module FsFreeze).ModuleBase
[IO.Path]::GetTempPath()
Invoke-FsFreeze -Path $env:MP -WhatIf -ErrorVariable err -ErrorAction SilentlyContinue
$err | Get-ErrorSummary
$err | ForEach-Object { $_.Exception.Message }
'@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.Lines[0] | Should -Be $module -Because 'the child runs the module it was given'
        $r.Lines[2] | Should -Be "FsFreeze.SessionFilesystem|InvalidOperation|$($fs.MountPoint)"
        $r.Lines[3] | Should -BeLike $Why
        $r.Lines.Count | Should -Be 4
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }
}

Describe 'A real non-root user (uid 65534)' -Tag 'Errors' {
    BeforeAll {
        $fs = New-LoopFilesystem -Type ext4
        Invoke-Native chmod 755 $fs.Root | Out-Null   # the user must reach the mount point: only FIFREEZE may say no
        $nobody = New-UnprivilegedPwsh
        # A state directory of this test's, listing one real freeze: Get-FsFreezeStatus needs no root.
        $stateParent = New-TestDirectory -Prefix 'fsfreeze-state'
        Invoke-Native chmod 755 $stateParent | Out-Null
        $stateDir = Join-Path $stateParent 'state'
        $savedStateDir = $env:FSFREEZE_STATE_DIR
    }
    AfterAll {
        $env:FSFREEZE_STATE_DIR = $savedStateDir
        & fsfreeze -u $fs.MountPoint 2>$null
        Remove-LoopFilesystem $fs
        # FsFreeze put its state on a tmpfs of its own there: unmount it (lazily if a straggler holds it)
        for ($i = 0; $i -lt 5 -and (& findmnt -n --mountpoint $stateDir); $i++) { & umount -l $stateDir }
        Remove-Item -LiteralPath $nobody.Root, $stateParent -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'gets FsFreeze.PermissionDenied (EPERM) from Invoke-FsFreeze and Use-FsFreeze without a timeout, and freezes nothing' {
        $r = Invoke-ChildPwsh -PwshPath $nobody.Pwsh -Prefix $nobody.Prefix -Environment @{
            HOME = $nobody.Home; TMPDIR = $nobody.Home; MOD = $nobody.Module; MP = $fs.MountPoint; FSFREEZE_TEST_HELPERS = $nobody.Helpers
        } -Command @'
Import-Module "$env:MOD/FsFreeze.psd1"
Import-Module "$env:FSFREEZE_TEST_HELPERS"
"uid $(& id -u) $(((Get-Content /proc/self/status) -match '^CapEff:') -replace '\s+', ' ')"
Invoke-FsFreeze -Path $env:MP -TimeoutSec 0 -ErrorVariable err -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
$err | Get-ErrorSummary
$err | ForEach-Object { $_.Exception.Message }
try { Use-FsFreeze -Path $env:MP -TimeoutSec 0 -ScriptBlock { 'scriptblock ran' } -WarningAction SilentlyContinue } catch { $_ | Get-ErrorSummary }
'@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.Lines[0] | Should -Be 'uid 65534 CapEff: 0000000000000000'
        $r.Lines[1] | Should -Be "FsFreeze.PermissionDenied|PermissionDenied|$($fs.MountPoint)"
        $r.Lines[2] | Should -BeLike '*EPERM*CAP_SYS_ADMIN*'
        $r.Lines[3] | Should -Be "FsFreeze.PermissionDenied|PermissionDenied|$($fs.MountPoint)" -Because 'Use-FsFreeze fails before the scriptblock'
        $r.Lines.Count | Should -Be 4
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'lists a freeze with Get-FsFreezeStatus from a state directory it may read' {
        $env:FSFREEZE_STATE_DIR = $stateDir
        $frozen = Invoke-FsFreeze -Path $fs.MountPoint -TimeoutSec 60
        try {
            # Root's state directory, as FsFreeze makes it (0755, records 0644): readable as it is, nothing handed over.
            $r = Invoke-ChildPwsh -PwshPath $nobody.Pwsh -Prefix $nobody.Prefix -Environment @{
                HOME = $nobody.Home; TMPDIR = $nobody.Home; MOD = $nobody.Module; FSFREEZE_STATE_DIR = $stateDir
            } -Command @'
$ErrorActionPreference = 'Stop'
Import-Module "$env:MOD/FsFreeze.psd1"
Get-FsFreezeStatus | ForEach-Object { '{0}|{1}|{2}|{3}|{4}' -f $_.MountPoint, $_.State, $_.FreezeId, $_.WatchdogAlive, $_.FreezerPid }
'@
        }
        finally {
            $frozen | Invoke-FsThaw | Out-Null
        }
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.Lines | Should -Be "$($fs.MountPoint)|Frozen|$($frozen.FreezeId)|True|$PID"
    }
}
