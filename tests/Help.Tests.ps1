#Requires -Modules Pester
# Help (docs/ against the real cmdlets, Get-Help in a child pwsh), tab completion of -Path, table views, JSON and exit codes.

BeforeDiscovery {
    $DocPages = Get-ChildItem (Join-Path $PSScriptRoot '../docs') -Filter '*-*.md' | ForEach-Object BaseName
}

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    $RepoRoot = Resolve-Path (Join-Path $PSScriptRoot '..')
    $DocsDir = Join-Path $RepoRoot 'docs'

    function Read-DocParameters([string] $Name) {
        # The '### -Name' entries under '## PARAMETERS' and their yaml, read independently of the help generator.
        $text = Get-Content -Raw (Join-Path $DocsDir "$Name.md")
        $params = $text.Substring($text.IndexOf("`n## PARAMETERS") + 1) -split "`n## " | Select-Object -First 1
        foreach ($m in [regex]::Matches($params, '(?ms)^### -(\w+)\s*$.*?```yaml\s*$(.*?)^```')) {
            $yaml = @{}
            foreach ($line in $m.Groups[2].Value -split "`n") { if ($line -match '^([A-Za-z ]+):\s*(.*)$') { $yaml[$Matches[1]] = $Matches[2].Trim() } }
            [pscustomobject]@{ Name = $m.Groups[1].Value; Type = $yaml['Type']; Sets = $yaml['Parameter Sets']; Required = $yaml['Required']; Position = $yaml['Position'] }
        }
    }

    function Read-DocSyntaxNames([string] $Name) {
        $text = Get-Content -Raw (Join-Path $DocsDir "$Name.md")
        $syntax = ($text -split "`n## SYNTAX")[1] -split "`n## " | Select-Object -First 1
        [regex]::Matches($syntax, '(?<=[\[\s])-(\w+)') | ForEach-Object { $_.Groups[1].Value } | Sort-Object -Unique
    }

    function Get-RealParameters([string] $Name) {
        # What Get-Help should show: everything but the common parameters and DontShow (hidden) ones.
        $cmd = Get-Command $Name -ErrorAction Stop
        foreach ($p in $cmd.Parameters.Values) {
            if ([System.Management.Automation.PSCmdlet]::CommonParameters -contains $p.Name) { continue }
            if ($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and $_.DontShow }) { continue }
            $sets = @($p.ParameterSets.Keys | Sort-Object)
            $first = $p.ParameterSets[$sets[0]]
            [pscustomobject]@{
                Name     = $p.Name
                Type     = $p.ParameterType.Name
                Sets     = if ($sets -eq @('__AllParameterSets')) { '(All)' } else { $sets -join ', ' }
                Required = [string]$first.IsMandatory
                Position = if ($first.Position -lt 0) { 'Named' } else { [string]$first.Position }
            }
        }
    }
}

