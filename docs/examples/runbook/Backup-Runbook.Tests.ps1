#Requires -Modules Pester
# Backup-Runbook.ps1 with the FsFreeze cmdlets mocked: runs without root and without freezing anything.
# Pester mocks keep the real cmdlets' parameters, so a runbook that calls them wrongly fails here too.

BeforeAll {
    if ($env:FSFREEZE_TEST_MODULE) { Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force } else { Import-Module FsFreeze -Force }
    $Runbook = Join-Path $PSScriptRoot 'Backup-Runbook.ps1'

    function New-Frozen([string] $MountPoint) {
        [FsFreeze.FrozenFilesystem]@{ MountPoint = $MountPoint; FileSystemType = 'ext4'; Source = '/dev/fake'; FrozenAt = [datetime]::Now.AddSeconds(-2) }
    }
}

Describe 'Backup-Runbook.ps1 (FsFreeze mocked)' -Tag 'Runbook' {
    BeforeEach {
        Mock Invoke-FsFreeze { foreach ($p in $Path) { New-Frozen $p } }
        Mock Invoke-FsThaw {
            # Objects piped in bind -LiteralPath (their MountPoint, taken literally); strings bind -Path.
            [FsFreeze.ThawedFilesystem]@{ MountPoint = @($LiteralPath + $Path)[0]; FrozenAt = $FrozenAt; ThawedAt = [datetime]::Now }
        }
        $snapshot = { param($fs, $dest) "snap-of-$($fs.MountPoint)" }
    }

    It 'freezes the set once, snapshots each filesystem, thaws what it froze, and reports' {
        $report = & $Runbook -Path /srv/db, /srv/wal -Snapshot $snapshot

        $report.Succeeded | Should -BeTrue
        $report.Filesystems | Should -Be @('/srv/db', '/srv/wal')
        $report.Snapshots | Should -Be @('snap-of-/srv/db', 'snap-of-/srv/wal')
        $report.FrozenForMs | Should -BeGreaterThan 1000
        Should -Invoke Invoke-FsFreeze -Times 1 -Exactly -ParameterFilter { ($Path -join ',') -eq '/srv/db,/srv/wal' }
        Should -Invoke Invoke-FsThaw -Times 2 -Exactly   # once per piped object
    }

    It 'thaws when the snapshot throws, then rethrows the snapshot''s error' {
        { & $Runbook -Path /srv/db -Snapshot { throw 'lvcreate: insufficient free space' } } | Should -Throw '*insufficient free space*'
        Should -Invoke Invoke-FsThaw -Times 1 -Exactly -ParameterFilter { $LiteralPath -eq '/srv/db' }
    }

    It 'neither snapshots nor thaws when the freeze fails (a failed freeze leaves nothing frozen)' {
        Mock Invoke-FsFreeze { throw [System.InvalidOperationException]::new('FsFreeze.AlreadyFrozen') }
        # A [ref], not $script: (inside the runbook, $script: is the runbook's own scope, where the increment would go).
        $ran = [ref] 0
        { & $Runbook -Path /srv/db -Snapshot { $ran.Value++ } } | Should -Throw '*AlreadyFrozen*'
        $ran.Value | Should -Be 0
        Should -Invoke Invoke-FsThaw -Times 0 -Exactly
    }

    It 'fails when the thaw reports an error such as ThawedByTimeout: the snapshot may be inconsistent' {
        Mock Invoke-FsThaw {
            $record = [System.Management.Automation.ErrorRecord]::new([TimeoutException]::new('thawed by the watchdog'), 'FsFreeze.ThawedByTimeout', 'OperationTimeout', @($LiteralPath + $Path)[0])
            $PSCmdlet.WriteError($record)
        }
        { & $Runbook -Path /srv/db -Snapshot $snapshot -ErrorAction SilentlyContinue } | Should -Throw '*FsFreeze.ThawedByTimeout*may not be consistent*'
    }

    It 'refuses a destination on a filesystem it froze, and thaws' {
        $dest = (Get-Item TestDrive:\).FullName
        $mount = (findmnt --noheadings --output TARGET --target $dest).Trim()
        $ran = [ref] 0
        { & $Runbook -Path $mount -Destination $dest -Snapshot { $ran.Value++ } } | Should -Throw "*is on $mount, which is frozen*"
        $ran.Value | Should -Be 0
        Should -Invoke Invoke-FsThaw -Times 1 -Exactly
    }

    It '-WhatIf freezes nothing' {
        & $Runbook -Path /srv/db -Snapshot $snapshot -WhatIf
        Should -Invoke Invoke-FsFreeze -Times 0 -Exactly
    }

    It 'passes -TimeoutSec through, and leaves it to the cmdlet''s default when not given' {
        & $Runbook -Path /srv/db -Snapshot $snapshot -TimeoutSec 20 | Out-Null
        Should -Invoke Invoke-FsFreeze -Times 1 -Exactly -ParameterFilter { $TimeoutSec -eq 20 }
        & $Runbook -Path /srv/db -Snapshot $snapshot | Out-Null
        Should -Invoke Invoke-FsFreeze -Times 1 -Exactly -ParameterFilter { -not $PesterBoundParameters.ContainsKey('TimeoutSec') }
    }
}
