#Requires -Modules Pester
# Backup-Runbook.ps1 for real: root, a real ext4 loop filesystem, real FIFREEZE/FITHAW, a real copy of its image.

BeforeAll {
    if ($env:FSFREEZE_TEST_MODULE) { Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force } else { Import-Module FsFreeze -Force }
    Import-Module (Join-Path $PSScriptRoot '../../../tests/TestHelpers.psm1') -Force
    $Runbook = Join-Path $PSScriptRoot 'Backup-Runbook.ps1'
    # A state directory of its own, so the tombstone of the timeout test is this file's alone.
    $stateDir = New-TestDirectory -Prefix 'fsfreeze-state'
    Invoke-Native chmod 700 $stateDir | Out-Null
    $savedStateDir = $env:FSFREEZE_STATE_DIR
    $env:FSFREEZE_STATE_DIR = $stateDir
}

AfterAll {
    $env:FSFREEZE_STATE_DIR = $savedStateDir
    Remove-Item -LiteralPath $stateDir -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Backup-Runbook.ps1 on a real loop filesystem' -Tag 'Runbook' {
    BeforeEach {
        $fs = New-LoopFilesystem -Type ext4
        $dest = New-Item -ItemType Directory (Join-Path $fs.Root 'backup')   # beside the image, on /, not frozen
    }
    AfterEach { Remove-LoopFilesystem $fs }

    It 'copies a clean image while frozen and leaves the filesystem thawed and writable' {
        Set-Content (Join-Path $fs.MountPoint 'ledger.txt') 'entry 1'
        $report = & $Runbook -Path $fs.MountPoint -Destination $dest.FullName

        $report.Succeeded | Should -BeTrue
        $report.Filesystems | Should -Be $fs.MountPoint
        $copy = @($report.Snapshots)[0]
        $copy | Should -Exist
        (Invoke-Native dumpe2fs -h $copy) -join "`n" | Should -Not -Match 'needs_recovery' -Because 'a copy taken while frozen is clean'
        Invoke-Native debugfs -R 'cat /ledger.txt' $copy | Should -Contain 'entry 1'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        $probe = Start-ProbeWriter $fs.MountPoint
        Wait-ProbeWriter $probe | Should -BeTrue
    }

    It 'fails, after the thaw, when the real timeout thawed before the snapshot ended (FsFreeze.ThawedByTimeout)' {
        # No mock: the watchdog's deadline passes while the snapshot still runs; Invoke-FsThaw then reports it.
        # A [ref], not $script: (inside the runbook, $script: is the runbook's own scope).
        $sawFrozen = [ref] $null
        $caught = $null
        try {
            & $Runbook -Path $fs.MountPoint -Destination $dest.FullName -TimeoutSec 2 -ErrorVariable thawErrors -ErrorAction SilentlyContinue -Snapshot {
                param($Filesystem)
                $sawFrozen.Value = Test-IsFrozen $Filesystem.MountPoint
                Start-Sleep -Seconds 4   # past the 2 s deadline
                'slow snapshot'
            }
        }
        catch { $caught = $_ }
        $sawFrozen.Value | Should -BeTrue -Because 'the snapshot started while frozen'
        "$caught" | Should -BeLike '*The thaw reported 1 error(s) (first: FsFreeze.ThawedByTimeout,*the snapshot may not be consistent.'
        ($thawErrors | Where-Object { $_ -is [Management.Automation.ErrorRecord] } | Select-Object -First 1).FullyQualifiedErrorId | Should -BeLike 'FsFreeze.ThawedByTimeout,*'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'refuses a destination on the filesystem it froze, runs no snapshot, and thaws' {
        $inside = New-Item -ItemType Directory (Join-Path $fs.MountPoint 'backup-here')
        $ran = [ref] 0
        { & $Runbook -Path $fs.MountPoint -Destination $inside.FullName -Snapshot { $ran.Value++ } } |
            Should -Throw "*Destination '$($inside.FullName)' is on $($fs.MountPoint), which is frozen*"
        $ran.Value | Should -Be 0
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
        $probe = Start-ProbeWriter $inside.FullName
        Wait-ProbeWriter $probe | Should -BeTrue
    }

    It 'a snapshot that fails is reported and nothing stays frozen' {
        { & $Runbook -Path $fs.MountPoint -Destination $dest.FullName -Snapshot { throw 'snapshot backend unavailable' } } |
            Should -Throw '*snapshot backend unavailable*'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }
}
