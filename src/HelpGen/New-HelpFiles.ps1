<#
.SYNOPSIS
    Generates MAML help (<Module>.dll-Help.xml) and about_*.help.txt from platyPS-format markdown.
.DESCRIPTION
    The build's own stand-in for platyPS, which no registry this project can reach serves. It reads the
    subset of the platyPS 2.0.0 schema that docs/ uses: SYNOPSIS, SYNTAX, DESCRIPTION, EXAMPLES (### title,
    code fences, remarks), PARAMETERS (### -Name, text, ```yaml block), INPUTS/OUTPUTS (### type, text),
    NOTES, RELATED LINKS. Markdown it does not understand makes it throw rather than drop help silently.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string] $DocsPath,
    [Parameter(Mandatory)][string] $OutPath,
    [Parameter(Mandatory)][string] $HelpFileName
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

function Split-Sections([string[]] $Lines, [string] $Marker) {
    # Ordered map of heading -> body lines, for headings that start with $Marker ('## ' or '### ').
    $sections = [ordered]@{}
    $current = $null
    $inFence = $false
    foreach ($line in $Lines) {
        if ($line.StartsWith('```')) { $inFence = -not $inFence }
        if (-not $inFence -and $line.StartsWith($Marker)) {
            $current = $line.Substring($Marker.Length).Trim()
            $sections[$current] = [Collections.Generic.List[string]]::new()
        }
        elseif ($null -ne $current) { $sections[$current].Add($line) }
    }
    $sections
}

function Get-Paragraphs([string[]] $Lines) {
    # Blank-line separated paragraphs, joined into single lines (Get-Help re-wraps them); fences kept verbatim.
    $paras = [Collections.Generic.List[string]]::new()
    $buf = [Collections.Generic.List[string]]::new()
    $inFence = $false
    foreach ($line in $Lines) {
        if ($line.StartsWith('```')) { $inFence = -not $inFence; continue }
        if ($inFence) { $buf.Add($line); continue }
        if ($line.Trim() -eq '') {
            if ($buf.Count) { $paras.Add(($buf -join ' ')); $buf.Clear() }
        }
        else { $buf.Add($line.Trim()) }
    }
    if ($buf.Count) { $paras.Add(($buf -join ' ')) }
    , $paras
}

function Get-Fences([string[]] $Lines) {
    # The code fences in $Lines: language and text.
    $fences = @()
    $lang = $null; $body = $null
    foreach ($line in $Lines) {
        if ($line.StartsWith('```')) {
            if ($null -eq $body) { $lang = $line.Substring(3).Trim(); $body = [Collections.Generic.List[string]]::new() }
            else { $fences += [pscustomobject]@{ Language = $lang; Text = ($body -join "`n") }; $body = $null }
        }
        elseif ($null -ne $body) { $body.Add($line) }
    }
    $fences
}

function Get-TextOutsideFences([string[]] $Lines) {
    $inFence = $false
    foreach ($line in $Lines) {
        if ($line.StartsWith('```')) { $inFence = -not $inFence; continue }
        if (-not $inFence) { $line }
    }
}

function ConvertFrom-ParameterYaml([string] $Text) {
    $map = @{}
    foreach ($line in $Text -split "`n") {
        if ($line -match '^([A-Za-z ]+):\s*(.*)$') { $map[$Matches[1].Trim()] = $Matches[2].Trim() }
    }
    foreach ($key in 'Type', 'Parameter Sets', 'Required', 'Position', 'Default value', 'Accept pipeline input') {
        if (-not $map.ContainsKey($key)) { throw "Parameter yaml lacks '$key':`n$Text" }
    }
    $map
}

