<#
.SYNOPSIS
    Runs the Pester suite against the built module and ends with "N passed, N failed".
#>
param(
    [Parameter(Mandatory)][string] $PesterPath,
    [Parameter(Mandatory)][string] $ModulePath,
    [string] $Tag,
    # The xunit unit tests' counts (build.ps1 runs them first): one closing line for the whole run.
    [int] $UnitPassed = 0,
    [int] $UnitFailed = 0
)
$ErrorActionPreference = 'Stop'
Import-Module $PesterPath -Force
$env:FSFREEZE_TEST_MODULE = $ModulePath

$config = New-PesterConfiguration
# The example runbook's own Pester tests live beside it in docs/examples/runbook.
$config.Run.Path = @($PSScriptRoot, (Join-Path $PSScriptRoot '../docs/examples/runbook'))
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
# Child pwsh processes write plain text: ANSI escapes in captured stderr make failure messages unreadable.
$env:NO_COLOR = '1'
$PSStyle.OutputRendering = 'PlainText'
if ($Tag) { $config.Filter.Tag = $Tag.Split(',') }

# FsFreeze's state for this run: a directory of its own on a tmpfs, never the host's /run/fsfreeze (a real
# freeze there must not show up in, or be touched by, the tests). Tests that need a private one make their own.
$stateDir = (& mktemp -d /run/fsfreeze-tests.XXXXXX).Trim()
& mount -t tmpfs -o mode=0755,size=16m fsfreeze-tests $stateDir
if ($LASTEXITCODE -ne 0) { throw "Cannot mount a tmpfs for the tests' state directory on $stateDir." }
$env:FSFREEZE_STATE_DIR = $stateDir
try {
    $result = Invoke-Pester -Configuration $config
}
finally {
    if ($env:FSFREEZE_TEST_KEEP_STATE) { Copy-Item -Recurse $stateDir $env:FSFREEZE_TEST_KEEP_STATE }
    & umount $stateDir
    Remove-Item -LiteralPath $stateDir -Force -ErrorAction SilentlyContinue
}

# Containers that failed to run (a broken BeforeAll) count as failures too.
$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount + $UnitFailed
$passed = $result.PassedCount + $UnitPassed
Write-Host ''
Write-Host "$passed passed, $failed failed, $($result.SkippedCount) skipped"
if ($failed -gt 0 -or $result.PassedCount -eq 0) { exit 1 }
exit 0
