# Fixtures for tests/Exactness.Tests.ps1 (issue 8, "Exact ownership"). Used together with TestHelpers.psm1.
# Safety rules these helpers keep:
#  - only filesystems the tests mounted under temp directories they made are ever frozen or thawed;
#  - every freeze has an independent thaw behind it (Start-IndependentThaw: a setsid'ed 'sleep N; fsfreeze -u');
#  - processes are ended only by pid: children the tests started, or watchdogs whose pid was read from the test's
#    own state directory (records, Get-FsFreezeStatus) and whose executable is a module folder the tests use;
#  - no cmdlet runs in the test process while a state directory may hold a FIFO (opening it would block forever).

Set-StrictMode -Version 3.0

function Invoke-Quiet {
    # A native command whose failure is expected and fine (thaw of a thawed filesystem, kill of a dead pid).
    $exe = $args[0]
    $rest = @($args | Select-Object -Skip 1)
    & $exe @rest 2>&1 | Out-Null
    $LASTEXITCODE
}

function Wait-Condition {
    <#
    .SYNOPSIS
        Polls -Condition until it returns a true value or -TimeoutSec passes; returns whether it became true.
    #>
    param([Parameter(Mandatory)] [scriptblock] $Condition, [double] $TimeoutSec = 10, [int] $IntervalMs = 100)
    $by = [datetime]::UtcNow.AddSeconds($TimeoutSec)
    while ([datetime]::UtcNow -lt $by) {
        if (& $Condition) { return $true }
        Start-Sleep -Milliseconds $IntervalMs
    }
    [bool](& $Condition)
}

$script:SessionDevices = $null

function Assert-ProbeSafe {
    # A probe is a FIFREEZE: only ever on a mount point (never a plain directory, which would freeze what holds it)
    # whose filesystem is not one this machine lives on (/, /tmp, /work, home, pwsh).
    param([Parameter(Mandatory)] [string] $Path)
    if (-not $script:SessionDevices) {
        $script:SessionDevices = @(foreach ($p in '/', '/tmp', '/work', $HOME, $PSHOME, '/run') {
                if ($p -and (Test-Path -LiteralPath $p)) { (& stat -L -c '%d' -- $p) }
            })
    }
    if ((Invoke-Quiet mountpoint -q $Path) -ne 0) { throw "Refusing to probe '$Path' with FIFREEZE: it is not a mount point." }
    $dev = & stat -L -c '%d' -- $Path
    if ($LASTEXITCODE -ne 0 -or $script:SessionDevices -contains $dev) { throw "Refusing to probe '$Path' with FIFREEZE: it is on a filesystem this machine lives on." }
}

function Test-Frozen {
    # The kernel's only probe: FIFREEZE. EBUSY = frozen; success = the probe froze it, so thaw at once.
    param([Parameter(Mandatory)] [string] $Path)
    Assert-ProbeSafe $Path
    & fsfreeze -f $Path 2>$null
    if ($LASTEXITCODE -eq 0) { & fsfreeze -u $Path 2>$null; return $false }
    $true
}

function Invoke-OtherToolFreeze {
    # fsfreeze -f, as another tool would: a freeze FsFreeze did not make. Only on a safe mount point.
    param([Parameter(Mandatory)] [string] $Path)
    Assert-ProbeSafe $Path
    $out = & fsfreeze -f $Path 2>&1
    if ($LASTEXITCODE -ne 0) { throw "fsfreeze -f $Path failed: $out" }
}

function Wait-FsThawed {
    # True when the filesystem is seen thawed within the bound (probing every 100 ms).
    param([Parameter(Mandatory)] [string] $Path, [double] $TimeoutSec = 5)
    Wait-Condition -TimeoutSec $TimeoutSec -Condition { -not (Test-Frozen $Path) }
}

function Get-ErrorId {
    # The stable part of an ErrorRecord's FullyQualifiedErrorId ('FsFreeze.NotOwned' of 'FsFreeze.NotOwned,FsFreeze.Commands...').
    param([Parameter(ValueFromPipeline)] $ErrorRecord)
    process { if ($ErrorRecord -is [System.Management.Automation.ErrorRecord]) { ($ErrorRecord.FullyQualifiedErrorId -split ',')[0] } }
}

