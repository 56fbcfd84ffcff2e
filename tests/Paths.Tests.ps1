#Requires -Modules Pester
# How the cmdlets turn the paths they are given into filesystems: plain absolute paths skip the provider lookup,
# anything PowerShell would rewrite ('..', '\') still goes through it. The session guard keeps refusing what the shell
# lives on. Safety: the refusal tests carry -WhatIf, so even a broken guard could not freeze '/'.

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
}

Describe 'Path resolution on ext4' -Tag 'Paths' {
    BeforeEach {
        $fs = New-LoopFilesystem -Type ext4
        New-Item -ItemType Directory -Path (Join-Path $fs.MountPoint 'sub') | Out-Null
        Set-Content -LiteralPath (Join-Path $fs.MountPoint 'sub/file.txt') -Value 'x'
    }
    AfterEach { Remove-LoopFilesystem $fs }

    It 'freezes the filesystem holding a plain absolute path to a file, and thaws it by the same path' {
        $file = Join-Path $fs.MountPoint 'sub/file.txt'
        $frozen = Invoke-FsFreeze -Path $file -NoFlush
        try {
            $frozen.MountPoint | Should -Be $fs.MountPoint
            $frozen.RequestedPath | Should -Be @($file)
            Test-IsFrozen $fs.MountPoint | Should -BeTrue
        }
        finally { $thawed = Invoke-FsThaw -Path $file }
        $thawed.MountPoint | Should -Be $fs.MountPoint
        Test-IsFrozen $fs.MountPoint | Should -BeFalse
    }

    It 'resolves a path with a .. segment the way PowerShell does' {
        $frozen = Invoke-FsFreeze -Path "$($fs.MountPoint)/sub/.." -NoFlush
        try { $frozen.MountPoint | Should -Be $fs.MountPoint }
        finally { $null = Invoke-FsThaw -Path $fs.MountPoint }
    }

    It 'resolves a path relative to the PowerShell location' {
        Push-Location $fs.Root   # the directory holding the mount point, on the temp filesystem: not the one frozen
        try {
            $frozen = Invoke-FsFreeze -Path (Split-Path -Leaf $fs.MountPoint) -NoFlush
            try { $frozen.MountPoint | Should -Be $fs.MountPoint }
            finally { $null = Invoke-FsThaw -Path $fs.MountPoint }
        }
        finally { Pop-Location }
    }
}

Describe 'Session guard with plain absolute paths' -Tag 'Paths' {
    It 'refuses <_> with FsFreeze.SessionFilesystem' -ForEach '/', '/proc/self/exe' {
        $target = if ($_ -eq '/proc/self/exe') { $PSHOME } else { $_ }
        $out = Invoke-FsFreeze -Path $target -WhatIf -ErrorVariable err -ErrorAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeLike 'FsFreeze.SessionFilesystem*'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
    }
}
