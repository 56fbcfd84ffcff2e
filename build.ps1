#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests and packages the FsFreeze module, and runs the consistent-backup demo.
.DESCRIPTION
    Plain tasks, no bootstrap beyond NuGet restore. Every native step is checked: a failing step stops the build.
    FsFreeze.psd1 is the one source of the version.
.EXAMPLE
    ./build.ps1 -Task Test
.EXAMPLE
    ./build.ps1 -Task Demo    # as root: snapshot a busy scratch filesystem with and without Use-FsFreeze
.EXAMPLE
    ./build.ps1 -Task Docs, Package
    Regenerates en-US/ from docs/, then builds out/FsFreeze.<version>.nupkg with that help inside.
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Docs', 'Package', 'Demo', 'Bench')]
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
$BuildStamp = Join-Path $OutDir 'build.stamp'

function Invoke-Checked {
    # Runs a native command and throws when it fails, so no step is swallowed. Plain $args: '-o' is the command's, not ours.
    # Always an array: '$FilePath, $Arguments = $args' gives a string for one argument, which '@' splats by character.
    $FilePath = $args[0]
    $Arguments = @($args | Select-Object -Skip 1)
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
    if (Test-Path $BuildStamp) { Remove-Item $BuildStamp }
    Invoke-Checked dotnet publish (Join-Path $Root 'src/FsFreeze.Module/FsFreeze.Module.csproj') `
        -c $Configuration -o $ModuleDir --nologo -v quiet "-p:Version=$Version"
    # The watchdog: a NativeAOT executable (no runtime to start), published apart and copied in alone
    # (its publish folder also holds debug symbols and a second copy of the Mono.Posix helper it does not use).
    $watchdogOut = Join-Path $OutDir 'watchdog'
    Invoke-Checked dotnet publish (Join-Path $Root 'src/FsFreeze.Watchdog/FsFreeze.Watchdog.csproj') `
        -c $Configuration -o $watchdogOut --nologo -v quiet "-p:Version=$Version"
    Copy-Item (Join-Path $watchdogOut 'fsfreeze-watchdog') $ModuleDir
    Copy-Item (Join-Path $Root 'FsFreeze.psd1') $ModuleDir
    Copy-Item (Join-Path $Root 'src/FsFreeze.Module/FsFreeze.format.ps1xml') $ModuleDir
    $enUs = Join-Path $Root 'en-US'
    if (Test-Path $enUs) { Copy-Item $enUs $ModuleDir -Recurse }
    # pwsh loads neither .deps.json nor .pdb; keep the folder to what it uses.
    Get-ChildItem $ModuleDir -Filter '*.deps.json' | Remove-Item
    foreach ($required in 'FsFreeze.dll', 'FsFreeze.Core.dll', 'Mono.Posix.NETStandard.dll', 'libMonoPosixHelper.so', 'fsfreeze-watchdog') {
        if (-not (Test-Path (Join-Path $ModuleDir $required))) { throw "Build output lacks $required." }
    }
    # Beside the module folder, not in it: when this build finished, for -Task Demo's "build if needed".
    Set-Content -LiteralPath $BuildStamp -Value $Version
    Write-Host "Built FsFreeze $Version into $ModuleDir"
}

function Invoke-UnitTest {
    # The xunit v3 project: the core's pure logic, no root needed, seconds. Its executable is the runner; the counts
    # it prints join the Pester counts in the closing line, and a failure there fails the run like any other.
    $project = Join-Path $Root 'tests/FsFreeze.Core.Tests/FsFreeze.Core.Tests.csproj'
    $outDir = Join-Path $OutDir 'unit'
    Invoke-Checked dotnet build $project -c $Configuration -o $outDir --nologo -v quiet | Out-Host
    $lines = & (Join-Path $outDir 'FsFreeze.Core.Tests') -noColor 2>&1
    $code = $LASTEXITCODE
    $lines | Write-Host
    $summary = $lines | Select-String 'Total: (\d+), Errors: (\d+), Failed: (\d+), Skipped: (\d+), Not Run: (\d+)' | Select-Object -Last 1
    if (-not $summary) { throw "The unit tests printed no summary (exit code $code)." }
    $g = $summary.Matches[0].Groups
    $total, $errors, $failed, $skipped, $notRun = 1..5 | ForEach-Object { [int]$g[$_].Value }
    # A skipped or not-run unit test counts as failed: none of them depends on the machine.
    $bad = $errors + $failed + $skipped + $notRun
    if ($code -ne 0 -and $bad -eq 0) { $bad = 1 }
    [pscustomobject]@{ Passed = $total - $failed - $skipped - $notRun; Failed = $bad }
}

function Invoke-Test {
    $unit = if (-not $Tag -or $Tag -contains 'Unit') { Invoke-UnitTest } else { [pscustomobject]@{ Passed = 0; Failed = 0 } }
    Invoke-Checked dotnet restore (Join-Path $Root 'tests/TestDependencies.csproj') --nologo -v quiet
    $pester = Join-Path (Get-NuGetPackagesFolder) 'pester/5.7.1/tools/Pester.psd1'
    if (-not (Test-Path $pester)) { throw "Pester was not restored: $pester is missing." }
    # $PSHOME/pwsh is the apphost both in an installed pwsh and in the dotnet tool (where the process is dotnet).
    $pwsh = Join-Path $PSHOME 'pwsh'
    $runner = Join-Path $Root 'tests/Invoke-Tests.ps1'
    $runnerArgs = @('-NoProfile', '-NonInteractive', '-File', $runner, '-PesterPath', $pester, '-ModulePath', $ModuleDir,
        '-UnitPassed', $unit.Passed, '-UnitFailed', $unit.Failed)
    if ($Tag) { $runnerArgs += @('-Tag', ($Tag -join ',')) }
    # A child pwsh, so the tests import the module fresh and a crash there cannot take the build down with it.
    Invoke-Checked $pwsh @runnerArgs
}

