#Requires -Modules Pester
# The consistent-backup demo (build.ps1 -Task Demo), run for real in a child pwsh against the built module:
# its verdicts, its exit code, and that it leaves nothing mounted or attached, also when interrupted while frozen.

BeforeAll {
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    $script:DemoScript = Join-Path $PSScriptRoot '../src/Demo/Invoke-BackupDemo.ps1'

    function Start-Demo {
        # env --default-signal=INT: a pwsh started from a background job inherits SIGINT ignored, and .NET then
        # never sees Ctrl+C; the interrupt test needs it delivered. env execs pwsh, so the pid is pwsh's.
        param([string] $TempParent, [string[]] $ExtraArgs = @(), [string] $ModulePath = $env:FSFREEZE_TEST_MODULE)
        $psi = [Diagnostics.ProcessStartInfo]::new('env')
        $arguments = @('--default-signal=INT', (Get-PwshPath), '-NoProfile', '-NonInteractive', '-File', $script:DemoScript,
            '-ModulePath', $ModulePath, '-TempParent', $TempParent) + $ExtraArgs
        foreach ($a in $arguments) { $psi.ArgumentList.Add($a) }
        $psi.UseShellExecute = $false
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $p = [Diagnostics.Process]::Start($psi)
        [pscustomobject]@{ Process = $p; Lines = [Collections.Generic.List[string]]::new(); Pending = $null; Errors = $p.StandardError.ReadToEndAsync() }
    }

    function Read-DemoOutput {
        # Reads the demo's lines until one matches $Until (true), or end of output / the bound (false). Never unbounded.
        param($Demo, [string] $Until, [int] $TimeoutMs)
        $deadline = [DateTime]::UtcNow.AddMilliseconds($TimeoutMs)
        while ($true) {
            if (-not $Demo.Pending) { $Demo.Pending = $Demo.Process.StandardOutput.ReadLineAsync() }
            $left = [int]($deadline - [DateTime]::UtcNow).TotalMilliseconds
            if ($left -le 0 -or -not $Demo.Pending.Wait($left)) { return $false }
            $line = $Demo.Pending.Result
            $Demo.Pending = $null
            if ($null -eq $line) { return $false }
            $Demo.Lines.Add($line)
            if ($Until -and $line -match $Until) { return $true }
        }
    }

    function Get-DemoLeftovers {
        # What the demo could have left under its temp parent: mounts, loop devices backed by files there, files.
        param([string] $TempParent)
        foreach ($m in Get-Mounts) { if ($m.StartsWith("$TempParent/")) { "mount $m" } }
        foreach ($line in (Invoke-Native losetup -l -n -O 'NAME,BACK-FILE')) {
            $name, $backing = "$line".Trim() -split '\s+', 2
            if ($backing -and $backing.StartsWith("$TempParent/")) { "loop $name ($backing)" }
        }
        foreach ($f in Get-ChildItem -LiteralPath $TempParent -Force -ErrorAction SilentlyContinue) { "file $($f.FullName)" }
    }

    function Remove-DemoLeftovers {
        # Only what lives under this test's own temp parent: thaw before unmount, then detach its loop devices.
        param([string] $TempParent)
        $mounts = @(Get-Mounts | Where-Object { $_.StartsWith("$TempParent/") } | Sort-Object Length -Descending)
        foreach ($m in $mounts) {
            & timeout 10 fsfreeze -u $m 2>$null
            & timeout 20 umount $m 2>&1 | Out-Null
        }
        foreach ($line in (Invoke-Native losetup -l -n -O 'NAME,BACK-FILE')) {
            $name, $backing = "$line".Trim() -split '\s+', 2
            if ($backing -and $backing.StartsWith("$TempParent/")) { & timeout 20 losetup -d $name 2>&1 | Out-Null }
        }
    }

    function Stop-Demo {
        # Teardown for a demo still running: Ctrl+C first (it cleans up itself), then thaw what is left, then kill.
        param($Demo, [string] $TempParent)
        if (-not $Demo -or $Demo.Process.HasExited) { return }
        & kill -INT $Demo.Process.Id 2>$null
        if ($Demo.Process.WaitForExit(30000)) { return }
        Remove-DemoLeftovers $TempParent
        $Demo.Process.Kill($true)
        $Demo.Process.WaitForExit(10000) | Out-Null
    }

    function Get-WriterPid($Demo) {
        $line = $Demo.Lines | Where-Object { $_ -match '^Writer: pid (\d+)' } | Select-Object -First 1
        if ($line -match '^Writer: pid (\d+)') { [int]$Matches[1] }
    }
}