Describe 'docs/ matches the real cmdlets' -Tag 'Help' {
    It 'has a docs page for every exported cmdlet' {
        $exported = (Get-Module FsFreeze).ExportedCmdlets.Keys
        $exported | Should -Not -BeNullOrEmpty
        foreach ($name in $exported) { Join-Path $DocsDir "$name.md" | Should -Exist -Because "$name is exported" }
    }

    # Until the timeout branch is merged, this fails for Invoke-FsFreeze and Use-FsFreeze (-TimeoutSec) and for
    # Reset-FsFreezeTimeout and Get-FsFreezeStatus (no such cmdlet yet): the docs follow the agreed spec.
    It '<_>: documented parameters are the real ones, with their type, sets, position and Required' -ForEach $DocPages {
        $doc = @(Read-DocParameters $_ | Sort-Object Name)
        $real = @(Get-RealParameters $_ | Sort-Object Name)
        $doc.Count | Should -BeGreaterThan 0
        foreach ($d in $doc) {
            $r = $real | Where-Object Name -EQ $d.Name
            if (-not $r) { continue }   # reported by the name comparison below, after the details of the others
            "$($d.Name): $($d.Type) sets=$($d.Sets) required=$($d.Required) position=$($d.Position)" |
                Should -Be "$($r.Name): $($r.Type) sets=$($r.Sets) required=$($r.Required) position=$($r.Position)"
        }
        ($doc.Name -join ', ') | Should -Be ($real.Name -join ', ') -Because "docs/$_.md documents these (Expected: the real cmdlet's)"
        (Read-DocSyntaxNames $_) -join ', ' | Should -Be (($real.Name | Sort-Object) -join ', ') -Because 'the SYNTAX block names every parameter'
    }

    It 'en-US/ is what build.ps1 -Task Docs makes from docs/ today' {
        $fresh = Join-Path ([IO.Path]::GetTempPath()) "fsfreeze-help-$([guid]::NewGuid().ToString('N'))"
        try {
            & (Join-Path $RepoRoot 'src/HelpGen/Build-Help.ps1') -DocsPath $DocsDir -OutPath $fresh 6>$null
            # Every about topic the generator made (about_FsFreeze, about_FsFreezeFleet), not a fixed list.
            $abouts = @(Get-ChildItem -LiteralPath $fresh -Filter 'about_*.help.txt' | ForEach-Object Name)
            $abouts | Should -Contain 'about_FsFreezeFleet.help.txt'
            foreach ($file in @('FsFreeze.dll-Help.xml') + $abouts) {
                Get-Content -Raw (Join-Path $fresh $file) | Should -BeExactly (Get-Content -Raw (Join-Path $RepoRoot "en-US/$file")) -Because "en-US/$file must be regenerated (build.ps1 -Task Docs) and committed"
            }
        }
        finally { Remove-Item $fresh -Recurse -Force -ErrorAction SilentlyContinue }
    }

    It 'the generator refuses a page without a required section instead of dropping help' {
        $dir = Join-Path ([IO.Path]::GetTempPath()) "fsfreeze-help-$([guid]::NewGuid().ToString('N'))"
        New-Item -ItemType Directory $dir | Out-Null
        try {
            Set-Content (Join-Path $dir 'Get-Thing.md') "# Get-Thing`n`n## SYNOPSIS`nGets.`n`n## SYNTAX`n`n``````n Get-Thing`n``````n"
            { & (Join-Path $RepoRoot 'src/HelpGen/New-HelpFiles.ps1') -DocsPath $dir -OutPath (Join-Path $dir 'out') -HelpFileName 'x.xml' 6>$null } |
                Should -Throw '*lacks the ''## DESCRIPTION'' section*'
        }
        finally { Remove-Item $dir -Recurse -Force }
    }
}

