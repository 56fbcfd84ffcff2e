#Requires -Modules Pester
# The fixtures' own judges can fail: Test-IsFrozen says "frozen" only on EBUSY, Wait-WriterBlocked only for a writer
# the kernel holds, and a teardown that finds something left over records a problem the run fails on.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
}

Describe 'Test-IsFrozen' -Tag 'Helpers' {
    BeforeAll {
        $fs = New-LoopFilesystem -Type ext4
        $tmpfs = New-LoopFilesystem -Type tmpfs
    }
    AfterEach { & fsfreeze -u $fs.MountPoint 2>$null }
    AfterAll { Remove-LoopFilesystem $tmpfs; Remove-LoopFilesystem $fs }

    It 'says frozen (EBUSY) for a frozen filesystem, and not frozen for a thawed one, which it leaves thawed' {
        Invoke-Native fsfreeze -f $fs.MountPoint | Out-Null
        Test-IsFrozen $fs.MountPoint | Should -BeTrue
        Invoke-Native fsfreeze -u $fs.MountPoint | Out-Null
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        (& env LC_ALL=C fsfreeze -u $fs.MountPoint 2>&1) -join ' ' | Should -BeLike '*Invalid argument*' -Because 'the probe thawed what it froze'
    }

    It 'throws instead of answering for <Case>' -ForEach @(
        @{ Case = 'an empty path'; Path = '' }
        @{ Case = 'a missing path'; Path = '/no/such/mount/point' }
        @{ Case = 'a tmpfs (EOPNOTSUPP)'; Path = 'TMPFS' }
    ) {
        $p = if ($Path -eq 'TMPFS') { $tmpfs.MountPoint } else { $Path }
        { Test-IsFrozen $p } | Should -Throw '*another reason than EBUSY*'
    }

    It 'throws for a caller without CAP_SYS_ADMIN (EPERM), even on a frozen filesystem' {
        Invoke-Native fsfreeze -f $fs.MountPoint | Out-Null
        $r = Invoke-ChildPwsh -Prefix 'setpriv', '--inh-caps=-all', '--bounding-set=-all', '--' -Environment @{ MP = $fs.MountPoint; H = "$PSScriptRoot/TestHelpers.psm1" } -Command @'
Import-Module $env:H
try { "answered $(Test-IsFrozen $env:MP)" } catch { "threw: $_" }
'@
        $r.Lines | Should -BeLike 'threw:*another reason than EBUSY*Operation not permitted*'
    }
}

Describe 'Wait-WriterBlocked' -Tag 'Helpers' {
    BeforeAll { $fs = New-LoopFilesystem -Type ext4 }
    AfterEach { & fsfreeze -u $fs.MountPoint 2>$null }
    AfterAll { Remove-LoopFilesystem $fs }

    It 'is true for a writer on a frozen filesystem (D state, percpu_rwsem_wait)' {
        Invoke-Native fsfreeze -f $fs.MountPoint | Out-Null
        $probe = Start-ProbeWriter $fs.MountPoint
        Wait-WriterBlocked $probe | Should -BeTrue
        Invoke-Native fsfreeze -u $fs.MountPoint | Out-Null
        Wait-ProbeWriter $probe | Should -BeTrue
    }

    It 'is false for a writer that is only slow, where "not done within 700 ms" would have called it held' {
        $psi = [Diagnostics.ProcessStartInfo]::new('/bin/sh')
        foreach ($a in '-c', 'sleep 2; printf x > "$1"', 'slow', "$($fs.MountPoint)/slow.txt") { $psi.ArgumentList.Add($a) }
        $slow = [Diagnostics.Process]::Start($psi)
        $slow.WaitForExit(700) | Should -BeFalse -Because 'the old judge would have said "blocked" here'
        Wait-WriterBlocked ([pscustomobject]@{ Process = $slow }) -TimeoutMs 800 | Should -BeFalse
        $slow.WaitForExit(10000) | Should -BeTrue
    }

    It 'is false for a writer that finished' {
        $probe = Start-ProbeWriter $fs.MountPoint
        Wait-ProbeWriter $probe | Should -BeTrue
        Wait-WriterBlocked $probe -TimeoutMs 200 | Should -BeFalse
    }
}

Describe 'Teardown problems reach the run' -Tag 'Helpers' {
    BeforeEach {
        $saved = $env:FSFREEZE_TEST_LEDGER
        $env:FSFREEZE_TEST_LEDGER = Join-Path $TestDrive "ledger-$([guid]::NewGuid().ToString('N')).tsv"
        [IO.File]::WriteAllText($env:FSFREEZE_TEST_LEDGER, '')
    }
    AfterEach { $env:FSFREEZE_TEST_LEDGER = $saved }

    It 'records a filesystem left frozen for teardown to thaw, and thaws it' {
        $fs = New-LoopFilesystem -Type ext4
        Invoke-Native fsfreeze -f $fs.MountPoint | Out-Null
        Remove-LoopFilesystem $fs 3>$null
        Get-Content $env:FSFREEZE_TEST_LEDGER | Should -Contain "problem`t$($fs.MountPoint) was still frozen at teardown (thawed it now)"
        Test-IsMounted $fs.MountPoint | Should -BeFalse
        (& losetup -l -n -O BACK-FILE) -join "`n" | Should -Not -Match ([regex]::Escape($fs.Image))
    }

    It 'records nothing for a clean teardown, and the directory it made' {
        $fs = New-LoopFilesystem -Type ext4
        Remove-LoopFilesystem $fs
        $lines = @(Get-Content $env:FSFREEZE_TEST_LEDGER)
        $lines | Should -Be @("dir`t$($fs.Root)")
        Test-Path $fs.Root | Should -BeFalse
    }
}