Describe 'The consistent-backup demo' -Tag 'Demo' {
    BeforeEach {
        $parent = New-TestDirectory -Prefix 'fsfreeze-demotest'
        $demo = $null
    }
    AfterEach {
        Stop-Demo $demo $parent
        Remove-DemoLeftovers $parent
        Remove-Item -LiteralPath $parent -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'proves the frozen snapshot consistent, judges the unfrozen one, and leaves nothing behind' {
        $demo = Start-Demo -TempParent $parent
        Read-DemoOutput $demo -TimeoutMs 240000 | Out-Null
        $demo.Process.WaitForExit(30000) | Should -BeTrue -Because 'the demo is bounded'
        $output = $demo.Lines -join "`n"

        $demo.Process.ExitCode | Should -Be 0 -Because "the demo said:`n$output`n$($demo.Errors.Result)"
        $output | Should -Match '(?m)^Frozen snapshot .*: clean: no needs_recovery, e2fsck -fy changed nothing, checksums (\d+) of \1 match'
        $output | Should -Not -Match '(?m)^Frozen snapshot .*: clean: .*checksums 0 of 0'
        $output | Should -Match '(?m)^Unfrozen snapshot .*: \S'
        $output | Should -Match '(?m)^Freeze      : FIFREEZE \d[\d.,]* ms'
        $output | Should -Match '(?m)^Writer held : longest gap between its changes around the freeze \d'
        $output | Should -Match '(?m)^Result      : the frozen snapshot is consistent\.$'

        Get-Process -Id (Get-WriterPid $demo) -ErrorAction SilentlyContinue | Should -BeNullOrEmpty -Because 'the writer is stopped'
        Get-DemoLeftovers $parent | Should -BeNullOrEmpty
    }

    It 'exits 1 and says NOT consistent when its "frozen" copy is not frozen (a stand-in Use-FsFreeze that does not freeze)' {
        # The demo's verdict must be able to fail: give it a module whose Use-FsFreeze only runs the scriptblock, so
        # the copy is taken during the writes like the unfrozen one.
        $stub = Join-Path $parent 'stub-module'
        New-Item -ItemType Directory $stub | Out-Null
        Set-Content (Join-Path $stub 'FsFreeze.psm1') @'
function Use-FsFreeze {
    [CmdletBinding()]
    param([string[]] $Path, [scriptblock] $ScriptBlock, [int] $TimeoutSec)
    & $ScriptBlock ([pscustomobject]@{ MountPoint = $Path[0]; FreezeTime = [TimeSpan]::FromMilliseconds(1) })
}
'@
        Set-Content (Join-Path $stub 'FsFreeze.psd1') "@{ RootModule = 'FsFreeze.psm1'; ModuleVersion = '0.0.1'; FunctionsToExport = 'Use-FsFreeze' }"
        $demo = Start-Demo -TempParent $parent -ModulePath $stub
        Read-DemoOutput $demo -TimeoutMs 240000 | Out-Null
        $demo.Process.WaitForExit(30000) | Should -BeTrue -Because 'the demo is bounded'
        $output = $demo.Lines -join "`n"
        $demo.Process.ExitCode | Should -Be 1 -Because "the demo said:`n$output`n$($demo.Errors.Result)"
        $output | Should -Match '(?m)^Result      : the frozen snapshot is NOT consistent\.$'
        $output | Should -Not -Match '(?m)^Frozen snapshot .*: clean:'
        Get-DemoLeftovers $parent | Where-Object { $_ -notlike "file $stub*" } | Should -BeNullOrEmpty
    }

    It 'thaws and cleans up when interrupted (Ctrl+C) while frozen, and exits non-zero' {
        $demo = Start-Demo -TempParent $parent -ExtraArgs '-HoldFrozenSeconds', '60'
        Read-DemoOutput $demo -Until '^Holding the freeze' -TimeoutMs 120000 | Should -BeTrue -Because ($demo.Lines -join "`n")
        $mountPoint = ($demo.Lines | Where-Object { $_ -match 'mounted at (.+)$' } | Select-Object -First 1) -replace '^.*mounted at ', ''
        Test-IsFrozen $mountPoint | Should -BeTrue -Because 'the interrupt must land while the scratch filesystem is frozen'

        & kill -INT $demo.Process.Id
        Read-DemoOutput $demo -TimeoutMs 60000 | Out-Null
        $demo.Process.WaitForExit(30000) | Should -BeTrue -Because 'Ctrl+C ends the demo without waiting out the freeze'

        $demo.Process.ExitCode | Should -Be 130
        $demo.Lines | Should -Contain 'Interrupted; cleaned up.'
        # The writer was blocked on the frozen filesystem: it can only have exited if the demo thawed first.
        Get-Process -Id (Get-WriterPid $demo) -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Get-DemoLeftovers $parent | Should -BeNullOrEmpty
    }

    It 'leaves its guardian to thaw and clean up when killed outright (kill -9) while frozen' {
        $demo = Start-Demo -TempParent $parent -ExtraArgs '-HoldFrozenSeconds', '60'
        Read-DemoOutput $demo -Until '^Holding the freeze' -TimeoutMs 120000 | Should -BeTrue -Because ($demo.Lines -join "`n")

        $demo.Process.Kill()   # SIGKILL: no finally block runs in the demo
        $demo.Process.WaitForExit(10000) | Should -BeTrue
        # The guardian polls every 0.2 s; give it a bounded while to thaw, stop the writer, unmount and detach.
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while ((Get-DemoLeftovers $parent) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }

        Get-DemoLeftovers $parent | Should -BeNullOrEmpty
        Get-Process -Id (Get-WriterPid $demo) -ErrorAction SilentlyContinue | Should -BeNullOrEmpty -Because 'a writer blocked on the frozen filesystem can only have died after a thaw'
        # The thaw itself comes from the scope's watchdog, which watches the demo's process and thaws the moment it
        # dies; the guardian finds it thawed (or thaws it, if it came first) and cleans up the rest.
        $demo.Errors.Wait(10000) | Should -BeTrue
        $demo.Errors.Result | Should -Not -Match 'could not|failed'
    }
}
