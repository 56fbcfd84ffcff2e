#Requires -Modules Pester
# The demo's judge (src/Demo/BackupDemo.psm1): the pure logic on made-up writer logs, and Test-Snapshot on real
# ext4 images, one clean and one copied while mounted, so a "clean" verdict is shown to be earned, not stamped.

BeforeAll {
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    Import-Module $PSScriptRoot/../src/Demo/BackupDemo.psm1 -Force

    function New-Change([double] $Start, [double] $Done, [string] $File, [string] $Sha) {
        [pscustomobject]@{ Start = $Start; Done = $Done; Op = 'rewrite'; File = $File; Sha256 = $Sha }
    }
    function Get-Sha([string] $Text) {
        [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData([Text.Encoding]::UTF8.GetBytes($Text))).ToLowerInvariant()
    }
}

Describe 'Get-ExpectedFiles' -Tag 'Demo' {
    It 'expects the last version finished before the window, or any version finished inside it' {
        $log = @(
            New-Change 1.0 1.1 'a' 'a1'
            New-Change 2.0 2.1 'a' 'a2'
            New-Change 5.0 5.2 'a' 'a3'   # finished inside [5, 6]
            New-Change 7.0 7.1 'a' 'a4'   # after the window: not in the snapshot
        )
        $e = @(Get-ExpectedFiles -Log $log -From 5 -To 6)
        $e.Count | Should -Be 1
        $e[0].Accepted | Should -Be @('a2', 'a3')
        $e[0].Older | Should -Be @('a1')
        $e[0].InFlight | Should -BeFalse
    }

    It 'marks a file whose change was still running at the end of the window, and leaves out files created after it began' {
        $log = @(
            New-Change 1.0 1.1 'a' 'a1'
            New-Change 5.5 9.0 'a' 'a2'   # held by the freeze: may be half written in the snapshot
            New-Change 5.1 5.2 'b' 'b1'   # first written inside the window
        )
        $e = @(Get-ExpectedFiles -Log $log -From 5 -To 6)
        $e.File | Should -Be @('a')
        $e[0].InFlight | Should -BeTrue
    }
}

Describe 'Get-WriterStall' -Tag 'Demo' {
    It 'finds the longest gap between changes that overlaps the window' {
        $log = @(
            New-Change 0.9 1.0 'a' 'x'
            New-Change 1.0 1.1 'a' 'x'
            New-Change 1.1 1.6 'a' 'x'    # 500 ms: held
            New-Change 1.6 1.7 'a' 'x'
            New-Change 2.7 3.7 'a' 'x'    # 2 s gap, but long after the window
        )
        $s = Get-WriterStall -Log $log -From 1.2 -To 1.3
        $s.LongestMs | Should -BeGreaterThan 499
        $s.LongestMs | Should -BeLessThan 501
        $s.Changes | Should -Be 5
    }
}

Describe 'Format-Verdict' -Tag 'Demo' {
    It 'calls a snapshot clean only when the journal, e2fsck and every checksum agree' {
        $clean = [pscustomobject]@{ NeedsRecovery = $false; FsckExitCode = 0; FsckFixes = 0; FsckModified = $false; FsckRecovered = $false
            FilesJudged = 3; FilesMatching = 3; FilesInFlight = 0; Mismatched = @() }
        Format-Verdict $clean | Should -BeLike 'clean: *checksums 3 of 3 match'

        $dirty = $clean.PSObject.Copy()
        $dirty.NeedsRecovery = $true; $dirty.FsckExitCode = 1; $dirty.FsckFixes = 2; $dirty.FsckRecovered = $true; $dirty.FilesMatching = 2
        $dirty.Mismatched = @([pscustomobject]@{ File = 'a'; How = 'older version' })
        Test-SnapshotConsistent $dirty | Should -BeFalse
        Format-Verdict $dirty | Should -Be 'journal needs recovery; fsck repaired 2 things after replaying the journal (e2fsck -fy exit 1); checksums 2 of 3 match (1 older version)'

        $nothing = $clean.PSObject.Copy()
        $nothing.FilesJudged = 0; $nothing.FilesMatching = 0
        Test-SnapshotConsistent $nothing | Should -BeFalse -Because 'a snapshot with no file to judge proves nothing'
    }
}

