<#
.SYNOPSIS
    docs/*.md (platyPS format) -> MAML and about_*.help.txt in one folder: platyPS when it is installed, else
    New-HelpFiles.ps1 beside this script. build.ps1 -Task Docs and the freshness test both come through here,
    so they always agree on the generator.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string] $DocsPath,
    [Parameter(Mandatory)][string] $OutPath
)
$ErrorActionPreference = 'Stop'
$platy = Get-Module -ListAvailable platyPS | Sort-Object Version -Descending | Select-Object -First 1
if ($platy) {
    Import-Module $platy
    # The pages only, by name: docs/examples/ holds READMEs that are not help.
    New-ExternalHelp -Path (Get-ChildItem -LiteralPath $DocsPath -Filter '*.md' -File).FullName -OutputPath $OutPath -Force | Out-Null
}
else {
    & (Join-Path $PSScriptRoot 'New-HelpFiles.ps1') -DocsPath $DocsPath -OutPath $OutPath -HelpFileName 'FsFreeze.dll-Help.xml'
}