Describe 'Get-Help in a fresh pwsh' -Tag 'Help' {
    BeforeAll {
        # One child pwsh renders every page: the module is imported by path, as a user would after building it.
        $script = {
            param($ModulePath, $Names)
            Import-Module (Join-Path $ModulePath 'FsFreeze.psd1')
            $pages = @{}
            foreach ($n in $Names) {
                $pages[$n] = try { Get-Help $n -Full -ErrorAction Stop | Out-String -Width 400 } catch { "ERROR: $_" }
            }
            $pages['about_FsFreeze'] = Get-Help about_FsFreeze | Out-String -Width 400
            $pages['about_FsFreezeFleet'] = Get-Help about_FsFreezeFleet | Out-String -Width 400
            $pages | ConvertTo-Json -Compress
        }
        $names = Get-ChildItem $DocsDir -Filter '*-*.md' | ForEach-Object BaseName
        $json = & (Get-PwshPath) -NoProfile -NonInteractive -Command "& { $script } '$env:FSFREEZE_TEST_MODULE' @('$($names -join "','")')"
        $LASTEXITCODE | Should -Be 0
        $Rendered = $json | ConvertFrom-Json -AsHashtable
    }

    It '<_>: -Full shows synopsis, description, every parameter, examples, inputs, outputs and notes' -ForEach $DocPages {
        $page = $Rendered[$_]
        $md = Get-Content -Raw (Join-Path $DocsDir "$_.md")
        $synopsis = (($md -split "## SYNOPSIS\s*`n")[1] -split "`n")[0].Trim()
        $page | Should -Not -BeLike 'ERROR:*'
        $page | Should -Match ('SYNOPSIS\s+' + [regex]::Escape($synopsis.Substring(0, 40)))
        foreach ($section in 'DESCRIPTION', 'PARAMETERS', 'INPUTS', 'OUTPUTS', 'NOTES', 'Example 1', 'Example 2', 'RELATED LINKS') {
            $page | Should -Match ([regex]::Escape($section))
        }
        foreach ($p in Read-DocParameters $_) { $page | Should -Match ('-' + $p.Name + '\b') }
        $outputType = [regex]::Match($md, '(?ms)^## OUTPUTS\s*^### (\S+)').Groups[1].Value
        $page | Should -Match ('OUTPUTS\s+' + [regex]::Escape($outputType))
        $page | Should -Not -Match 'NOTES\s+RELATED LINKS' -Because 'the notes are not empty'
    }

    It 'Get-Help about_FsFreeze works after Import-Module and covers the recipe, the timeout, / and the errors' {
        $about = $Rendered['about_FsFreeze']
        $about | Should -Match 'TOPIC\s+about_FsFreeze'
        foreach ($topic in 'THE CONSISTENT-BACKUP RECIPE', 'THE TIMEOUT, AND WHY IT EXISTS', 'WHAT FREEZING / DOES', 'ERRORS AND WHAT TO DO', 'FsFreeze.ThawedByTimeout', 'ConvertTo-Json -EnumsAsStrings') {
            $about | Should -Match ([regex]::Escape($topic))
        }
    }
}

Describe 'Get-Help about_FsFreezeFleet' -Tag 'Help', 'Fleet' {
    It 'works after Import-Module and covers the lease, what it cannot do, and the recipe for each engine' {
        $about = (& (Get-PwshPath) -NoProfile -NonInteractive -Command "Import-Module '$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1'; Get-Help about_FsFreezeFleet | Out-String -Width 400") -join "`n"
        $about | Should -Match 'TOPIC\s+about_FsFreezeFleet'
        foreach ($topic in 'THE LEASE: WHAT IT PROTECTS AGAINST, AND WHAT IT CANNOT', 'RECIPE: POWERSHELL REMOTING OVER SSH', 'RECIPE: ANSIBLE',
            'Use-FsFreezeFleet', 'FsFreeze.FleetInconsistent', 'Subsystem powershell', 'fleet_snapshot.yml', 'outlives') {
            $about | Should -Match ([regex]::Escape($topic))
        }
    }
}

