#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests and packages the FsFreeze module.
.DESCRIPTION
    Plain tasks, no bootstrap beyond NuGet restore. Every native step is checked: a failing step stops the build.
    FsFreeze.psd1 is the one source of the version.
.EXAMPLE
    ./build.ps1 -Task Test
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Bench')]
    [string[]] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Pester tag filter for -Task Test, e.g. -Tag ext4.
    [string[]] $Tag,

    # -Task Bench: a few iterations only, to check that the benchmark runs (its numbers mean nothing).
    [switch] $Quick
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$Root = $PSScriptRoot
$Manifest = Import-PowerShellDataFile (Join-Path $Root 'FsFreeze.psd1')
$Version = $Manifest.ModuleVersion
$OutDir = Join-Path $Root 'out'
$ModuleDir = Join-Path $OutDir 'FsFreeze'

function Invoke-Checked {
    # Runs a native command and throws when it fails, so no step is swallowed. Plain $args: '-o' is the command's, not ours.
    $FilePath, $Arguments = $args
    Write-Host "> $FilePath $($Arguments -join ' ')" -ForegroundColor DarkGray
    & $FilePath @Arguments
    if ($LASTEXITCODE -ne 0) { throw "'$FilePath $($Arguments -join ' ')' failed with exit code $LASTEXITCODE." }
}

function Get-NuGetPackagesFolder {
    if ($env:NUGET_PACKAGES) { return $env:NUGET_PACKAGES }
    $line = & dotnet nuget locals global-packages --list
    if ($LASTEXITCODE -ne 0) { throw 'dotnet nuget locals failed.' }
    return ($line -replace '^global-packages:\s*', '').Trim()
}

function Invoke-Build {
    # The module folder is laid out to import as it is: manifest, formats, help, dlls and the Mono.Posix native helper, flat.
    if (Test-Path $ModuleDir) { Remove-Item $ModuleDir -Recurse -Force }
    Invoke-Checked dotnet publish (Join-Path $Root 'src/FsFreeze.Module/FsFreeze.Module.csproj') `
        -c $Configuration -o $ModuleDir --nologo -v quiet "-p:Version=$Version"
    Copy-Item (Join-Path $Root 'FsFreeze.psd1') $ModuleDir
    Copy-Item (Join-Path $Root 'src/FsFreeze.Module/FsFreeze.format.ps1xml') $ModuleDir
    $enUs = Join-Path $Root 'en-US'
    if (Test-Path $enUs) { Copy-Item $enUs $ModuleDir -Recurse }
    # pwsh loads neither .deps.json nor .pdb; keep the folder to what it uses.
    Get-ChildItem $ModuleDir -Filter '*.deps.json' | Remove-Item
    foreach ($required in 'FsFreeze.dll', 'FsFreeze.Core.dll', 'Mono.Posix.NETStandard.dll', 'libMonoPosixHelper.so') {
        if (-not (Test-Path (Join-Path $ModuleDir $required))) { throw "Build output lacks $required." }
    }
    Write-Host "Built FsFreeze $Version into $ModuleDir"
}

function Invoke-Test {
    Invoke-Checked dotnet restore (Join-Path $Root 'tests/TestDependencies.csproj') --nologo -v quiet
    $pester = Join-Path (Get-NuGetPackagesFolder) 'pester/5.7.1/tools/Pester.psd1'
    if (-not (Test-Path $pester)) { throw "Pester was not restored: $pester is missing." }
    # $PSHOME/pwsh is the apphost both in an installed pwsh and in the dotnet tool (where the process is dotnet).
    $pwsh = Join-Path $PSHOME 'pwsh'
    $runner = Join-Path $Root 'tests/Invoke-Tests.ps1'
    $runnerArgs = @('-NoProfile', '-NonInteractive', '-File', $runner, '-PesterPath', $pester, '-ModulePath', $ModuleDir)
    if ($Tag) { $runnerArgs += @('-Tag', ($Tag -join ',')) }
    # A child pwsh, so the tests import the module fresh and a crash there cannot take the build down with it.
    Invoke-Checked $pwsh @runnerArgs
}

function Invoke-Bench {
    # The writer the stall benchmarks watch is a small .NET program of its own, built beside the results.
    $benchDir = Join-Path $OutDir 'bench'
    $writerDir = Join-Path $benchDir 'StallWriter'
    Invoke-Checked dotnet publish (Join-Path $Root 'tests/Benchmarks/StallWriter/StallWriter.csproj') -c Release -o $writerDir --nologo -v quiet
    $pwsh = Join-Path $PSHOME 'pwsh'
    $benchArgs = @('-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'tests/Benchmarks/Invoke-Benchmark.ps1'),
        '-ModulePath', $ModuleDir, '-WriterPath', (Join-Path $writerDir 'StallWriter'), '-OutDir', $benchDir)
    if ($Quick) { $benchArgs += '-Quick' }
    # A child pwsh: the module is imported fresh, as a user would.
    Invoke-Checked $pwsh @benchArgs
}

foreach ($t in $Task) {
    switch ($t) {
        'Build' { Invoke-Build }
        'Test' { if ($Task -notcontains 'Build') { Invoke-Build }; Invoke-Test }
        'Bench' { if ($Task -notcontains 'Build') { Invoke-Build }; Invoke-Bench }
    }
}