function Read-CommandPage([string] $File) {
    $lines = Get-Content -LiteralPath $File
    $title = $lines | Where-Object { $_ -match '^# ' } | Select-Object -First 1
    if (-not $title) { throw "$File has no '# Name' title." }
    $name = $title.Substring(2).Trim()
    $s = Split-Sections $lines '## '
    foreach ($required in 'SYNOPSIS', 'SYNTAX', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS', 'INPUTS', 'OUTPUTS', 'NOTES') {
        if (-not $s.Contains($required)) { throw "$File lacks the '## $required' section." }
    }
    $parameters = foreach ($entry in (Split-Sections $s['PARAMETERS'] '### ').GetEnumerator()) {
        if ($entry.Key -eq 'CommonParameters') { continue }
        if (-not $entry.Key.StartsWith('-')) { throw "$File has a parameter heading without '-': $($entry.Key)" }
        $yaml = Get-Fences $entry.Value | Where-Object Language -EQ 'yaml' | Select-Object -First 1
        if (-not $yaml) { throw "$File, $($entry.Key): no yaml block." }
        [pscustomobject]@{
            Name        = $entry.Key.Substring(1)
            Description = Get-Paragraphs (Get-TextOutsideFences $entry.Value)
            Meta        = ConvertFrom-ParameterYaml $yaml.Text
        }
    }
    $examples = foreach ($entry in (Split-Sections $s['EXAMPLES'] '### ').GetEnumerator()) {
        $fences = @(Get-Fences $entry.Value)
        if (-not $fences) { throw "$File, example '$($entry.Key)': no code." }
        [pscustomobject]@{
            Title   = $entry.Key
            Code    = $fences[0].Text
            # Sample output fences are part of the remarks, verbatim, as platyPS does.
            Remarks = @(($fences | Select-Object -Skip 1 | ForEach-Object Text)) + @(Get-Paragraphs (Get-TextOutsideFences $entry.Value))
        }
    }
    $typed = {
        param($body)
        foreach ($entry in (Split-Sections $body '### ').GetEnumerator()) {
            [pscustomobject]@{ Type = $entry.Key; Description = Get-Paragraphs $entry.Value }
        }
    }
    $syntaxSets = Split-Sections $s['SYNTAX'] '### '
    if ($syntaxSets.Count -eq 0) { $syntaxSets = @{ '(All)' = $s['SYNTAX'] } }
    [pscustomobject]@{
        Name        = $name
        Synopsis    = (Get-Paragraphs $s['SYNOPSIS']) -join ' '
        Description = Get-Paragraphs $s['DESCRIPTION']
        SyntaxSets  = @($syntaxSets.Keys)
        Parameters  = @($parameters)
        Examples    = @($examples)
        Inputs      = @(& $typed $s['INPUTS'])
        Outputs     = @(& $typed $s['OUTPUTS'])
        Notes       = Get-Paragraphs $s['NOTES']
        Links       = @(if ($s.Contains('RELATED LINKS')) {
                foreach ($m in [regex]::Matches(($s['RELATED LINKS'] -join "`n"), '\[([^\]]+)\]\(([^)]*)\)')) {
                    [pscustomobject]@{ Text = $m.Groups[1].Value; Uri = if ($m.Groups[2].Value -match '^https?:') { $m.Groups[2].Value } else { '' } }
                }
            })
    }
}

$ns = [ordered]@{
    maml    = 'http://schemas.microsoft.com/maml/2004/10'
    command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    dev     = 'http://schemas.microsoft.com/maml/dev/2004/10'
}

function Write-Paras([Xml.XmlWriter] $W, $Paras) {
    foreach ($p in $Paras) { $W.WriteElementString('maml', 'para', $ns.maml, $p) }
}

function Write-ParameterElement([Xml.XmlWriter] $W, $P, [bool] $ForSyntax) {
    $m = $P.Meta
    $isSwitch = $m.Type -eq 'SwitchParameter'
    $W.WriteStartElement('command', 'parameter', $ns.command)
    $W.WriteAttributeString('required', $m.Required.ToLowerInvariant())
    $W.WriteAttributeString('variableLength', ($m.Type.EndsWith('[]')).ToString().ToLowerInvariant())
    $W.WriteAttributeString('globbing', 'false')
    $W.WriteAttributeString('pipelineInput', $m['Accept pipeline input'])
    $W.WriteAttributeString('position', $(if ($m.Position -eq 'Named') { 'named' } else { $m.Position }))
    $W.WriteAttributeString('aliases', $(if ($m['Aliases']) { $m['Aliases'] } else { 'none' }))
    $W.WriteElementString('maml', 'name', $ns.maml, $P.Name)
    $W.WriteStartElement('maml', 'description', $ns.maml); Write-Paras $W $P.Description; $W.WriteEndElement()
    if (-not $isSwitch) {
        $W.WriteStartElement('command', 'parameterValue', $ns.command)
        $W.WriteAttributeString('required', 'true')
        $W.WriteAttributeString('variableLength', ($m.Type.EndsWith('[]')).ToString().ToLowerInvariant())
        $W.WriteString($m.Type)
        $W.WriteEndElement()
    }
    if (-not $ForSyntax) {
        $W.WriteStartElement('dev', 'type', $ns.dev); $W.WriteElementString('maml', 'name', $ns.maml, $m.Type); $W.WriteEndElement()
        $W.WriteElementString('dev', 'defaultValue', $ns.dev, $m['Default value'])
    }
    $W.WriteEndElement()
}

