#Requires -Modules Pester
# The pre-freeze flush policy, as pure logic: flush again after a slow pass, stop after a quick one or at the bound.
# Its effect on writers is judged below with a real writer; build.ps1 -Task Bench measures how much it buys.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
}

Describe 'FlushPolicy.FlushAgain' -Tag 'Flush' {
    It 'flushes again after a slow first pass' {
        [FsFreeze.FlushPolicy]::FlushAgain(1, [timespan]::FromMilliseconds(800)) | Should -BeTrue
    }
    It 'stops after a quick pass' {
        [FsFreeze.FlushPolicy]::FlushAgain(1, [timespan]::FromMilliseconds(2)) | Should -BeFalse
        [FsFreeze.FlushPolicy]::FlushAgain(2, [FsFreeze.FlushPolicy]::QuickPass) | Should -BeFalse
    }
    It 'stops at MaxPasses however slow the last pass was' {
        [FsFreeze.FlushPolicy]::FlushAgain([FsFreeze.FlushPolicy]::MaxPasses, [timespan]::FromSeconds(5)) | Should -BeFalse
        [FsFreeze.FlushPolicy]::FlushAgain([FsFreeze.FlushPolicy]::MaxPasses - 1, [timespan]::FromSeconds(5)) | Should -BeTrue
    }
}

Describe 'Invoke-FsFreeze with the flush on a filesystem with dirty data' -Tag 'Flush' {
    BeforeAll { Import-Module $PSScriptRoot/TestHelpers.psm1 -Force }
    BeforeEach { $fs = New-LoopFilesystem -Type ext4 -SizeMB 128 }
    AfterEach { Remove-LoopFilesystem $fs }

    It 'freezes and thaws, and the data written before the freeze reads back' {
        $file = Join-Path $fs.MountPoint 'dirty.bin'
        & dd if=/dev/urandom "of=$file" bs=1M count=32 status=none
        $before = (Get-FileHash $file).Hash
        $frozen = Invoke-FsFreeze -Path $fs.MountPoint
        try {
            $frozen.State | Should -Be 'Frozen'
            Test-IsFrozen $fs.MountPoint | Should -BeTrue
            (Get-FileHash $file).Hash | Should -Be $before -Because 'reads work while frozen'
        }
        finally { $null = Invoke-FsThaw -Path $fs.MountPoint }
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }
}

Describe 'The flush before FIFREEZE, as a writer sees it (timeout <TimeoutSec>)' -Tag 'Flush' -ForEach @{ TimeoutSec = 0 }, @{ TimeoutSec = 60 } {
    # What tells the flush from -NoFlush: the flush (syncfs) runs while writers still run; FIFREEZE holds them first
    # and then writes back. The member's image lives on 'backing', which the test freezes, so whichever comes first
    # blocks on the write-back; a writer started meanwhile finishes during a flush and is held during a FIFREEZE.
    BeforeEach {
        Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
        $backing = New-LoopFilesystem -Type ext4 -MountName 'backing' -SizeMB 160
        $member = New-LoopFilesystem -Type ext4 -MountName 'member' -Under $backing.MountPoint
        $child = $null
        $net = 0
        $probe = $null

        function Wait-FreezerBlocked {
            # The process that freezes (the child pwsh, or with a timeout its watchdog) once one of its threads has
            # slept uninterruptibly for 500 ms on end: blocked in the write-back, not in a passing disk read.
            param($Child, [int] $TimeoutSec)
            $by = [DateTime]::UtcNow.AddSeconds(30)
            $since = $null
            while ([DateTime]::UtcNow -lt $by -and -not $Child.Process.HasExited) {
                $freezer = if ($TimeoutSec -eq 0) { $Child.Process.Id } else {
                    @(Get-ChildProcessId $Child.Process.Id | Where-Object { (Get-Process -Id $_ -ErrorAction SilentlyContinue).ProcessName -eq 'fsfreeze-watchdog' })[0] }
                if ($freezer -and (Get-TaskState $freezer | Where-Object State -EQ 'D')) {
                    if (-not $since) { $since = [DateTime]::UtcNow }
                    elseif (([DateTime]::UtcNow - $since).TotalMilliseconds -ge 500) { return $freezer }
                }
                else { $since = $null }
                Start-Sleep -Milliseconds 20
            }
            $null
        }
    }
    AfterEach {
        & fsfreeze -u $backing.MountPoint 2>$null
        Stop-BackgroundPwsh $child
        Stop-IndependentThaw $net
        if ($probe) { [void]$probe.Process.WaitForExit(10000) }
        Remove-LoopFilesystem $member
        Remove-LoopFilesystem $backing
    }

    It 'flush <Flush>: flushes while writers still run; with -NoFlush holds them for the whole write-back' -ForEach @(
        @{ Flush = $true }, @{ Flush = $false }
    ) {
        & dd if=/dev/zero "of=$($member.MountPoint)/dirty.bin" bs=1M count=8 status=none   # unsynced
        $net = Start-IndependentThaw $backing.MountPoint -Seconds 90
        Invoke-Native fsfreeze -f $backing.MountPoint | Out-Null
        $child = Start-BackgroundPwsh -Environment @{ MP = $member.MountPoint; T = "$TimeoutSec"; NOFLUSH = ($Flush ? '' : '1') } -Command @'
$ErrorActionPreference = 'Stop'
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
'freezing'
Invoke-FsFreeze -Path $env:MP -TimeoutSec ([int]$env:T) -NoFlush:([bool]$env:NOFLUSH) | Invoke-FsThaw | ForEach-Object State
'@
        # Only from here on is a long uninterruptible sleep the write-back: before it, pwsh may wait on its own disk reads.
        Read-BackgroundLine $child -TimeoutMs 60000 | Should -Be 'freezing'
        $freezer = Wait-FreezerBlocked $child $TimeoutSec
        $freezer | Should -Not -BeNullOrEmpty -Because "the write-back waits on the frozen backing filesystem ($($child.StdErr.Wait(0) ? $child.StdErr.Result : ''))"

        $probe = Start-ProbeWriter $member.MountPoint -NoSync
        if ($Flush) {
            Wait-ProbeWriter $probe | Should -BeTrue -Because 'the flush runs before FIFREEZE, while writers can still write'
            $probe.Process.ExitCode | Should -Be 0
            @(Get-TaskState $freezer | Where-Object State -EQ 'D').Count | Should -BeGreaterThan 0 -Because 'the flush was still blocked while the writer wrote'
        }
        else {
            Wait-WriterBlocked $probe | Should -BeTrue -Because 'with -NoFlush the FIFREEZE holds writers, then writes back'
        }

        Invoke-Native fsfreeze -u $backing.MountPoint | Out-Null
        Read-BackgroundLine $child -TimeoutMs 30000 | Should -Be 'Thawed'
        Wait-ProbeWriter $probe | Should -BeTrue
        Test-IsFrozen $member.MountPoint | Should -BeFalse
    }
}