function Send-Signal {
    <#
    .SYNOPSIS
        kill -s SIGNAL -- PID, for exactly one process we started or identified (pid > 1), or with -Group for the process
        group it leads (checked: its pgid is its pid). Never 'kill -KILL -PGID' without '--': procps kill reads the
        negative number as options, and '-KILL -14829' became kill(-1, SIGKILL), every process on the machine.
    #>
    param([Parameter(Mandatory)] [ValidateSet('TERM', 'KILL', 'HUP', 'STOP', 'CONT', 'INT')] [string] $Signal,
        [Parameter(Mandatory)] [int] $ProcessId, [switch] $Group)
    if ($ProcessId -le 1) { throw "Refusing to signal pid $ProcessId." }
    $target = "$ProcessId"
    if ($Group) {
        $pgid = try { ([IO.File]::ReadAllText("/proc/$ProcessId/stat") -split '\) ', 2)[1].Split(' ')[2] } catch { $null }
        if ($pgid -ne "$ProcessId") { return 1 }   # gone, or not a group leader: nothing to do
        $target = "-$ProcessId"
    }
    & /usr/bin/kill -s $Signal -- $target 2>&1 | Out-Null
    $LASTEXITCODE
}

# ---------------------------------------------------------------------------------------------------------------
# The per-file state directory: a tmpfs of our own (it can never be frozen), a root-owned 0755 directory on it.

function New-StateRoot {
    <#
    .SYNOPSIS
        Mounts a tmpfs on a fresh /tmp/fsx-state.XXXXXX (mode 0755, so its parents never stop a non-root caller) and
        makes 'state' (root, 0755, as FsFreeze makes it) on it. Returns { Mount; Dir }.
    #>
    param([string] $Size = '16m')
    $mount = (& mktemp -d /tmp/fsx-state.XXXXXX | Select-Object -Last 1).Trim()
    if ($LASTEXITCODE -ne 0 -or -not $mount) { throw 'mktemp failed' }
    & mount -t tmpfs -o "size=$Size,mode=0755" fsx-state $mount
    if ($LASTEXITCODE -ne 0) { Remove-Item -LiteralPath $mount -Force; throw "mount tmpfs on $mount failed" }
    $dir = "$mount/state"
    Reset-StateDirectory $dir
    [pscustomobject]@{ Mount = $mount; Dir = $dir }
}

function Reset-StateDirectory {
    # Empties the directory (FIFOs included, which are never opened), or recreates it (root, 0755) if it is gone.
    param([Parameter(Mandatory)] [string] $Dir)
    if (Test-Path -LiteralPath $Dir) {
        Get-ChildItem -LiteralPath $Dir -Force -ErrorAction SilentlyContinue | Remove-Item -Recurse -Force -ErrorAction SilentlyContinue
    }
    else {
        [IO.Directory]::CreateDirectory($Dir) | Out-Null
    }
    & chown 0:0 $Dir
    & chmod 0755 $Dir   # as FsFreeze makes it: readable by all, so Get-FsFreezeStatus works without root
}

function Remove-StateRoot {
    param($StateRoot)
    if (-not $StateRoot) { return }
    if ((Invoke-Quiet mountpoint -q $StateRoot.Mount) -eq 0) {
        if ((Invoke-Quiet umount $StateRoot.Mount) -ne 0) { Invoke-Quiet umount -l $StateRoot.Mount | Out-Null }
    }
    if ((Invoke-Quiet mountpoint -q $StateRoot.Mount) -ne 0) { Remove-Item -LiteralPath $StateRoot.Mount -Recurse -Force -ErrorAction SilentlyContinue }
    else { Write-Warning "Teardown: $($StateRoot.Mount) is still mounted" }
}

# ---------------------------------------------------------------------------------------------------------------
# Watchdogs: found by pid in OUR state directory, confirmed by their executable, stopped by pid.