Describe 'Test-Snapshot on real ext4 images' -Tag 'Demo' {
    BeforeEach {
        $fs = New-LoopFilesystem -Type ext4
        $work = New-TestDirectory -Prefix 'fsfreeze-judge'
        Set-Content -LiteralPath (Join-Path $fs.MountPoint 'a.txt') -Value 'kept' -NoNewline
        Invoke-Native sync | Out-Null
        $expected = @(
            [pscustomobject]@{ File = 'a.txt'; Accepted = @(Get-Sha 'kept'); Older = @(); InFlight = $false }
            [pscustomobject]@{ File = 'gone.txt'; Accepted = @(Get-Sha 'never written'); Older = @(); InFlight = $false }
        )
    }
    AfterEach {
        Remove-LoopFilesystem $fs
        Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'finds needs_recovery in a copy of a mounted image, and a missing file' {
        Invoke-Native cp --sparse=always $fs.Image (Join-Path $work 'mounted.img') | Out-Null
        $r = Test-Snapshot -Name 'mounted' -Image (Join-Path $work 'mounted.img') -Expected $expected -WorkDir $work
        $r.NeedsRecovery | Should -BeTrue
        $r.FilesJudged | Should -Be 2
        $r.FilesMatching | Should -Be 1 -Because 'a.txt was synced; gone.txt never existed'
        $r.Mismatched.How | Should -Be @('missing')
        Test-SnapshotConsistent $r | Should -BeFalse
    }

    It 'calls a copy of the cleanly unmounted image clean' {
        Invoke-Native umount $fs.MountPoint | Out-Null   # one argument: see Invoke-Native
        Invoke-Native cp --sparse=always $fs.Image (Join-Path $work 'clean.img') | Out-Null
        $r = Test-Snapshot -Name 'clean' -Image (Join-Path $work 'clean.img') -Expected @($expected[0]) -WorkDir $work
        $r.NeedsRecovery | Should -BeFalse
        $r.FsckExitCode | Should -Be 0
        $r.FsckModified | Should -BeFalse
        $r.FilesMatching | Should -Be 1
        Test-SnapshotConsistent $r | Should -BeTrue
    }
}

Describe 'Test-ImageConsistency: a frozen copy judged by its filesystem type' -Tag 'Demo', 'WholeHost' {
    # Real loop filesystems this test mounted, frozen with fsfreeze(8) while their image is copied, an independent
    # thaw behind each: ext4 must be clean as copied; XFS clean after at most one log replay (its freeze's log records).
    It '<Type>: the copy taken while frozen is clean<Note>' -ForEach @(
        @{ Type = 'ext4'; Note = ''; MaxReplays = 0 }
        @{ Type = 'xfs'; Note = ' after at most one log replay'; MaxReplays = 1 }
    ) {
        $fs = New-LoopFilesystem -Type $Type
        $work = (Invoke-Native mktemp -d /tmp/fsfreeze-judge.XXXXXX | Select-Object -Last 1).Trim()
        $guard = Start-Process -PassThru -FilePath setsid -ArgumentList 'sh', '-c', "sleep 60; fsfreeze -u '$($fs.MountPoint)' 2>/dev/null"
        try {
            1..20 | ForEach-Object { Set-Content -LiteralPath (Join-Path $fs.MountPoint "f$_.txt") -Value ('x' * 4096 * $_) }
            Invoke-Native fsfreeze -f $fs.MountPoint | Out-Null
            try { Invoke-Native cp --sparse=always $fs.Image (Join-Path $work 'copy.img') | Out-Null }
            finally { & fsfreeze -u $fs.MountPoint }
            $r = Test-ImageConsistency -Image (Join-Path $work 'copy.img') -Type $Type
            $r.Clean | Should -BeTrue -Because $r.Detail
            $r.LogReplays | Should -BeLessOrEqual $MaxReplays -Because $r.Detail
        }
        finally {
            # The guard's shell only (its sleep ends by itself): never a computed negative pid.
            if (-not $guard.HasExited) { $guard.Kill(); $null = $guard.WaitForExit(5000) }
            Remove-LoopFilesystem $fs
            Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
        }
    }
}
