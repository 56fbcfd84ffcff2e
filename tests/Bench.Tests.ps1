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
        $direct = $json.Rows | Where-Object { $_.Group -eq 'idle pair, ext4' -and $_.Baseline }
        $direct.MedianMs | Should -BeGreaterThan 0
        $direct.Ratio | Should -Be 1
        $json.Dirty.Count | Should -BeGreaterThan 0
        $json.Dirty | ForEach-Object { $_.StallMs | Should -BeGreaterThan 0 }
        $json.Goals.Count | Should -BeGreaterOrEqual 5
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

    It 'draws the stall against dirty data as an SVG document' {
        [xml]$svg = Get-Content (Join-Path $script:outDir 'stall-vs-dirty.svg') -Raw
        $svg.DocumentElement.LocalName | Should -Be 'svg'
        $svg.DocumentElement.polyline.Count | Should -BeGreaterOrEqual 3
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