function Test-BuildCurrent {
    # True when the last complete build is newer than every source it is built from. A stamp, not the dll's
    # time: MSBuild leaves FsFreeze.dll alone when only a method body in the core changed.
    if (-not (Test-Path $BuildStamp) -or -not (Test-Path (Join-Path $ModuleDir 'FsFreeze.dll'))) { return $false }
    $built = (Get-Item $BuildStamp).LastWriteTimeUtc
    $sources = @(Get-ChildItem (Join-Path $Root 'src') -Recurse -File -Include '*.cs', '*.csproj', '*.ps1xml') + @(Get-Item (Join-Path $Root 'FsFreeze.psd1'))
    -not ($sources | Where-Object LastWriteTimeUtc -GT $built)
}

function Invoke-Demo {
    # In this process, so Ctrl+C reaches the demo's own cleanup (thaw, stop the writer, unmount, detach) and no
    # parent can kill it halfway through. A stopped script returns here as if it ended well: exit 130 then.
    $returned = $false
    try {
        & (Join-Path $Root 'src/Demo/Invoke-BackupDemo.ps1') -ModulePath $ModuleDir
        $returned = $true
    }
    catch {
        $returned = $true   # an error, not an interruption
        throw
    }
    finally {
        if (-not $returned) { exit 130 }
    }
    # Pass the demo's own code on (1: the frozen snapshot was not consistent; 2: the demo could not run).
    if ($LASTEXITCODE -ne 0) { Write-Host "The demo failed with exit code $LASTEXITCODE." -ForegroundColor Red; exit $LASTEXITCODE }
}

function Invoke-Docs {
    # docs/*.md (platyPS format) -> en-US/ MAML and about_*.help.txt. platyPS when installed; else the build's own
    # generator, since no registry this project reaches serves platyPS. en-US/ is committed; Build copies it.
    $docs = Join-Path $Root 'docs'
    $enUs = Join-Path $Root 'en-US'
    if (Test-Path $enUs) { Remove-Item $enUs -Recurse -Force }
    & (Join-Path $Root 'src/HelpGen/Build-Help.ps1') -DocsPath $docs -OutPath $enUs
    foreach ($required in 'FsFreeze.dll-Help.xml', 'about_FsFreeze.help.txt') {
        if (-not (Test-Path (Join-Path $enUs $required))) { throw "Docs output lacks en-US/$required." }
    }
}

function Invoke-Bench {
    # The writer the stall benchmarks watch is a small .NET program of its own, built beside the results.
    $benchDir = Join-Path $OutDir 'bench'
    $writerDir = Join-Path $benchDir 'StallWriter'
    Invoke-Checked dotnet publish (Join-Path $Root 'tests/Benchmarks/StallWriter/StallWriter.csproj') -c Release -o $writerDir --nologo -v quiet
    # The raw ioctl pair the kernel-window section compares every method with: plain C, nothing between the ioctls.
    $rawPair = Join-Path $benchDir 'rawpair'
    New-Item -ItemType Directory -Force -Path $benchDir | Out-Null
    Invoke-Checked gcc -O2 -Wall -Wextra -o $rawPair (Join-Path $Root 'tests/Benchmarks/RawPair/rawpair.c')
    $pwsh = Join-Path $PSHOME 'pwsh'
    $benchArgs = @('-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'tests/Benchmarks/Invoke-Benchmark.ps1'),
        '-ModulePath', $ModuleDir, '-WriterPath', (Join-Path $writerDir 'StallWriter'), '-OutDir', $benchDir, '-RawPairPath', $rawPair)
    if ($Quick) { $benchArgs += '-Quick' }
    # A child pwsh: the module is imported fresh, as a user would.
    Invoke-Checked $pwsh @benchArgs
}

function Invoke-Package {
    # A PSResourceGet nupkg of the built module folder; the version comes from the manifest inside it.
    $nupkg = Join-Path $OutDir "FsFreeze.$Version.nupkg"
    if (Test-Path $nupkg) { Remove-Item $nupkg -Force }
    Compress-PSResource -Path $ModuleDir -DestinationPath $OutDir
    if (-not (Test-Path $nupkg)) { throw "Compress-PSResource did not produce $nupkg." }
    Write-Host "Packaged $nupkg"
}

# Docs before Build (Build copies en-US), Build before Package, and Test takes the package too (Package.Tests installs
# it), whatever order the tasks were named in.
if ($Task -contains 'Docs') { Invoke-Docs }
if ($Task -contains 'Build' -or $Task -contains 'Test' -or $Task -contains 'Package' -or $Task -contains 'Bench') { Invoke-Build }
elseif ($Task -contains 'Demo' -and -not (Test-BuildCurrent)) { Invoke-Build }
if ($Task -contains 'Package' -or $Task -contains 'Test') { Invoke-Package }
if ($Task -contains 'Test') { Invoke-Test }
if ($Task -contains 'Bench') { Invoke-Bench }
if ($Task -contains 'Demo') { Invoke-Demo }
