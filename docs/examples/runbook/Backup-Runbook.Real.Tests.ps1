#Requires -Modules Pester
# Backup-Runbook.ps1 for real: root, a real ext4 loop filesystem, real FIFREEZE/FITHAW, a real copy of its image.

BeforeAll {
    if ($env:FSFREEZE_TEST_MODULE) { Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force } else { Import-Module FsFreeze -Force }
    Import-Module (Join-Path $PSScriptRoot '../../../tests/TestHelpers.psm1') -Force
    $Runbook = Join-Path $PSScriptRoot 'Backup-Runbook.ps1'
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

    It 'a snapshot that fails is reported and nothing stays frozen' {
        { & $Runbook -Path $fs.MountPoint -Destination $dest.FullName -Snapshot { throw 'snapshot backend unavailable' } } |
            Should -Throw '*snapshot backend unavailable*'
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }
}
