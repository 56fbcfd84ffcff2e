#Requires -Modules Pester
# The nupkg that build.ps1 -Task Package makes (the Test task makes it too): PSResourceGet installs it from a local
# repository into a throwaway HOME, and a fresh pwsh imports it by name and freezes a loop filesystem with it.

BeforeAll {
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    $Version = (Import-PowerShellDataFile (Join-Path $PSScriptRoot '../FsFreeze.psd1')).ModuleVersion
    $Package = Join-Path (Split-Path $env:FSFREEZE_TEST_MODULE) "FsFreeze.$Version.nupkg"
}

Describe 'build.ps1 -Task Package' -Tag 'Package' {
    It 'makes FsFreeze.<version>.nupkg with the manifest''s version, the help and the native helper' {
        $Package | Should -Exist -Because 'build.ps1 -Task Test runs Package before the tests'
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [IO.Compression.ZipFile]::OpenRead($Package)
        try {
            $names = $zip.Entries.FullName
            foreach ($file in 'FsFreeze.psd1', 'FsFreeze.dll', 'FsFreeze.Core.dll', 'Mono.Posix.NETStandard.dll', 'libMonoPosixHelper.so',
                'FsFreeze.format.ps1xml', 'en-US/FsFreeze.dll-Help.xml', 'en-US/about_FsFreeze.help.txt') {
                $names | Should -Contain $file
            }
            $reader = [IO.StreamReader]::new(($zip.Entries | Where-Object FullName -EQ 'FsFreeze.nuspec').Open())
            [xml] $nuspec = $reader.ReadToEnd()
            $reader.Dispose()
            $nuspec.package.metadata.version | Should -Be $Version
            $nuspec.package.metadata.id | Should -Be 'FsFreeze'
        }
        finally { $zip.Dispose() }
    }

    Context 'installed with Install-PSResource' {
        BeforeAll {
            $work = New-TestDirectory -Prefix 'fsfreeze-package'
            New-Item -ItemType Directory "$work/repo", "$work/home" | Out-Null
            Copy-Item $Package "$work/repo/"
            $fs = New-LoopFilesystem -Type ext4

            # A throwaway HOME (and XDG dirs): the repository registration and the CurrentUser install land there,
            # not in this user's real PSResourceGet config or module path. PSModulePath is left for pwsh to compute.
            $script = {
                param($Repo, $MountPoint)
                $ErrorActionPreference = 'Stop'
                Register-PSResourceRepository -Name FsFreezeLocal -Uri $Repo -Trusted
                Install-PSResource -Name FsFreeze -Repository FsFreezeLocal -Scope CurrentUser -TrustRepository -Quiet
                Import-Module FsFreeze
                $module = Get-Module FsFreeze
                $frozen = Invoke-FsFreeze -Path $MountPoint -Confirm:$false
                $thawed = $frozen | Invoke-FsThaw
                [pscustomobject]@{
                    Version    = $module.Version.ToString()
                    ModuleBase = $module.ModuleBase
                    Cmdlets    = @($module.ExportedCmdlets.Keys)
                    Synopsis   = (Get-Help Invoke-FsFreeze).Synopsis
                    Format     = [bool](Get-FormatData FsFreeze.FrozenFilesystem)
                    Frozen     = $frozen.State.ToString()
                    Thawed     = $thawed.State.ToString()
                } | ConvertTo-Json -Compress
            }
            $psi = [Diagnostics.ProcessStartInfo]::new((Get-PwshPath))
            foreach ($a in '-NoProfile', '-NonInteractive', '-Command', "& { $script } '$work/repo' '$($fs.MountPoint)'") { $psi.ArgumentList.Add($a) }
            $psi.Environment['HOME'] = "$work/home"
            $psi.Environment['XDG_DATA_HOME'] = "$work/home/.local/share"
            $psi.Environment['XDG_CONFIG_HOME'] = "$work/home/.config"
            $psi.Environment['XDG_CACHE_HOME'] = "$work/home/.cache"
            $psi.Environment.Remove('PSModulePath') | Out-Null
            $psi.WorkingDirectory = $work
            $psi.RedirectStandardOutput = $true
            $psi.RedirectStandardError = $true
            $p = [Diagnostics.Process]::Start($psi)
            $stdout = $p.StandardOutput.ReadToEndAsync()
            $stderr = $p.StandardError.ReadToEndAsync()
            $exited = $p.WaitForExit(180000)
            if (-not $exited) { $p.Kill($true) }
            $Result = @{ Exited = $exited; ExitCode = $p.ExitCode; Out = $stdout.Result; Err = $stderr.Result }
        }
        AfterAll {
            Remove-LoopFilesystem $fs
            Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
        }

        It 'installs into the temporary HOME, imports by name and freezes and thaws a loop filesystem' {
            $Result.Exited | Should -BeTrue
            $Result.ExitCode | Should -Be 0 -Because $Result.Err
            $info = $Result.Out | ConvertFrom-Json
            $info.Version | Should -Be $Version
            $info.ModuleBase | Should -BeLike "$work/home/*"
            $info.Cmdlets | Should -Contain 'Invoke-FsFreeze'
            $info.Cmdlets | Should -Contain 'Use-FsFreeze'
            $info.Synopsis | Should -BeLike 'Freezes one or more mounted filesystems*' -Because 'the installed module carries en-US help'
            $info.Format | Should -BeTrue
            $info.Frozen | Should -Be 'Frozen'
            $info.Thawed | Should -Be 'Thawed'
            Test-IsFrozen $fs.MountPoint | Should -BeFalse
        }
    }
}