function Write-Command([Xml.XmlWriter] $W, $C) {
    $verb, $noun = $C.Name -split '-', 2
    $W.WriteStartElement('command', 'command', $ns.command)
    $W.WriteStartElement('command', 'details', $ns.command)
    $W.WriteElementString('command', 'name', $ns.command, $C.Name)
    $W.WriteElementString('command', 'verb', $ns.command, $verb)
    $W.WriteElementString('command', 'noun', $ns.command, $noun)
    $W.WriteStartElement('maml', 'description', $ns.maml); Write-Paras $W @($C.Synopsis); $W.WriteEndElement()
    $W.WriteEndElement()
    $W.WriteStartElement('maml', 'description', $ns.maml); Write-Paras $W $C.Description; $W.WriteEndElement()

    $W.WriteStartElement('command', 'syntax', $ns.command)
    foreach ($set in $C.SyntaxSets) {
        $W.WriteStartElement('command', 'syntaxItem', $ns.command)
        $W.WriteElementString('maml', 'name', $ns.maml, $C.Name)
        $inSet = $C.Parameters | Where-Object { $sets = $_.Meta['Parameter Sets']; $sets -eq '(All)' -or $set -eq '(All)' -or ($sets -split ',\s*') -contains $set }
        foreach ($p in $inSet) { Write-ParameterElement $W $p $true }
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'parameters', $ns.command)
    foreach ($p in $C.Parameters) { Write-ParameterElement $W $p $false }
    $W.WriteEndElement()

    foreach ($kind in @(@('inputTypes', 'inputType', $C.Inputs), @('returnValues', 'returnValue', $C.Outputs))) {
        $W.WriteStartElement('command', $kind[0], $ns.command)
        foreach ($t in $kind[2]) {
            $W.WriteStartElement('command', $kind[1], $ns.command)
            $W.WriteStartElement('dev', 'type', $ns.dev); $W.WriteElementString('maml', 'name', $ns.maml, $t.Type); $W.WriteEndElement()
            $W.WriteStartElement('maml', 'description', $ns.maml); Write-Paras $W $t.Description; $W.WriteEndElement()
            $W.WriteEndElement()
        }
        $W.WriteEndElement()
    }

    $W.WriteStartElement('maml', 'alertSet', $ns.maml)
    $W.WriteStartElement('maml', 'alert', $ns.maml); Write-Paras $W $C.Notes; $W.WriteEndElement()
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'examples', $ns.command)
    foreach ($e in $C.Examples) {
        $W.WriteStartElement('command', 'example', $ns.command)
        $W.WriteElementString('maml', 'title', $ns.maml, "-------------------------- $($e.Title) --------------------------")
        $W.WriteElementString('dev', 'code', $ns.dev, $e.Code)
        $W.WriteStartElement('dev', 'remarks', $ns.dev); Write-Paras $W $e.Remarks; $W.WriteEndElement()
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'relatedLinks', $ns.command)
    foreach ($l in $C.Links) {
        $W.WriteStartElement('maml', 'navigationLink', $ns.maml)
        $W.WriteElementString('maml', 'linkText', $ns.maml, $l.Text)
        $W.WriteElementString('maml', 'uri', $ns.maml, $l.Uri)
        $W.WriteEndElement()
    }
    $W.WriteEndElement()
    $W.WriteEndElement()
}

function ConvertTo-AboutText([string] $File) {
    # platyPS's about format: headings become upper-case lines, text is indented by four.
    $out = [Text.StringBuilder]::new()
    $inFence = $false
    foreach ($line in Get-Content -LiteralPath $File) {
        if ($line.StartsWith('```')) { $inFence = -not $inFence; continue }
        if (-not $inFence -and $line -match '^# (.+)$') { [void]$out.AppendLine('TOPIC').AppendLine("    $($Matches[1])").AppendLine() }
        elseif (-not $inFence -and $line -match '^#{2,} (.+)$') { [void]$out.AppendLine($Matches[1].ToUpperInvariant()) }
        elseif ($line.Trim() -eq '') { [void]$out.AppendLine() }
        else { [void]$out.AppendLine("    $line") }
    }
    $out.ToString()
}

New-Item -ItemType Directory -Path $OutPath -Force | Out-Null
$pages = Get-ChildItem -LiteralPath $DocsPath -Filter '*.md' -File | Sort-Object Name
$commands = @($pages | Where-Object { $_.BaseName -notlike 'about_*' } | ForEach-Object { Read-CommandPage $_.FullName })

$settings = [Xml.XmlWriterSettings]@{ Indent = $true; Encoding = [Text.UTF8Encoding]::new($false) }
$mamlPath = Join-Path $OutPath $HelpFileName
$w = [Xml.XmlWriter]::Create($mamlPath, $settings)
try {
    $w.WriteStartDocument()
    $w.WriteStartElement('helpItems'); $w.WriteAttributeString('schema', 'maml')
    foreach ($prefix in $ns.Keys) { $w.WriteAttributeString('xmlns', $prefix, $null, $ns[$prefix]) }
    foreach ($c in $commands) { Write-Command $w $c }
    $w.WriteEndElement()
    $w.WriteEndDocument()
}
finally { $w.Dispose() }
Write-Host "Wrote $mamlPath ($($commands.Count) commands)"

foreach ($about in $pages | Where-Object { $_.BaseName -like 'about_*' }) {
    $target = Join-Path $OutPath "$($about.BaseName).help.txt"
    [IO.File]::WriteAllText($target, (ConvertTo-AboutText $about.FullName), [Text.UTF8Encoding]::new($false))
    Write-Host "Wrote $target"
}
