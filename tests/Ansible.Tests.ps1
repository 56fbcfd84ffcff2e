#Requires -Modules Pester
# docs/examples/ansible/snapshot.yml run by the real ansible-playbook against localhost, on loop filesystems this
# test creates and passes in as extra vars. Every run is bounded by timeout(1); teardown thaws whatever is left.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    $Playbook = Join-Path $PSScriptRoot '../docs/examples/ansible/snapshot.yml'
    $TimeoutVar = 30   # the play passes it as -TimeoutSec: a renamed parameter fails the play, and the test

    function Invoke-Playbook([hashtable] $ExtraVars, [string] $Work) {
        $vars = @{
            fsfreeze_pwsh        = Get-PwshPath
            fsfreeze_module      = "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
            fsfreeze_timeout_sec = $TimeoutVar
        } + $ExtraVars
        $varsFile = Join-Path $Work "vars-$([guid]::NewGuid().ToString('N')).json"
        $vars | ConvertTo-Json -Depth 5 | Set-Content $varsFile
        # Ansible's own temp and state stay in the test's directory (on /, never on a filesystem the play freezes).
        $env:ANSIBLE_LOCAL_TEMP = Join-Path $Work 'ansible-local'
        $env:ANSIBLE_REMOTE_TEMP = Join-Path $Work 'ansible-remote'
        $env:ANSIBLE_NOCOLOR = '1'
        $env:ANSIBLE_RETRY_FILES_ENABLED = 'false'
        try {
            $out = & timeout 240 ansible-playbook -i 'localhost,' -c local $Playbook -e "@$varsFile" 2>&1
            [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = ($out -join "`n") }
        }
        finally {
            Remove-Item Env:ANSIBLE_LOCAL_TEMP, Env:ANSIBLE_REMOTE_TEMP, Env:ANSIBLE_NOCOLOR, Env:ANSIBLE_RETRY_FILES_ENABLED -ErrorAction SilentlyContinue
        }
    }

    function Get-Recap([string] $Output) {
        $m = [regex]::Match($Output, 'localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)')
        if (-not $m.Success) { throw "No PLAY RECAP in:`n$Output" }
        [pscustomobject]@{ Ok = [int]$m.Groups[1].Value; Changed = [int]$m.Groups[2].Value; Failed = [int]$m.Groups[4].Value }
    }
}

Describe 'The Ansible example playbook' -Tag 'Ansible' {
    BeforeAll {
        $ext4 = New-LoopFilesystem -Type ext4 -MountName 'ext4data'   # distinct image names: the copies share one folder
        $xfs = New-LoopFilesystem -Type xfs -MountName 'xfsdata'
        $work = New-TestDirectory -Prefix 'fsfreeze-ansible'
    }
    AfterEach {
        # Keep the tests independent: a failed run must not leave the next one a frozen filesystem (each It has
        # already asserted that nothing is frozen before this runs).
        foreach ($f in $ext4, $xfs) { & fsfreeze -u $f.MountPoint 2>$null }
    }
    AfterAll {
        Remove-LoopFilesystem $xfs
        Remove-LoopFilesystem $ext4
        Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'freezes ext4 and XFS, copies their images while frozen, thaws; changed, not failed, copies clean' {
        Set-Content (Join-Path $ext4.MountPoint 'data.txt') 'written before the snapshot'   # dirty in the page cache
        $snapshots = New-Item -ItemType Directory (Join-Path $work 'ok')
        $run = Invoke-Playbook @{ fsfreeze_paths = @($ext4.MountPoint, $xfs.MountPoint); snapshot_sources = @($ext4.Image, $xfs.Image); snapshot_dir = $snapshots.FullName } $work

        $run.ExitCode | Should -Be 0 -Because $run.Output
        $recap = Get-Recap $run.Output
        $recap.Failed | Should -Be 0
        $recap.Changed | Should -Be 3 -Because 'the freeze, the copy (a loop over two images counts once) and the thaw changed something'
        $run.Output | Should -Match ([regex]::Escape("frozen=$($ext4.MountPoint),$($xfs.MountPoint)") + '|' + [regex]::Escape("frozen=$($xfs.MountPoint),$($ext4.MountPoint)"))
        Test-IsFrozen $ext4.MountPoint | Should -BeFalse
        Test-IsFrozen $xfs.MountPoint | Should -BeFalse

        # The frozen copy is clean: no journal to replay, and the file is in it (FACTS.md: unfrozen copies are not).
        $copy = Join-Path $snapshots (Split-Path $ext4.Image -Leaf)
        (Invoke-Native dumpe2fs -h $copy) -join "`n" | Should -Not -Match 'needs_recovery'
        Invoke-Native debugfs -R 'cat /data.txt' $copy | Should -Contain 'written before the snapshot'
        Join-Path $snapshots (Split-Path $xfs.Image -Leaf) | Should -Exist
    }

    It 'passes -TimeoutSec: the freeze reports the timeout it was given' {
        $snapshots = New-Item -ItemType Directory (Join-Path $work 'timeout')
        $run = Invoke-Playbook @{ fsfreeze_paths = @($ext4.MountPoint); snapshot_sources = @($ext4.Image); snapshot_dir = $snapshots.FullName } $work
        $run.ExitCode | Should -Be 0 -Because $run.Output
        $run.Output | Should -Match 'timeout=30\b'
        Test-IsFrozen $ext4.MountPoint | Should -BeFalse
    }

    It 'a failing snapshot step fails the play and still leaves nothing frozen' {
        $run = Invoke-Playbook @{ fsfreeze_paths = @($ext4.MountPoint, $xfs.MountPoint); snapshot_sources = @($ext4.Image); snapshot_dir = (Join-Path $work 'no-such-dir') } $work

        $run.ExitCode | Should -Not -Be 0
        $recap = Get-Recap $run.Output
        $recap.Failed | Should -Be 1
        $run.Output | Should -Match 'TASK \[Thaw what the freeze task froze[^\n]*\n\s*changed: \[localhost\]' -Because 'the always: thaw ran and thawed'
        Test-IsFrozen $ext4.MountPoint | Should -BeFalse
        Test-IsFrozen $xfs.MountPoint | Should -BeFalse
    }

    It 'a freeze that cannot succeed (tmpfs in the set) fails, freezes nothing and skips the snapshot' {
        $tmpfs = New-LoopFilesystem -Type tmpfs -MountName 'scratch' -Under $work
        try {
            $snapshots = New-Item -ItemType Directory (Join-Path $work 'never')
            $run = Invoke-Playbook @{ fsfreeze_paths = @($ext4.MountPoint, $tmpfs.MountPoint); snapshot_sources = @($ext4.Image); snapshot_dir = $snapshots.FullName } $work

            $run.ExitCode | Should -Not -Be 0
            (Get-Recap $run.Output).Failed | Should -Be 1
            $run.Output | Should -Match 'FsFreeze.NotSupported|cannot be frozen|not support'
            Test-IsFrozen $ext4.MountPoint | Should -BeFalse -Because 'a set freezes all or none'
            Get-ChildItem $snapshots | Should -BeNullOrEmpty
        }
        finally { Remove-LoopFilesystem $tmpfs }
    }
}
