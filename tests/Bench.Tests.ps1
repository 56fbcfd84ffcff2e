#Requires -Modules Pester
# The benchmark in its quick mode: it runs end to end, writes valid JSON and an SVG, and leaves no mount behind.
# It judges no speed: CI machines vary, and the numbers of a quick run mean nothing.

BeforeAll {
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    $script:outDir = Join-Path $TestDrive 'bench'
    $writerDir = Join-Path $TestDrive 'writer'
    $publish = & dotnet publish (Join-Path $PSScriptRoot 'Benchmarks/StallWriter/StallWriter.csproj') -c Release -o $writerDir --nologo -v quiet 2>&1
    if ($LASTEXITCODE) { throw "Building the stall writer failed: $publish" }
    $rawPair = Join-Path $TestDrive 'rawpair'
    $gcc = & gcc -O2 -Wall -Wextra -o $rawPair (Join-Path $PSScriptRoot 'Benchmarks/RawPair/rawpair.c') 2>&1
    if ($LASTEXITCODE) { throw "Building rawpair failed: $gcc" }

    $psi = [Diagnostics.ProcessStartInfo]::new((Get-PwshPath))
    foreach ($a in '-NoProfile', '-NonInteractive', '-File', (Join-Path $PSScriptRoot 'Benchmarks/Invoke-Benchmark.ps1'),
        '-ModulePath', $env:FSFREEZE_TEST_MODULE, '-WriterPath', (Join-Path $writerDir 'StallWriter'), '-OutDir', $script:outDir, '-RawPairPath', $rawPair, '-Quick') {
        $psi.ArgumentList.Add($a)
    }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $p = [Diagnostics.Process]::Start($psi)
    $stdout = $p.StandardOutput.ReadToEndAsync()
    $stderr = $p.StandardError.ReadToEndAsync()
    # Bounded: a quick run takes well under a minute; ten minutes means something hangs.
    $script:finished = $p.WaitForExit(600000)
    if (-not $script:finished) { $p.Kill($true) }
    $script:exitCode = if ($script:finished) { $p.ExitCode } else { -1 }
    $script:output = "$($stdout.Result)`n$($stderr.Result)"
}