Describe 'Tab completion of -Path' -Tag 'Help' {
    It 'offers block filesystems, skips kernel views, tmpfs, overlay and FUSE, and quotes spaces' {
        $mountinfo = @(
            '22 1 0:21 / /proc rw,nosuid - proc proc rw'
            '23 1 0:22 / /sys rw - sysfs sysfs rw'
            '24 1 254:0 / / rw,relatime - ext4 /dev/vda rw'
            '25 24 0:23 / /run rw - tmpfs tmpfs rw'
            '26 24 7:3 / /srv/with\040space rw - xfs /dev/loop3 rw'
            '27 24 0:50 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw'
            '28 24 0:51 / /home/me/remote rw - fuse.sshfs me@host: rw'
            '29 24 7:4 / /srv/ro ro,relatime - btrfs /dev/loop4 ro'
        ) -join "`n"
        $table = [FsFreeze.MountTable]::Parse($mountinfo)
        $all = [FsFreeze.Commands.MountPointCompleter]::Complete($table, '')
        $all.ListItemText | Should -Be @('/', '/srv/ro', '/srv/with space')
        $all.CompletionText | Should -Be @('/', '/srv/ro', "'/srv/with space'")
        ($all | Where-Object ListItemText -EQ '/srv/ro').ToolTip | Should -BeLike '*btrfs on /dev/loop4*read-only*'

        ([FsFreeze.Commands.MountPointCompleter]::Complete($table, '/srv/w')).ListItemText | Should -Be '/srv/with space'
        ([FsFreeze.Commands.MountPointCompleter]::Complete($table, "'/srv/w")).ListItemText | Should -Be '/srv/with space' -Because 'a word the user started quoting still matches'
        [FsFreeze.Commands.MountPointCompleter]::Complete($table, '/nothing') | Should -BeNullOrEmpty
    }

    Context 'on this machine''s mount table' {
        BeforeAll {
            $ext4 = New-LoopFilesystem -Type ext4 -MountName 'with space'
            $tmpfs = New-LoopFilesystem -Type tmpfs -MountName 'scratch' -Under $ext4.Root
        }
        AfterAll {
            Remove-LoopFilesystem $tmpfs
            Remove-LoopFilesystem $ext4
        }

        It 'offers a mounted ext4 loop filesystem and not a tmpfs beside it' {
            $completer = [FsFreeze.Commands.MountPointCompleter]::new()
            $results = $completer.CompleteArgument('Invoke-FsFreeze', 'Path', $ext4.Root, $null, @{})
            $results.ListItemText | Should -Contain $ext4.MountPoint
            $results.ListItemText | Should -Not -Contain $tmpfs.MountPoint
            ($results | Where-Object ListItemText -EQ $ext4.MountPoint).CompletionText | Should -Be "'$($ext4.MountPoint)'"
        }

        # Needs [ArgumentCompleter([MountPointCompleter])] on -Path of each cmdlet: without it, plain file completion
        # offers the tmpfs directory too, and this fails (no -Skip guard: a missing completer is the regression).
        It 'TabExpansion2 completes -Path of <_> with the completer' -ForEach 'Invoke-FsFreeze', 'Use-FsFreeze', 'Invoke-FsThaw', 'Get-FsFreezeStatus', 'Reset-FsFreezeTimeout' {
            $line = "$_ -Path '$($ext4.Root)/"
            $found = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches
            $found.ListItemText | Should -Contain $ext4.MountPoint
            $found.ListItemText | Should -Not -Contain $tmpfs.MountPoint
        }
    }
}

Describe 'Table views fit 80 columns' -Tag 'Help' {
    It '<Type> shows every column at width 80' -ForEach @(
        @{ Type = 'FrozenFilesystem'; Headers = 'MountPoint', 'Type', 'Source', 'FrozenAt', 'FreezeMs', 'Deadline'
            Object = { [FsFreeze.FrozenFilesystem]@{ MountPoint = '/srv/data/postgres'; FileSystemType = 'btrfs'; Source = '/dev/mapper/vg0-data'; Device = '253:1'; FrozenAt = [datetime]::Now; FreezeTime = [timespan]::FromMilliseconds(412.5); Deadline = [datetime]::Now.AddSeconds(60) } } }
        @{ Type = 'FleetHostFreeze'; Headers = 'ComputerName', 'State', 'Held', 'FrozenAt', 'ThawedAt', 'FrozenFor'
            Object = { [FsFreeze.FleetHostFreeze]@{ ComputerName = '/srv/data/postgres'; State = 'ThawedElsewhere'; HeldThroughScriptBlock = $true; FrozenAt = [datetime]::Now.AddSeconds(-12); ThawedAt = [datetime]::Now; Renewals = 2 } } }
        @{ Type = 'ThawedFilesystem'; Headers = 'MountPoint', 'Type', 'State', 'ThawedAt', 'FrozenFor'
            Object = { [FsFreeze.ThawedFilesystem]@{ MountPoint = '/srv/data/postgres'; FileSystemType = 'btrfs'; Source = '/dev/loop3'; State = 'ThawedByTimeout'; FrozenAt = [datetime]::Now.AddSeconds(-60); ThawedAt = [datetime]::Now } } }
    ) {
        $lines = (& $Object) | Format-Table | Out-String -Width 80 -Stream | Where-Object { $_.Trim() }
        ($lines[0] -split '\s+' | Where-Object { $_ }) | Should -Be $Headers
        $lines[2] | Should -Match '/srv/data/postgres'
        $lines | ForEach-Object { $_.TrimEnd().Length | Should -BeLessOrEqual 80 }
    }
}