function Get-RegularStateFile {
    # Regular files of the state directory (never a FIFO, socket or symlink: they are not opened).
    param([string] $Dir)
    if (-not $Dir -or -not (Test-Path -LiteralPath $Dir)) { return }
    foreach ($f in Get-ChildItem -LiteralPath $Dir -Force -File -ErrorAction SilentlyContinue) {
        $type = (& stat -c '%F' -- $f.FullName 2>$null)
        if ($type -in 'regular file', 'regular empty file' -and $f.Length -lt 1MB) { $f }
    }
}

function Get-StateWatchdogPid {
    <#
    .SYNOPSIS
        Watchdog pids named in the records of -Dir: a 'watchdog<TAB>pid' line (today's record format) or a
        '"WatchdogPid": pid' / 'watchdog=pid' field (tolerated, in case the record format changes).
    #>
    param([string[]] $Dir)
    $pids = foreach ($d in $Dir) {
        foreach ($f in Get-RegularStateFile $d) {
            $text = try { [IO.File]::ReadAllText($f.FullName) } catch { '' }
            foreach ($m in [regex]::Matches($text, '(?im)^watchdog\t(\d+)|"?watchdog_?pid"?\s*[:=]\s*(\d+)|^watchdog\s*=\s*(\d+)')) {
                foreach ($g in 1..3) { if ($m.Groups[$g].Success) { [int]$m.Groups[$g].Value } }
            }
        }
    }
    @($pids | Where-Object { $_ -gt 1 } | Sort-Object -Unique)
}

function Test-IsOurWatchdog {
    # The pid is alive and runs fsfreeze-watchdog from one of the module folders the tests use.
    param([int] $ProcessId, [string[]] $ModuleDir)
    if ($ProcessId -le 1) { return $false }
    $exe = try { [IO.File]::ResolveLinkTarget("/proc/$ProcessId/exe", $false).FullName } catch { $null }
    if (-not $exe) { return $false }
    $exe = $exe -replace ' \(deleted\)$', ''
    foreach ($m in $ModuleDir) { if ($m -and $exe -eq (Join-Path $m 'fsfreeze-watchdog')) { return $true } }
    $false
}

function Get-ProcessState {
    # The state letter from /proc/<pid>/stat (R, S, D, T, Z...), or $null when gone.
    param([int] $ProcessId)
    $stat = try { [IO.File]::ReadAllText("/proc/$ProcessId/stat") } catch { return $null }
    $stat.Substring($stat.LastIndexOf(')') + 2, 1)
}

function Stop-Watchdog {
    <#
    .SYNOPSIS
        Ends watchdogs by pid: a stopped one (kill -STOP) is killed (SIGKILL, then SIGCONT), a running one gets SIGTERM
        (it thaws what it holds, then exits) and SIGKILL after 5 s. A pid is touched only when it still runs the
        watchdog executable of one of -ModuleDir.
    #>
    param([int[]] $ProcessId, [string[]] $ModuleDir)
    foreach ($p in @($ProcessId | Sort-Object -Unique)) {
        if (-not (Test-IsOurWatchdog $p $ModuleDir)) { continue }
        if ((Get-ProcessState $p) -eq 'T') {
            Send-Signal KILL $p | Out-Null
            Send-Signal CONT $p | Out-Null
        }
        else {
            Send-Signal TERM $p | Out-Null
        }
        $gone = Wait-Condition -TimeoutSec 5 -Condition { -not (Test-Path "/proc/$p") -or (Get-ProcessState $p) -eq 'Z' }
        if (-not $gone -and (Test-IsOurWatchdog $p $ModuleDir)) { Send-Signal KILL $p | Out-Null }
    }
}

# ---------------------------------------------------------------------------------------------------------------
# The independent thaw: a process of its own that thaws our mounts after N seconds, whatever happens to the test.

function Start-IndependentThaw {
    <#
    .SYNOPSIS
        setsid sh -c 'sleep N; for each mount point still mounted: fsfreeze -u'. Returns the Process (its pid leads
        its own process group, so Stop-IndependentThaw ends the sleep too). -Loop/-Image: also thaw a filesystem
        unmounted while frozen, by mounting the device again, but only while that device still reads -Image.
    #>
    param([Parameter(Mandatory)] [string[]] $MountPoint, [int] $AfterSec = 90, [string] $Loop, [string] $Image)
    $script = @'
sleep "$1"; shift
loop="$1"; image="$2"; shift 2
for m in "$@"; do mountpoint -q "$m" && fsfreeze -u "$m" 2>/dev/null; done
if [ -n "$loop" ] && [ "$(losetup -nO BACK-FILE "$loop" 2>/dev/null | sed 's/ *$//')" = "$image" ] && ! grep -q "^$loop " /proc/mounts; then
  d=$(mktemp -d /tmp/fsx-rescue.XXXXXX) && mount "$loop" "$d" && { fsfreeze -u "$d" 2>/dev/null; umount "$d"; }; rmdir "$d" 2>/dev/null
fi
exit 0
'@
    $psi = [Diagnostics.ProcessStartInfo]::new('setsid')
    foreach ($a in @('sh', '-c', $script, 'independent-thaw', "$AfterSec", "$Loop", "$Image") + $MountPoint) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.WorkingDirectory = '/'
    $psi.RedirectStandardOutput = $true   # never the test's console
    $psi.RedirectStandardError = $true
    [Diagnostics.Process]::Start($psi)
}

function Stop-IndependentThaw {
    # Ends the timer's process group (sh and its sleep) by its pid; it was started by us with setsid.
    param($Process)
    foreach ($p in @($Process)) {
        if (-not $p) { continue }
        if (-not $p.HasExited) {
            Send-Signal KILL $p.Id -Group | Out-Null   # the group: setsid made the sh its leader
            [void]$p.WaitForExit(5000)
        }
        $p.Dispose()
    }
}

# ---------------------------------------------------------------------------------------------------------------
# Child processes: bounded, and on a timeout the filesystems are thawed BEFORE the kill (a process asleep on a frozen
# filesystem cannot die until then).

function Start-Child {
    <#
    .SYNOPSIS
        Starts argv (-FilePath plus -ArgumentList) with stdout and stderr read asynchronously, cwd '/', the given
        environment. Returns { Process; StdOut; StdErr } (tasks).
    #>
    param([Parameter(Mandatory)] [string] $FilePath, [string[]] $ArgumentList = @(), [hashtable] $Environment = @{})
    $psi = [Diagnostics.ProcessStartInfo]::new($FilePath)
    foreach ($a in $ArgumentList) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.RedirectStandardInput = $true
    $psi.WorkingDirectory = '/'
    $psi.Environment['NO_COLOR'] = '1'
    foreach ($k in $Environment.Keys) { $psi.Environment[$k] = [string]$Environment[$k] }
    $p = [Diagnostics.Process]::Start($psi)
    $p.StandardInput.Close()
    [pscustomobject]@{ Process = $p; StdOut = $p.StandardOutput.ReadToEndAsync(); StdErr = $p.StandardError.ReadToEndAsync() }
}

function Start-ChildPwsh {
    # A child pwsh -NoProfile -NonInteractive -Command; -Prefix runs it under another program (flock, setpriv).
    param([Parameter(Mandatory)] [string] $Command, [hashtable] $Environment = @{}, [string[]] $Prefix = @(), [string] $Pwsh = (Join-Path $PSHOME 'pwsh'))
    $argv = @($Prefix) + @($Pwsh, '-NoProfile', '-NonInteractive', '-Command', $Command)
    $envs = @{ FSFREEZE_TEST_MODULE = $env:FSFREEZE_TEST_MODULE; FSFREEZE_STATE_DIR = $env:FSFREEZE_STATE_DIR }
    foreach ($k in $Environment.Keys) { $envs[$k] = $Environment[$k] }
    Start-Child -FilePath $argv[0] -ArgumentList @($argv | Select-Object -Skip 1) -Environment $envs
}

function Wait-Child {
    <#
    .SYNOPSIS
        Waits up to -TimeoutSec for the child. On a timeout: runs -BeforeKill (thaw!), then kills the child's process
        tree and waits again (bounded). Returns { ExitCode; TimedOut; StdOut; StdErr; Lines; Seconds }.
    #>
    param([Parameter(Mandatory)] $Child, [double] $TimeoutSec = 60, [scriptblock] $BeforeKill)
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $p = $Child.Process
    $timedOut = -not $p.WaitForExit([int]($TimeoutSec * 1000))
    if ($timedOut) {
        if ($BeforeKill) { try { & $BeforeKill } catch { Write-Warning "BeforeKill: $_" } }
        try { $p.Kill($true) } catch { }
        [void]$p.WaitForExit(10000)
    }
    $out = if ($Child.StdOut.Wait(5000)) { $Child.StdOut.Result } else { '' }
    $err = if ($Child.StdErr.Wait(2000)) { $Child.StdErr.Result } else { '' }
    [pscustomobject]@{
        ExitCode = if ($timedOut -or -not $p.HasExited) { -1 } else { $p.ExitCode }
        TimedOut = $timedOut
        StdOut   = $out
        StdErr   = $err
        Lines    = @($out -split "`n" | ForEach-Object TrimEnd | Where-Object { $_ })
        Seconds  = $sw.Elapsed.TotalSeconds
    }
}

function Stop-Child {
    # Kills what is left of children we started (by their Process object), after the caller has thawed.
    param($Child)
    foreach ($c in @($Child)) {
        if (-not $c) { continue }
        $p = if ($c -is [Diagnostics.Process]) { $c } else { $c.Process }
        if ($p -and -not $p.HasExited) { try { $p.Kill($true) } catch { }; [void]$p.WaitForExit(5000) }
    }
}

# ---------------------------------------------------------------------------------------------------------------
# Defect 1: the swap, done by a C# handler on the verbose stream of an in-process runspace (no script runs on the
# pipeline thread; the handler is called synchronously when the cmdlet writes the record).

if (-not ('FsFreezeExactTest.SwapOnVerbose' -as [type])) {
    Add-Type -TypeDefinition @'
using System;
using System.IO;
using System.Management.Automation;

namespace FsFreezeExactTest
{
    public sealed class SwapOnVerbose
    {
        private readonly string _prefix, _path, _aside, _target;
        public bool Fired { get; private set; }
        public int ThreadId { get; private set; }
        public string Error { get; private set; } = "";

        private SwapOnVerbose(string prefix, string path, string aside, string target)
        {
            _prefix = prefix; _path = path; _aside = aside; _target = target;
        }

        /// <summary>When a verbose record starting with prefix arrives: rename path to aside, make path a symlink to target.</summary>
        public static SwapOnVerbose Attach(PSDataCollection<VerboseRecord> stream, string prefix, string path, string aside, string target)
        {
            var s = new SwapOnVerbose(prefix, path, aside, target);
            stream.DataAdded += (sender, e) =>
            {
                if (s.Fired) return;
                var record = ((PSDataCollection<VerboseRecord>)sender)[e.Index];
                if (record == null || !record.Message.StartsWith(s._prefix, StringComparison.Ordinal)) return;
                s.Fired = true;
                s.ThreadId = Environment.CurrentManagedThreadId;
                try
                {
                    Directory.Move(s._path, s._aside);
                    File.CreateSymbolicLink(s._path, s._target);
                }
                catch (Exception ex)
                {
                    s.Error = ex.GetType().Name + ": " + ex.Message;
                }
            };
            return s;
        }
    }
}
'@
}

function Invoke-InRunspace {
    <#
    .SYNOPSIS
        Runs one FsFreeze command in a fresh in-process runspace with the module imported, bounded. -Setup gets the
        PowerShell object before it starts (to attach handlers). Returns { Output; Errors; Warnings; Verbose; Completed }.
    #>
    param([Parameter(Mandatory)] [string] $Command, [hashtable] $Parameters = @{}, [scriptblock] $Setup, [double] $TimeoutSec = 60)
    $ps = [powershell]::Create()
    try {
        [void]$ps.AddCommand('Import-Module').AddArgument("$env:FSFREEZE_TEST_MODULE/FsFreeze.psd1").AddStatement()
        [void]$ps.AddCommand($Command)
        foreach ($k in $Parameters.Keys) { [void]$ps.AddParameter($k, $Parameters[$k]) }
        $state = if ($Setup) { & $Setup $ps }
        $async = $ps.BeginInvoke()
        $completed = $async.AsyncWaitHandle.WaitOne([int]($TimeoutSec * 1000))
        $output = @()
        if ($completed) { try { $output = @($ps.EndInvoke($async)) } catch { $output = @(); $ps.Streams.Error.Add($_) } }
        else { $ps.Stop() }
        [pscustomobject]@{
            Output    = $output
            Errors    = @($ps.Streams.Error)
            Warnings  = @($ps.Streams.Warning)
            Verbose   = @($ps.Streams.Verbose | ForEach-Object Message)
            Completed = $completed
            State     = $state
        }
    }
    finally { $ps.Dispose() }
}

# ---------------------------------------------------------------------------------------------------------------
# Mount helpers (literal paths, no provider rewriting).

function Mount-Device {
    # mount <device> <directory>, the directory created literally.
    param([Parameter(Mandatory)] [string] $Device, [Parameter(Mandatory)] [string] $MountPoint, [string[]] $Option = @())
    [IO.Directory]::CreateDirectory($MountPoint) | Out-Null
    $out = & mount @Option $Device $MountPoint 2>&1
    if ($LASTEXITCODE -ne 0) { throw "mount $Device $MountPoint failed: $out" }
    $MountPoint
}

function Dismount-Path {
    # Thaws through the mount point (tolerating 'not frozen'), then unmounts it; lazily if it is busy.
    param([string] $MountPoint, [switch] $NoThaw)
    if (-not $MountPoint -or (Invoke-Quiet mountpoint -q $MountPoint) -ne 0) { return }
    if (-not $NoThaw) { Invoke-Quiet fsfreeze -u $MountPoint | Out-Null }
    if ((Invoke-Quiet umount $MountPoint) -ne 0) {
        Start-Sleep -Milliseconds 200
        if ((Invoke-Quiet umount -l $MountPoint) -ne 0) { Write-Warning "Teardown: umount $MountPoint failed" }
    }
}

function New-ScratchDirectory {
    # A fresh root-owned directory under /tmp for layouts that are not one New-LoopFilesystem.
    param([string] $Mode = '0755')
    $d = (& mktemp -d /tmp/fsx-test.XXXXXX | Select-Object -Last 1).Trim()
    if ($LASTEXITCODE -ne 0 -or -not $d) { throw 'mktemp failed' }
    & chmod $Mode $d
    $d
}

function Remove-ScratchDirectory {
    # Removes it only when nothing is mounted below it any more.
    param([string] $Path)
    if (-not $Path -or -not (Test-Path -LiteralPath $Path)) { return }
    $below = foreach ($line in [IO.File]::ReadAllLines('/proc/self/mountinfo')) {
        $mp = [regex]::Replace($line.Split(' ')[4], '\\([0-7]{3})', { param($m) [string][char][Convert]::ToInt32($m.Groups[1].Value, 8) })
        if ($mp -eq $Path -or $mp.StartsWith("$Path/")) { $mp }
    }
    if ($below) { Write-Warning "Teardown: still mounted under ${Path}: $($below -join ', ')"; return }
    Remove-Item -LiteralPath $Path -Recurse -Force -ErrorAction SilentlyContinue
}

Export-ModuleMember -Function Invoke-Quiet, Send-Signal, Wait-Condition, Assert-ProbeSafe, Test-Frozen, Invoke-OtherToolFreeze, Wait-FsThawed, Get-ErrorId,
    New-StateRoot, Reset-StateDirectory, Remove-StateRoot, Get-RegularStateFile, Get-StateWatchdogPid, Test-IsOurWatchdog,
    Get-ProcessState, Stop-Watchdog, Start-IndependentThaw, Stop-IndependentThaw, Start-Child, Start-ChildPwsh, Wait-Child,
    Stop-Child, Invoke-InRunspace, Mount-Device, Dismount-Path, New-ScratchDirectory, Remove-ScratchDirectory