Describe 'build.ps1 -Task Bench -Quick' -Tag 'Bench' {
    It 'finishes with exit code 0' {
        $script:finished | Should -BeTrue
        $script:exitCode | Should -Be 0 -Because $script:output
    }

    It 'writes bench.json with every group, numbers and goals' {
        $json = Get-Content (Join-Path $script:outDir 'bench.json') -Raw | ConvertFrom-Json
        $json.Quick | Should -BeTrue
        $groups = $json.Rows.Group | Select-Object -Unique
        $groups | Should -Contain 'idle pair, ext4'
        $groups | Should -Contain 'writer stall, idle ext4'
        $groups | Should -Contain 'arming a timeout'
        $groups | Should -Contain 'Import-Module'
        $groups | Where-Object { $_ -like '*filesystems in one call' } | Should -Not -BeNullOrEmpty
        # Measured, not skipped: a 'skipped' row stands in when the build has no -TimeoutSec.
        $arming = @($json.Rows | Where-Object Group -EQ 'arming a timeout')
        $arming.Name | Should -Not -Contain 'skipped'
        $arming.Count | Should -Be 2
        $json.Machine.Kernel | Should -Not -BeNullOrEmpty
    }

    It 'times every method''s freeze window in the kernel, against the raw C pair, and the sets' {
        $json = Get-Content (Join-Path $script:outDir 'bench.json') -Raw | ConvertFrom-Json
        $methods = 'raw C*', 'fsfreeze -f*', 'Invoke-FsFreeze -TimeoutSec 0*', 'Invoke-FsFreeze | Invoke-FsThaw*', 'Use-FsFreeze {} -TimeoutSec 0', 'Use-FsFreeze {} (watchdog*'
        $pairs = @($json.KernelWindow.Pairs | Where-Object Type -EQ 'ext4')
        $pairs.Count | Should -Be $methods.Count
        foreach ($m in $methods) {
            $p = $pairs | Where-Object Method -Like $m
            $p | Should -Not -BeNullOrEmpty -Because "method $m"
            $p.HoldMs | Should -BeGreaterThan 0
            $p.WallMs | Should -BeGreaterThan $p.HoldMs -Because 'the wall window holds the whole kernel hold'
            $p.UserMs | Should -BeLessThan $p.HoldMs
            $p.N | Should -Be $json.KernelWindow.Config.PairReps
        }
        ($pairs | Where-Object Method -Like 'raw C*').HoldRatio | Should -Be 1
        $json.Rows | Where-Object Group -EQ 'kernel hold, idle pair, ext4' | Should -HaveCount $methods.Count
        foreach ($n in $json.KernelWindow.Config.SetCounts) {
            $sets = @($json.KernelWindow.Sets | Where-Object Count -EQ $n)
            $sets.Count | Should -Be $methods.Count
            foreach ($s in $sets) {
                # Not against the sum: a freezer that froze members in parallel would hold less than the sum, rightly.
                $s.SetHoldMs | Should -BeGreaterOrEqual $s.SlowestFreezeMs -Because "a set's hold contains each member's FIFREEZE ($($s.Method), $n)"
                $s.SumFreezeMs | Should -BeGreaterOrEqual $s.SlowestFreezeMs
                if ($s.Method -like 'raw C*' -or $s.Method -like 'Use-FsFreeze*' -or $s.Method -like '*watchdog*') {
                    # These thaw through the fds they froze with: members are paired by fd (FsFreeze freezes and thaws the
                    # members of a wave side by side, so the order of the calls pairs nothing), and every FIFREEZE must
                    # have its FITHAW on the same fd of the same process.
                    $s.FdMismatches | Should -Be 0 -Because "$($s.Method) thaws each member through the descriptor it froze it with"
                }
            }
        }
    }

    It 'computes every ratio against its group''s one baseline' {
        # Not "the baseline's ratio is 1" (true by construction): every row's ratio is its median over the baseline's.
        $json = Get-Content (Join-Path $script:outDir 'bench.json') -Raw | ConvertFrom-Json
        foreach ($group in $json.Rows | Where-Object Name -NE 'skipped' | Group-Object Group) {
            $base = @($group.Group | Where-Object Baseline)
            $base.Count | Should -Be 1 -Because "group '$($group.Name)' needs one baseline"
            $base[0].MedianMs | Should -BeGreaterThan 0
            foreach ($r in $group.Group) {
                $r.MedianMs | Should -BeGreaterThan 0 -Because "$($group.Name) / $($r.Name) was measured"
                $r.Ratio | Should -BeGreaterThan 0
                [Math]::Abs($r.Ratio - $r.MedianMs / $base[0].MedianMs) | Should -BeLessThan 1e-6 -Because "$($group.Name) / $($r.Name)"
            }
            @($group.Group | Where-Object { $_.Ratio -ne 1 }).Count | Should -BeGreaterThan 0 -Because "the other methods of '$($group.Name)' are not the baseline itself"
        }
    }

    It 'measures a real writer stall in every dirty-data window (above the writer''s threshold, which stands for "no gap")' {
        $json = Get-Content (Join-Path $script:outDir 'bench.json') -Raw | ConvertFrom-Json
        $json.Dirty.Count | Should -BeGreaterThan 0
        $json.WriterThresholdMs | Should -BeGreaterThan 0
        # Get-WindowStall returns the threshold itself when no gap overlapped a window; every freeze holds the writer
        # for at least its FIFREEZE, so each window must show a gap above it.
        foreach ($p in $json.Dirty) { foreach ($ms in $p.StallSamplesMs) { $ms | Should -BeGreaterThan $json.WriterThresholdMs -Because "$($p.Method) at $($p.DirtyMB) MB" } }
    }

    It 'judges each goal on this run''s numbers: a value and a yes or no, none skipped' {
        $json = Get-Content (Join-Path $script:outDir 'bench.json') -Raw | ConvertFrom-Json
        # Five goals of the first benchmark, three of issue 9's pairs and scopes, and one set goal per filesystem type measured.
        $setGoals = @($json.Goals | Where-Object Goal -Like "*members with dirty data (*): set held at most 2x its slowest member's FIFREEZE")
        $setGoals.Count | Should -BeGreaterThan 0
        $json.Goals.Count | Should -Be (8 + $setGoals.Count)
        foreach ($g in $json.Goals) {
            $g.Met | Should -BeOfType [bool] -Because "'$($g.Goal)' was judged ($($g.Value))"
            $g.Value | Should -Match '\d' -Because "'$($g.Goal)' has a measured value"
        }
        # The pair goal agrees with its row.
        $pair = $json.Rows | Where-Object { $_.Group -eq 'idle pair, ext4' -and $_.Name -like 'Invoke-FsFreeze -NoFlush*' } | Select-Object -First 1
        ($json.Goals | Where-Object Goal -Like 'idle pair:*').Met | Should -Be ($pair.Ratio -le 1.2)
    }

    It 'measures the watchdog''s memory while it holds a freeze' {
        $json = Get-Content (Join-Path $script:outDir 'bench.json') -Raw | ConvertFrom-Json
        $json.Watchdog.PeakRssKB | Should -BeGreaterThan 500 -Because 'a running NativeAOT process has a resident set'
        $json.Watchdog.FileKB | Should -BeGreaterThan 100
    }

    It 'draws the stall against dirty data as an SVG document' {
        [xml]$svg = Get-Content (Join-Path $script:outDir 'stall-vs-dirty.svg') -Raw
        $svg.DocumentElement.LocalName | Should -Be 'svg'
        $svg.DocumentElement.polyline.Count | Should -BeGreaterOrEqual 3
    }

    It 'reports the fleet barrier and the longest host hold for 1 and 3 hosts, the controller''s overhead apart from the snapshot' {
        $json = Get-Content (Join-Path $script:outDir 'bench.json') -Raw | ConvertFrom-Json
        @($json.Fleet.Sizes) | Should -Be @(1, 3)
        foreach ($n in 1, 3) {
            $rows = @($json.Rows | Where-Object Group -EQ "fleet of $n host(s), Use-FsFreezeFleet over SSH")
            $rows.Count | Should -Be ($n -gt 1 ? 5 : 4) -Because 'one host has no barrier to wait for: no row'
            $snapshot = $rows | Where-Object Baseline
            $hold = $rows | Where-Object Name -Like 'longest host hold (*'
            $overhead = $rows | Where-Object Name -Like 'controller overhead*'
            $hold.MedianMs | Should -BeGreaterThan $snapshot.MedianMs -Because 'a host is held at least as long as the snapshot'
            $overhead.MedianMs | Should -BeGreaterThan 0
            if ($n -gt 1) { ($rows | Where-Object Name -Like 'fleet barrier*').MedianMs | Should -BeGreaterThan 0 }
        }
        @($json.Fleet.Summary | Where-Object Hosts -EQ 1 | ForEach-Object BarrierMs | Where-Object { $_ -ne 0 }) | Should -BeNullOrEmpty -Because 'one host: first and last frozen are the same'
        @(Get-ChildItem -Path '/tmp/fsfreeze-simfleet.*' -Directory -ErrorAction Ignore) | Should -BeNullOrEmpty -Because 'the fleet is removed'
    }

    It 'draws the set hold against the slowest member as an SVG document, a line per method' {
        [xml]$svg = Get-Content (Join-Path $script:outDir 'set-hold.svg') -Raw
        $svg.DocumentElement.LocalName | Should -Be 'svg'
        $json = Get-Content (Join-Path $script:outDir 'bench.json') -Raw | ConvertFrom-Json
        @($svg.DocumentElement.polyline).Count | Should -Be @($json.KernelWindow.Sets.Method | Select-Object -Unique).Count
    }

    It 'reports the pairs'' time outside the kernel calls, against fsfreeze(8), and the sets as rows and goals' {
        $json = Get-Content (Join-Path $script:outDir 'bench.json') -Raw | ConvertFrom-Json
        foreach ($p in $json.KernelWindow.Pairs) {
            $p.OwnMs | Should -BeLessThan $p.WallMs
            $p.WallVsFsfreeze | Should -BeGreaterThan 0
        }
        foreach ($n in $json.KernelWindow.Config.SetCounts) {
            $json.Rows | Where-Object { $_.Group -like "set hold, $n x ext4*" } | Should -Not -BeNullOrEmpty
        }
        $json.Goals.Goal | Where-Object { $_ -like '*Use-FsFreeze*user space*' } | Should -Not -BeNullOrEmpty
        $json.Goals.Goal | Where-Object { $_ -like '*wall time at most fsfreeze(8)*' } | Should -Not -BeNullOrEmpty
    }

    It 'leaves none of its filesystems mounted or attached' {
        $json = Get-Content (Join-Path $script:outDir 'bench.json') -Raw | ConvertFrom-Json
        $json.Filesystems.Count | Should -BeGreaterThan 0
        $mounted = Get-Mounts
        $loops = (& losetup -a) -join "`n"
        foreach ($mp in $json.Filesystems) {
            $mounted | Should -Not -Contain $mp
            $loops | Should -Not -Match ([regex]::Escape((Split-Path $mp)))
        }
    }
}