Describe 'JSON and exit codes for automation' -Tag 'Help', 'Json' {
    Context 'a failed freeze under -Command with ErrorActionPreference Stop' {
        BeforeAll { $tmpfs = New-LoopFilesystem -Type tmpfs }
        AfterAll { Remove-LoopFilesystem $tmpfs }

        It 'exits with code 1 (the README''s promise), prints no JSON, and its message on stderr: <Case>' -ForEach @(
            @{ Case = 'a missing path'; Target = '/missing'; Id = 'FsFreeze.PathNotFound'; Message = "Cannot find path '/missing'" }
            @{ Case = 'a tmpfs'; Target = 'TMPFS'; Id = 'FsFreeze.NotSupported'; Message = 'cannot be frozen' }
        ) {
            $path = if ($Target -eq 'TMPFS') { $tmpfs.MountPoint } else { $Target }
            # As the README and about_FsFreeze show it, and once more with NormalView, where stderr carries the error id.
            foreach ($view in 'ConciseView', 'NormalView') {
                $r = Invoke-ChildPwsh -Environment @{ P = $path; V = $view } -Command @'
$ErrorActionPreference = 'Stop'
$ErrorView = $env:V
Import-Module "$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1"
Invoke-FsFreeze -Path $env:P | ConvertTo-Json -EnumsAsStrings -AsArray
'@
                $r.ExitCode | Should -Be 1 -Because "$view; stderr: $($r.StdErr)"
                $r.StdOut | Should -BeNullOrEmpty
                $r.StdErr | Should -Match ([regex]::Escape($Message))
                if ($view -eq 'NormalView') { $r.StdErr | Should -Match ('FullyQualifiedErrorId\s*:\s*' + [regex]::Escape("$Id,FsFreeze.Commands.InvokeFsFreezeCommand")) }
            }
        }
    }

    Context 'on a real loop filesystem' {
        BeforeEach { $fs = New-LoopFilesystem -Type ext4 }
        AfterEach { Remove-LoopFilesystem $fs }

        It 'freezes in one pwsh, prints JSON, exits 0; the JSON thaws it from another process' {
            $json = & (Get-PwshPath) -NoProfile -NonInteractive -Command "`$ErrorActionPreference = 'Stop'; Import-Module '$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1'; Invoke-FsFreeze -Path '$($fs.MountPoint)' | ConvertTo-Json -EnumsAsStrings -AsArray"
            $LASTEXITCODE | Should -Be 0
            Test-IsFrozen $fs.MountPoint | Should -BeTrue -Because 'a freeze outlives the process that made it'

            $objects = @($json | ConvertFrom-Json)
            $objects.Count | Should -Be 1
            $objects[0].MountPoint | Should -Be $fs.MountPoint
            $objects[0].State | Should -Be 'Frozen'
            $objects[0].FileSystemType | Should -Be 'ext4'
            $objects[0].FreezeTime.TotalMilliseconds | Should -BeGreaterThan 0
            $objects[0].FrozenAt | Should -BeOfType [datetime]

            $thawed = $objects | Invoke-FsThaw
            $thawed.State | Should -Be 'Thawed'
            $thawed.FrozenFor | Should -BeGreaterThan ([TimeSpan]::Zero) -Because 'FrozenAt came through the JSON and bound by property name'
            Test-IsFrozen $fs.MountPoint | Should -BeFalse
            ($thawed | ConvertTo-Json -EnumsAsStrings | ConvertFrom-Json).State | Should -Be 'Thawed'
        }
    }
}
