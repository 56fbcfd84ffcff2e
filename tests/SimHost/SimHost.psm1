# Simulated hosts for FsFreeze tests: a minimal Debian whose / is a loop filesystem of its own, in mount, pid and UTS
# namespaces of its own, so a test may freeze "/" of that host (whole-host freeze, fleets) without touching this
# machine's /, which holds /tmp, /work, the toolchain and the session itself.
#
# Safety rules this module keeps:
# - A host's mounts are made only inside its own mount namespace (nothing appears in this machine's mount table).
# - Its /dev is a tmpfs with mknod'd nodes; nothing of this machine is bind-mounted into it.
# - Assert-SimHostIsolated reads the host's mount table from inside and refuses (tears down, throws) when any mount is a
#   filesystem of this machine. New-SimHost runs it; Invoke-SimHost refuses a host that has not passed it.
# - Every nsenter first checks that the host's init is still the process it was (start time, mount namespace), so a
#   reused PID can never send a command into this machine's namespaces.
# - Remove-SimHost thaws every mount of the host (from inside and through /proc/PID/root) BEFORE killing its init:
#   killing the pid namespace unmounts its mounts, and an unmounted frozen filesystem stays frozen, invisibly. A loop
#   device still held after that is mounted again in a throwaway private namespace and thawed there.

Set-StrictMode -Version 3.0

$script:Here = $PSScriptRoot
$script:InitScript = Join-Path $PSScriptRoot 'simhost-init.sh'
$script:BuildScript = Join-Path $PSScriptRoot 'Build-SimHostImage.sh'
# Change this string (or anything the key covers, see Get-SimHostImageKey) and the next run builds a new image.
$script:ImageRecipe = 'fsfreeze-simhost/1 bookworm minbase openssh-server,libicu72,libssl3,ca-certificates,python3 /opt/dotnet /opt/pwsh'
$script:CacheDir = if ($env:FSFREEZE_SIMHOST_CACHE) { $env:FSFREEZE_SIMHOST_CACHE } else { '/var/cache/fsfreeze-simhost' }
$script:TempPrefix = '/tmp/fsfreeze-simhost.'
# Every host this session made, removed or not: Get-SimHostLeak looks at all of them.
$script:Created = [Collections.Generic.List[object]]::new()
$script:HostPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

#region helpers

function Invoke-BoundedProcess {
    # Runs a program with arguments passed as they are (no shell), waits at most -TimeoutSec, kills it (and its
    # children) on a timeout. A child sleeping uninterruptibly on a frozen filesystem survives the kill: the caller
    # then gets TimedOut and must thaw.
    param(
        [Parameter(Mandatory)] [string] $FilePath,
        [string[]] $ArgumentList = @(),
        [int] $TimeoutSec = 60,
        [hashtable] $Environment = @{}
    )
    $psi = [Diagnostics.ProcessStartInfo]::new($FilePath)
    foreach ($a in $ArgumentList) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.WorkingDirectory = '/'
    foreach ($k in $Environment.Keys) { $psi.Environment[$k] = [string]$Environment[$k] }
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $p = [Diagnostics.Process]::Start($psi)
    $p.StandardInput.Close()
    $out = $p.StandardOutput.ReadToEndAsync()
    $err = $p.StandardError.ReadToEndAsync()
    $timedOut = -not $p.WaitForExit([Math]::Max(1, $TimeoutSec) * 1000)
    if ($timedOut) {
        try { $p.Kill($true) } catch { }
        $null = $p.WaitForExit(5000)
    }
    # A background process that kept the pipe open must not hold us: the streams get a short bound of their own.
    $stdout = $out.Wait(2000) ? $out.Result : ''
    $stderr = $err.Wait(2000) ? $err.Result : ''
    [pscustomobject]@{
        ExitCode = ($timedOut -or -not $p.HasExited) ? -1 : $p.ExitCode
        TimedOut = $timedOut
        StdOut   = $stdout
        StdErr   = $stderr
        Lines    = @($stdout -split "`n" | ForEach-Object TrimEnd | Where-Object { $_ })
        Elapsed  = $sw.Elapsed
    }
}

function Invoke-Checked {
    # A native command that must succeed; its output is returned.
    param([Parameter(Mandatory)] [string] $FilePath, [string[]] $ArgumentList = @(), [int] $TimeoutSec = 120)
    $r = Invoke-BoundedProcess -FilePath $FilePath -ArgumentList $ArgumentList -TimeoutSec $TimeoutSec
    if ($r.ExitCode -ne 0) {
        throw "'$FilePath $($ArgumentList -join ' ')' failed ($($r.TimedOut ? 'timed out' : "exit $($r.ExitCode)")): $($r.StdErr.Trim()) $($r.StdOut.Trim())"
    }
    $r.StdOut
}

function ConvertFrom-MountInfo {
    # Lines of a mountinfo file as objects: MountId, ParentId, MajMin, Root, MountPoint, FsType, Source.
    param([string[]] $Lines)
    foreach ($line in $Lines) {
        if (-not $line) { continue }
        $f = $line.Split(' ')
        $dash = [Array]::IndexOf($f, '-')
        if ($dash -lt 6 -or $f.Count -lt $dash + 3) { continue }
        [pscustomobject]@{
            MountId    = [int]$f[0]
            ParentId   = [int]$f[1]
            MajMin     = $f[2]
            Root       = (ConvertFrom-OctalEscape $f[3])
            MountPoint = (ConvertFrom-OctalEscape $f[4])
            FsType     = $f[$dash + 1]
            Source     = (ConvertFrom-OctalEscape $f[$dash + 2])
        }
    }
}

function ConvertFrom-OctalEscape([string] $Text) {
    # mountinfo writes space, tab, newline and backslash as \ooo. Most fields have none (and a scriptblock evaluator is slow).
    if (-not $Text.Contains('\')) { return $Text }
    [regex]::Replace($Text, '\\([0-7]{3})', { param($m) [string][char][Convert]::ToInt32($m.Groups[1].Value, 8) })
}

function ConvertTo-MajMin([UInt64] $Dev) {
    # st_dev as the kernel encodes it (new_encode_dev / glibc's gnu_dev_major/minor).
    $major = (($Dev -shr 8) -band 0xfff) -bor (($Dev -shr 32) -band 0xfffff000)
    $minor = ($Dev -band 0xff) -bor (($Dev -shr 12) -band 0xffffff00)
    "${major}:${minor}"
}

function Get-ProcessStartTime([int] $ProcessId) {
    # Field 22 of /proc/PID/stat (after the parenthesised name, which may hold spaces): with the PID, a process's identity.
    try { $stat = [IO.File]::ReadAllText("/proc/$ProcessId/stat") } catch { return $null }
    $rest = $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')
    $rest[19]
}

function Get-ProcessState([int] $ProcessId) {
    # The state letter of /proc/PID/stat (R, S, D, Z, ...), $null when there is no such process.
    try { $stat = [IO.File]::ReadAllText("/proc/$ProcessId/stat") } catch { return $null }
    $stat.Substring($stat.LastIndexOf(')') + 2, 1)
}

function Get-NamespaceLink([int] $ProcessId, [string] $Kind) {
    try { [IO.FileInfo]::new("/proc/$ProcessId/ns/$Kind").LinkTarget } catch { $null }
}

function Test-SimHostInitAlive {
    # True only when the host's init is the very process New-SimHost started: same PID, start time and mount namespace.
    param([Parameter(Mandatory)] $SimHost)
    if (-not $SimHost.InitPid) { return $false }
    $st = Get-ProcessStartTime $SimHost.InitPid
    if (-not $st -or $st -ne $SimHost.InitStartTime) { return $false }
    if ((Get-ProcessState $SimHost.InitPid) -eq 'Z') { return $false }
    (Get-NamespaceLink $SimHost.InitPid 'mnt') -eq $SimHost.MountNamespace
}

function Get-LoopBackingFile([string] $Device) {
    $name = [IO.Path]::GetFileName($Device)
    try { [IO.File]::ReadAllText("/sys/block/$name/loop/backing_file").TrimEnd("`n") } catch { $null }
}

function Test-LoopAttachedToUs($Loop) {
    # True while the loop device is still bound to the image this host made (a reused number is someone else's).
    $b = Get-LoopBackingFile $Loop.Device
    $b -and ($b -eq $Loop.Image -or $b -eq "$($Loop.Image) (deleted)")
}

function Save-SimHostState($SimHost) {
    # Beside the images, so a later run can find and remove a host whose test process died (Get-SimHost -Orphaned).
    if ($SimHost.Dir -and (Test-Path -LiteralPath $SimHost.Dir)) {
        $SimHost | Select-Object -ExcludeProperty Guards | ConvertTo-Json -Depth 5 |
            Set-Content -LiteralPath (Join-Path $SimHost.Dir 'simhost.json')
    }
}

function Get-NuGetPackagesFolder {
    if ($env:NUGET_PACKAGES) { return $env:NUGET_PACKAGES }
    Join-Path ([Environment]::GetFolderPath('UserProfile')) '.nuget/packages'
}

#endregion

#region image

function Get-SimHostToolchain {
    <#
    .SYNOPSIS
        Where the .NET runtime and pwsh copied into the image come from: the machine's dotnet (DOTNET_ROOT, else the
        real path of 'dotnet') and the restored local dotnet tool 'powershell' of this repository's tool manifest.
    #>
    $dotnetRoot = $env:DOTNET_ROOT
    if (-not $dotnetRoot -or -not (Test-Path (Join-Path $dotnetRoot 'shared/Microsoft.NETCore.App'))) {
        $cmd = Get-Command dotnet -CommandType Application -ErrorAction Stop | Select-Object -First 1
        $real = (Invoke-Checked readlink -ArgumentList '-f', $cmd.Source).Trim()
        $dotnetRoot = Split-Path $real -Parent
    }
    $runtimes = @(Get-ChildItem (Join-Path $dotnetRoot 'shared/Microsoft.NETCore.App') -Directory | ForEach-Object Name | Sort-Object)
    if (-not $runtimes) { throw "No Microsoft.NETCore.App runtime under $dotnetRoot." }

    $manifest = Join-Path $script:Here '../../.config/dotnet-tools.json'
    $pwshDir = $null
    $pwshVersion = $null
    if (Test-Path $manifest) {
        $pwshVersion = (Get-Content $manifest -Raw | ConvertFrom-Json).tools.powershell.version
        $base = Join-Path (Get-NuGetPackagesFolder) "powershell/$pwshVersion/tools"
        $dll = Get-ChildItem $base -Filter pwsh.dll -Recurse -ErrorAction SilentlyContinue |
            Where-Object { $_.Directory.Name -eq 'unix' } | Select-Object -First 1
        if ($dll) { $pwshDir = $dll.DirectoryName }
    }
    if (-not $pwshDir) {
        # Not restored where the manifest says: the pwsh running this (under 'dotnet pwsh', the same tool folder).
        if (-not (Test-Path (Join-Path $PSHOME 'pwsh.dll'))) { throw "No pwsh tool folder found: run 'dotnet tool restore' (bash .ci/setup)." }
        $pwshDir = $PSHOME
        $pwshVersion = $PSVersionTable.PSVersion.ToString()
    }
    [pscustomobject]@{
        DotnetRoot  = $dotnetRoot
        Runtimes    = $runtimes
        PwshDir     = (Resolve-Path $pwshDir).ProviderPath
        PwshVersion = $pwshVersion
    }
}

function Get-SimHostImageKey {
    # A short hash over the recipe, the build script and the versions copied in: the cache's file name.
    param($Toolchain = (Get-SimHostToolchain))
    $text = @(
        $script:ImageRecipe
        [IO.File]::ReadAllText($script:BuildScript)
        "runtime=$($Toolchain.Runtimes -join ',')"
        "pwsh=$($Toolchain.PwshVersion) $($Toolchain.PwshDir)"
    ) -join "`n"
    $hash = [Security.Cryptography.SHA256]::HashData([Text.Encoding]::UTF8.GetBytes($text))
    [Convert]::ToHexString($hash).Substring(0, 16).ToLowerInvariant()
}

function Initialize-SimHostImage {
    <#
    .SYNOPSIS
        Returns the cached root filesystem tarball of the simulated hosts, building it first when missing (about 30 s:
        mmdebstrap from the Debian mirror apt uses, plus the .NET runtime and pwsh). Cached under
        /var/cache/fsfreeze-simhost (FSFREEZE_SIMHOST_CACHE overrides), keyed by Get-SimHostImageKey.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([int] $TimeoutSec = 600)
    $tc = Get-SimHostToolchain
    $key = Get-SimHostImageKey $tc
    $path = Join-Path $script:CacheDir "rootfs-$key.tar.zst"
    if (Test-Path -LiteralPath $path) { return $path }
    Write-Host "SimHost: building the root filesystem image $path (once; about 30 s)"
    $r = Invoke-BoundedProcess -FilePath '/bin/bash' -TimeoutSec $TimeoutSec -ArgumentList @(
        $script:BuildScript, $path, $tc.DotnetRoot, $tc.PwshDir, "$key $($script:ImageRecipe)")
    if ($r.ExitCode -ne 0 -or -not (Test-Path -LiteralPath $path)) {
        throw "Building the simulated host image failed ($($r.TimedOut ? 'timed out' : "exit $($r.ExitCode)")): $($r.StdErr.Trim()) $($r.StdOut.Trim())"
    }
    Write-Host "SimHost: $($r.StdOut.Trim()) (wall $([int]$r.Elapsed.TotalSeconds) s)"
    $path
}

#endregion

#region hosts

function New-SimHost {
    <#
    .SYNOPSIS
        Starts a simulated host: its / a fresh loop filesystem filled from the cached image, optional data loop
        filesystems, the FsFreeze module under /opt/fsfreeze/FsFreeze, in new mount, pid and UTS namespaces.
        Returns the host after Assert-SimHostIsolated passed; on any failure it is torn down and the error thrown.
    .PARAMETER DataFilesystem
        One filesystem per entry, mounted inside the host at /data1, /data2, ...
    .PARAMETER ModulePath
        The built module folder (out/FsFreeze), copied into the host as /opt/fsfreeze/FsFreeze; /opt/fsfreeze is on
        the host pwsh's PSModulePath, so 'Import-Module FsFreeze' works there.
    .PARAMETER NetNs
        A network namespace file for the host to live in (/run/netns/NAME from 'ip netns add', or /proc/PID/ns/net);
        with one, the host also gets its own read-only sysfs. Without, it shares this machine's network.
    .PARAMETER ImageDirectory
        Where the host's disk images go (a directory of their own is made there, named after the host's temp
        directory, and removed with the host): for example a shared "storage" filesystem, so that reflink copies of
        every host's images can be taken there (a fleet's storage array). Default: the host's temp directory.
    .PARAMETER UnsafeTestBindMount
        For the harness's own tests only: a directory of THIS machine bind-mounted into the host at /mnt/this-machine,
        which the isolation check must refuse. Never freeze anything in such a host (New-SimHost throws anyway).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)] [ValidatePattern('^[a-z][a-z0-9-]{0,62}$')] [string] $Name,
        [string] $ModulePath,
        [ValidateSet('ext4', 'xfs', 'btrfs')] [string[]] $DataFilesystem = @(),
        [ValidateSet('ext4', 'xfs', 'btrfs')] [string] $RootFilesystem = 'ext4',
        [ValidateRange(1, 64)] [int] $RootSizeGB = 3,
        [ValidateRange(128, 65536)] [int] $DataSizeMB = 320,
        [string] $NetNs,
        [string] $ImageDirectory,
        [string] $UnsafeTestBindMount,
        [int] $StartTimeoutSec = 120
    )
    if ((Invoke-Checked id -ArgumentList '-u').Trim() -ne '0') { throw 'Simulated hosts need root (loop devices, namespaces).' }
    if ($ModulePath -and -not (Test-Path -LiteralPath (Join-Path $ModulePath 'FsFreeze.psd1'))) { throw "No FsFreeze.psd1 in -ModulePath '$ModulePath'." }
    if ($NetNs -and -not (Test-Path -LiteralPath $NetNs)) { throw "No network namespace file '$NetNs'." }
    if ($ImageDirectory -and -not (Test-Path -LiteralPath $ImageDirectory -PathType Container)) { throw "No directory '$ImageDirectory' for the images." }
    if ($UnsafeTestBindMount -and -not (Test-Path -LiteralPath $UnsafeTestBindMount -PathType Container)) { throw "No directory '$UnsafeTestBindMount'." }
    $image = Initialize-SimHostImage
    $sw = [Diagnostics.Stopwatch]::StartNew()

    $dir = (Invoke-Checked mktemp -ArgumentList '-d', "$($script:TempPrefix)XXXXXX").Trim()
    $h = [pscustomobject]@{
        PSTypeName     = 'FsFreeze.Test.SimHost'
        Name           = $Name
        Dir            = $dir
        ImageDir       = $ImageDirectory ? (Join-Path (Resolve-Path -LiteralPath $ImageDirectory).ProviderPath (Split-Path $dir -Leaf)) : $null
        RootFilesystem = $RootFilesystem
        Loops          = [Collections.Generic.List[object]]::new()
        MountPoints    = [Collections.Generic.List[string]]::new()   # the host's freezable filesystems, inside paths
        NetNs          = $NetNs
        Owner          = $PID
        OwnerStartTime = (Get-ProcessStartTime $PID)
        UnsharePid     = 0
        UnshareStartTime = $null
        InitPid        = 0
        InitStartTime  = $null
        MountNamespace = $null
        PidNamespace   = $null
        Isolated       = $false
        Removed        = $false
        Guards         = [Collections.Generic.List[object]]::new()
        StartTime      = $null
    }
    $script:Created.Add($h)
    try {
        if ($h.ImageDir) { $null = New-Item -ItemType Directory -Path $h.ImageDir }
        $root = New-SimHostLoop $h -Role 'root' -Type $RootFilesystem -Size "${RootSizeGB}G" -MountPoint '/'
        $data = @()
        $i = 0
        foreach ($t in $DataFilesystem) {
            $i++
            $l = New-SimHostLoop $h -Role "data$i" -Type $t -Size "${DataSizeMB}M" -MountPoint "/data$i"
            $data += "$($l.Device) $($l.MountPoint)"
        }
        $stage = Join-Path $dir 'stage'
        $null = New-Item -ItemType Directory -Path $stage
        $log = Join-Path $dir 'init.log'

        $envs = @{
            SIMHOST_NAME     = $Name
            SIMHOST_STAGE    = $stage
            SIMHOST_ROOT_DEV = $root.Device
            SIMHOST_ROOTFS   = $image
            SIMHOST_MODULE   = $ModulePath ? (Resolve-Path -LiteralPath $ModulePath).ProviderPath : ''
            SIMHOST_DATA     = ($data -join "`n")
            SIMHOST_LOOPS    = (@($h.Loops | ForEach-Object Device) -join ' ')
            SIMHOST_SYSFS    = $NetNs ? '1' : '0'
            SIMHOST_TEST_BIND = $UnsafeTestBindMount ? "$UnsafeTestBindMount /mnt/this-machine" : ''
            SIMHOST_LOG      = $log
        }
        # sh only to redirect into the log; it execs setsid, which execs unshare: the PID we get is unshare's.
        # setsid: a session of its own, so a Ctrl+C or a killed process group of the test run cannot end the host
        # halfway (its end must go through Remove-SimHost, which thaws first).
        $argv = @('-c', 'exec setsid "$@" >"$SIMHOST_LOG" 2>&1 </dev/null', 'sh')
        if ($NetNs) { $argv += @('nsenter', "--net=$NetNs") }
        $argv += @('unshare', '--mount', '--pid', '--uts', '--fork', '--propagation', 'private', '/bin/bash', $script:InitScript)
        $psi = [Diagnostics.ProcessStartInfo]::new('/bin/sh')
        foreach ($a in $argv) { $psi.ArgumentList.Add($a) }
        $psi.UseShellExecute = $false
        $psi.WorkingDirectory = '/'
        foreach ($k in $envs.Keys) { $psi.Environment[$k] = $envs[$k] }
        $p = [Diagnostics.Process]::Start($psi)
        $h.UnsharePid = $p.Id
        $h.UnshareStartTime = Get-ProcessStartTime $p.Id
        Save-SimHostState $h

        # Ready when the init script says so; a dead unshare means it failed (its log says why).
        $deadline = [DateTime]::UtcNow.AddSeconds($StartTimeoutSec)
        $ready = $false
        $findInit = {
            # unshare --fork: the init is unshare's only child.
            $children = $h.InitPid ? '' : $(try { [IO.File]::ReadAllText("/proc/$($p.Id)/task/$($p.Id)/children").Trim() } catch { '' })
            if ($children) {
                $h.InitPid = [int]($children.Split(' ')[0])
                $h.InitStartTime = Get-ProcessStartTime $h.InitPid
                Save-SimHostState $h
            }
        }
        while ([DateTime]::UtcNow -lt $deadline) {
            . $findInit
            if ((Test-Path -LiteralPath $log) -and ([IO.File]::ReadAllText($log) -match '(?m)^SIMHOST-READY$')) { $ready = $true; . $findInit; break }
            if ($p.HasExited) { break }
            Start-Sleep -Milliseconds 50
        }
        if (-not $ready) {
            $text = (Test-Path -LiteralPath $log) ? [IO.File]::ReadAllText($log).Trim() : ''
            throw "Simulated host '$Name' did not start$($p.HasExited ? " (exit $($p.ExitCode))" : " within $StartTimeoutSec s"): $text"
        }
        $h.MountNamespace = Get-NamespaceLink $h.InitPid 'mnt'
        $h.PidNamespace = Get-NamespaceLink $h.InitPid 'pid'
        if (-not $h.MountNamespace -or $h.MountNamespace -eq (Get-NamespaceLink $PID 'mnt')) {
            throw "Simulated host '$Name': its init $($h.InitPid) is not in a mount namespace of its own."
        }
        if (-not $h.PidNamespace -or $h.PidNamespace -eq (Get-NamespaceLink $PID 'pid')) {
            throw "Simulated host '$Name': its init $($h.InitPid) is not in a pid namespace of its own."
        }
        $h.StartTime = $sw.Elapsed
        Save-SimHostState $h
        Assert-SimHostIsolated -SimHost $h
        Save-SimHostState $h
        $h
    }
    catch {
        $failure = $_
        try { Remove-SimHost -SimHost $h }
        catch { throw "$failure`nAnd its teardown failed: $_" }
        throw $failure
    }
}

function New-SimHostLoop {
    # An image file, mkfs, and a loop device of our own (losetup -f --show): recorded in the host before anything else.
    param($SimHost, [string] $Role, [string] $Type, [string] $Size, [string] $MountPoint)
    $img = Join-Path ($SimHost.ImageDir ? $SimHost.ImageDir : $SimHost.Dir) "$Role.img"
    Invoke-Checked truncate -ArgumentList '-s', $Size, $img | Out-Null
    switch ($Type) {
        # Inode tables and journal initialised now, so no lazy-init writer runs in the host behind a test's freeze.
        'ext4' { Invoke-Checked mkfs.ext4 -ArgumentList '-q', '-F', '-L', $Role, '-E', 'lazy_itable_init=0,lazy_journal_init=0', $img | Out-Null }
        'xfs' { Invoke-Checked mkfs.xfs -ArgumentList '-q', '-f', '-L', $Role, $img | Out-Null }
        'btrfs' { Invoke-Checked mkfs.btrfs -ArgumentList '-q', '-f', '-L', $Role, $img | Out-Null }
    }
    $dev = (Invoke-Checked losetup -ArgumentList '-f', '--show', $img).Trim()
    $majmin = [IO.File]::ReadAllText("/sys/block/$([IO.Path]::GetFileName($dev))/dev").Trim()
    $loop = [pscustomobject]@{ Role = $Role; Type = $Type; Image = $img; Device = $dev; MajMin = $majmin; MountPoint = $MountPoint }
    $SimHost.Loops.Add($loop)
    $SimHost.MountPoints.Add($MountPoint)
    Save-SimHostState $SimHost
    $loop
}

function Test-SimHostMountTable {
    <#
    .SYNOPSIS
        The isolation rules, on mount tables given as text: returns the problems found (none = isolated).
    .PARAMETER HostMountInfo
        The host's /proc/self/mountinfo, read inside the host.
    .PARAMETER MachineMountInfo
        This machine's mountinfo lines (of this process and of PID 1).
    .PARAMETER MachineRootDev
        maj:min of this machine's / (stat).
    .PARAMETER HostRootDev
        maj:min of the host's / as stat inside the host gives it.
    .PARAMETER Loops
        The host's own loop devices: objects with Device (/dev/loopN), MajMin and MountPoint ('/' for the root).
    #>
    param(
        [string[]] $HostMountInfo,
        [string[]] $MachineMountInfo,
        [Parameter(Mandatory)] [string] $MachineRootDev,
        [string] $HostRootDev,
        [Parameter(Mandatory)] [object[]] $Loops
    )
    $problems = [Collections.Generic.List[string]]::new()
    $inside = @(ConvertFrom-MountInfo $HostMountInfo)
    $outside = @(ConvertFrom-MountInfo $MachineMountInfo)
    $ownDevs = @($Loops | ForEach-Object MajMin)
    $ownSources = @($Loops | ForEach-Object Device)
    $rootLoop = $Loops | Where-Object MountPoint -EQ '/' | Select-Object -First 1

    # This machine's filesystems: every device in its mount tables and its /, less the host's own loop devices.
    $machineDevs = @{}
    foreach ($m in $outside) { if ($m.MajMin -notin $ownDevs -and -not $machineDevs.ContainsKey($m.MajMin)) { $machineDevs[$m.MajMin] = $m } }
    $machineRoot = [pscustomobject]@{ MountPoint = '/'; FsType = '?'; Source = '?' }
    if (-not $machineDevs.ContainsKey($MachineRootDev)) { $machineDevs[$MachineRootDev] = $machineRoot }

    if (-not $inside) { $problems.Add('the host shows no mount table') }
    foreach ($m in $inside) {
        $what = "'$($m.MountPoint)' ($($m.FsType) from $($m.Source), device $($m.MajMin))"
        if ($machineDevs.ContainsKey($m.MajMin)) {
            $o = $machineDevs[$m.MajMin]
            $problems.Add("$what is a filesystem of this machine (mounted at '$($o.MountPoint)' here)")
            continue
        }
        $major = [int]($m.MajMin.Split(':')[0])
        if ($major -ne 0 -and $m.MajMin -notin $ownDevs) {
            $problems.Add("$what is a block device that is not one of the host's own loop devices")
            continue
        }
        # A path as source means a block device (btrfs shows an anonymous 0:N device, so the source is what tells).
        if ($m.Source.StartsWith('/') -and $m.Source -notin $ownSources) {
            $problems.Add("$what comes from a device that is not one of the host's own loop devices")
        }
    }
    $hostRoot = $inside | Where-Object MountPoint -EQ '/' | Select-Object -Last 1
    if (-not $rootLoop) { $problems.Add('the host has no root loop device') }
    elseif (-not $hostRoot) { $problems.Add('the host has no / in its mount table') }
    else {
        if ($hostRoot.Source -ne $rootLoop.Device) { $problems.Add("the host's / comes from '$($hostRoot.Source)', not its root loop device $($rootLoop.Device)") }
        $rootMajor = [int]($hostRoot.MajMin.Split(':')[0])
        if ($rootMajor -ne 0 -and $hostRoot.MajMin -ne $rootLoop.MajMin) { $problems.Add("the host's / is device $($hostRoot.MajMin), not its root loop device $($rootLoop.MajMin)") }
        if ($HostRootDev) {
            # btrfs gives files the anonymous device of their subvolume, not the one mountinfo shows: compare only
            # a block device's number, and check any number against this machine's devices.
            if ($HostRootDev -eq $MachineRootDev) { $problems.Add("the host's / is this machine's / (device $HostRootDev)") }
            elseif ($machineDevs.ContainsKey($HostRootDev)) { $problems.Add("stat of the host's / says device $HostRootDev, a filesystem of this machine (mounted at '$($machineDevs[$HostRootDev].MountPoint)' here)") }
            elseif ($rootMajor -ne 0 -and $HostRootDev -ne $hostRoot.MajMin) { $problems.Add("stat of the host's / says device $HostRootDev, its mount table $($hostRoot.MajMin)") }
        }
    }
    , $problems.ToArray()
}

function Assert-SimHostIsolated {
    <#
    .SYNOPSIS
        Refuses a host that shows any filesystem of this machine: reads the host's /proc/self/mountinfo and the device of
        its / from inside (nsenter), compares with this machine's mount tables and /; on any problem tears the host
        down (Remove-SimHost) and throws. Passing sets the host's Isolated flag, which Invoke-SimHost requires.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0, ValueFromPipeline)] [Alias('Host')] $SimHost)
    process {
        $problems = [Collections.Generic.List[string]]::new()
        $SimHost.Isolated = $false
        if (-not (Test-SimHostInitAlive $SimHost)) { $problems.Add("its init (PID $($SimHost.InitPid)) is not running") }
        else {
            $myMnt = Get-NamespaceLink $PID 'mnt'
            $r = Invoke-SimHostRaw $SimHost -TimeoutSec 30 -Program '/bin/sh' -Arguments '-c', 'readlink /proc/self/ns/mnt && stat -c %d / && cat /proc/self/mountinfo'
            if ($r.ExitCode -ne 0) { $problems.Add("reading its mount table failed (exit $($r.ExitCode)): $($r.StdErr.Trim())") }
            else {
                $lines = $r.StdOut -split "`n"
                $insideNs = $lines[0].Trim()
                $hostRootDev = ConvertTo-MajMin ([UInt64]$lines[1].Trim())
                if ($insideNs -eq $myMnt) { $problems.Add("the command ran in this machine's mount namespace ($insideNs)") }
                elseif ($insideNs -ne $SimHost.MountNamespace) { $problems.Add("the command ran in mount namespace $insideNs, not the host's $($SimHost.MountNamespace)") }
                $machine = @([IO.File]::ReadAllLines('/proc/self/mountinfo'))
                try { $machine += [IO.File]::ReadAllLines('/proc/1/mountinfo') } catch { }
                $machineRootDev = ConvertTo-MajMin ([UInt64](Invoke-Checked stat -ArgumentList '-c', '%d', '/').Trim())
                foreach ($p in (Test-SimHostMountTable -HostMountInfo ($lines | Select-Object -Skip 2) -MachineMountInfo $machine `
                            -MachineRootDev $machineRootDev -HostRootDev $hostRootDev -Loops @($SimHost.Loops))) { $problems.Add($p) }
            }
        }
        if ($problems.Count) {
            $message = "Simulated host '$($SimHost.Name)' is not isolated from this machine; refusing it: " + ($problems -join '; ')
            try { Remove-SimHost -SimHost $SimHost }
            catch { $message += " (and its teardown failed: $_)" }
            throw $message
        }
        $SimHost.Isolated = $true
    }
}

function Invoke-SimHostRaw {
    # nsenter into the host (mount, pid, UTS, and network when it has one) and run a program with a clean environment.
    # The host's init is checked first, so a PID that now belongs to another process is never entered.
    param($SimHost, [string] $Program, [string[]] $Arguments = @(), [int] $TimeoutSec = 60, [hashtable] $Environment = @{})
    if (-not (Test-SimHostInitAlive $SimHost)) { throw "Simulated host '$($SimHost.Name)' is not running (its init $($SimHost.InitPid) is gone)." }
    $envPairs = [ordered]@{ PATH = $script:HostPath; HOME = '/root'; TERM = 'dumb'; LANG = 'C.UTF-8' }
    foreach ($k in $Environment.Keys) { $envPairs[$k] = [string]$Environment[$k] }
    $argv = @('-t', [string]$SimHost.InitPid, '-m', '-p', '-u')
    if ($SimHost.NetNs) { $argv += '-n' }
    $argv += @('-r', '-w', '--', '/usr/bin/env', '-i')
    foreach ($k in $envPairs.Keys) { $argv += "$k=$($envPairs[$k])" }
    $argv += $Program
    $argv += $Arguments
    Invoke-BoundedProcess -FilePath 'nsenter' -ArgumentList $argv -TimeoutSec $TimeoutSec
}

function Assert-SimHostUsable($SimHost) {
    if ($SimHost.Removed) { throw "Simulated host '$($SimHost.Name)' was removed." }
    if (-not $SimHost.Isolated) { throw "Simulated host '$($SimHost.Name)' has not passed Assert-SimHostIsolated: refusing to run anything in it." }
}

function Invoke-SimHost {
    <#
    .SYNOPSIS
        Runs a bash command inside the host (nsenter), bounded by -TimeoutSec; returns ExitCode, StdOut, StdErr, Lines,
        TimedOut. -Check throws when the exit code is not 0. A command still blocked at the timeout (for example a
        write to a frozen filesystem) is left to the thaw; TimedOut says so.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)] [Alias('Host')] $SimHost,
        [Parameter(Mandatory, Position = 1)] [string] $Command,
        [int] $TimeoutSec = 60,
        [hashtable] $Environment = @{},
        [switch] $Check
    )
    Assert-SimHostUsable $SimHost
    $r = Invoke-SimHostRaw $SimHost -Program '/bin/bash' -Arguments '-c', $Command -TimeoutSec $TimeoutSec -Environment $Environment
    if ($Check -and $r.ExitCode -ne 0) {
        throw "In simulated host '$($SimHost.Name)': '$Command' failed ($($r.TimedOut ? 'timed out' : "exit $($r.ExitCode)")): $($r.StdErr.Trim()) $($r.StdOut.Trim())"
    }
    $r
}

function Invoke-SimHostPwsh {
    <#
    .SYNOPSIS
        Runs pwsh inside the host: DOTNET_ROOT=/opt/dotnet /opt/dotnet/dotnet /opt/pwsh/pwsh.dll -NoProfile
        -NonInteractive -Command ..., with /opt/fsfreeze on PSModulePath (Import-Module FsFreeze). Same result as Invoke-SimHost.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)] [Alias('Host')] $SimHost,
        [Parameter(Mandatory, Position = 1)] [string] $Command,
        [int] $TimeoutSec = 120,
        [hashtable] $Environment = @{},
        [switch] $Check
    )
    Assert-SimHostUsable $SimHost
    $envs = @{
        DOTNET_ROOT                 = '/opt/dotnet'
        PSModulePath                = '/opt/fsfreeze'
        DOTNET_CLI_TELEMETRY_OPTOUT = '1'
        POWERSHELL_TELEMETRY_OPTOUT = '1'
        POWERSHELL_UPDATECHECK      = 'Off'
        NO_COLOR                    = '1'
    }
    foreach ($k in $Environment.Keys) { $envs[$k] = $Environment[$k] }
    $r = Invoke-SimHostRaw $SimHost -Program '/opt/dotnet/dotnet' -Environment $envs -TimeoutSec $TimeoutSec `
        -Arguments '/opt/pwsh/pwsh.dll', '-NoProfile', '-NonInteractive', '-Command', $Command
    if ($Check -and $r.ExitCode -ne 0) {
        throw "pwsh in simulated host '$($SimHost.Name)' failed ($($r.TimedOut ? 'timed out' : "exit $($r.ExitCode)")): $($r.StdErr.Trim()) $($r.StdOut.Trim())"
    }
    $r
}

#endregion

#region thaw and teardown

function Start-SimHostThawGuard {
    <#
    .SYNOPSIS
        An independent thaw behind a freeze: a process in a session of its own that sleeps -AfterSec seconds, then
        thaws every filesystem of the host (nsenter -t PID -m fsfreeze -u, and fsfreeze -u /proc/PID/root/MP from
        outside), tolerating "not frozen", and only if the host's init is still the same process. Start it BEFORE
        the freeze. Remove-SimHost stops the host's guards; Stop-SimHostThawGuard stops one early.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0)] [Alias('Host')] $SimHost, [ValidateRange(1, 3600)] [int] $AfterSec = 30)
    Assert-SimHostUsable $SimHost
    $script = @'
sleep "$1"
pid=$2 ns=$3
shift 3
[ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$ns" ] || exit 0
for mp in "$@"; do
  nsenter -t "$pid" -m fsfreeze -u "$mp" 2>/dev/null
  fsfreeze -u "/proc/$pid/root$mp" 2>/dev/null
done
exit 0
'@
    $psi = [Diagnostics.ProcessStartInfo]::new('setsid')
    foreach ($a in @('/bin/sh', '-c', $script, 'simhost-thaw-guard', [string]$AfterSec, [string]$SimHost.InitPid, $SimHost.MountNamespace) + @($SimHost.MountPoints)) {
        $psi.ArgumentList.Add($a)
    }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.WorkingDirectory = '/'
    $p = [Diagnostics.Process]::Start($psi)
    $p.StandardInput.Close()
    $guard = [pscustomobject]@{ PSTypeName = 'FsFreeze.Test.SimHostThawGuard'; Pid = $p.Id; StartTime = (Get-ProcessStartTime $p.Id); Process = $p; ThawAt = [DateTime]::Now.AddSeconds($AfterSec) }
    $SimHost.Guards.Add($guard)
    $guard
}

function Stop-SimHostThawGuard {
    # Ends a guard (its process group: the shell and its sleep), if it is still the process we started.
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0, ValueFromPipeline)] $Guard)
    process {
        if ($Guard.StartTime -and (Get-ProcessStartTime $Guard.Pid) -eq $Guard.StartTime) {
            # setsid ran as a child that is no group leader, so it did not fork: the guard's PID is its process group
            # (the shell and its sleep). Checked, so a kill never reaches a group that is not the guard's.
            $stat = try { [IO.File]::ReadAllText("/proc/$($Guard.Pid)/stat") } catch { '' }
            $pgrp = $stat ? $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')[2] : ''
            if ($pgrp -eq [string]$Guard.Pid) { & kill -KILL -- "-$($Guard.Pid)" 2>$null }
            else { & kill -KILL $Guard.Pid 2>$null }
        }
        if ($Guard.Process) { $null = $Guard.Process.WaitForExit(5000) }
    }
}

function Invoke-SimHostThaw {
    <#
    .SYNOPSIS
        Thaws every mount of the host now (tolerating "not frozen"): from inside with the host's fsfreeze, and from
        outside through /proc/PID/root of the init or, when it is gone, of any process left in the host's pid namespace.
        Mounts nothing. Returns the mount points that were frozen and are thawed now.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0)] [Alias('Host')] $SimHost)
    $thawed = [Collections.Generic.List[string]]::new()
    $pids = @()
    if (Test-SimHostInitAlive $SimHost) { $pids = @($SimHost.InitPid) }
    elseif ($SimHost.PidNamespace) { $pids = @(Get-SimHostProcess $SimHost) }
    foreach ($p in $pids) {
        $mounts = @(try { ConvertFrom-MountInfo ([IO.File]::ReadAllLines("/proc/$p/mountinfo")) } catch { })
        if (-not $mounts) { continue }
        if ((Get-NamespaceLink $p 'mnt') -ne $SimHost.MountNamespace) { continue }
        foreach ($m in $mounts) {
            if ($m.FsType -in 'proc', 'tmpfs', 'sysfs', 'devpts', 'cgroup', 'cgroup2') { continue }
            if ($p -eq $SimHost.InitPid) {
                $r = Invoke-BoundedProcess -FilePath 'nsenter' -ArgumentList '-t', [string]$p, '-m', 'fsfreeze', '-u', $m.MountPoint -TimeoutSec 15
                if ($r.ExitCode -eq 0) { $thawed.Add($m.MountPoint) }
            }
            $r = Invoke-BoundedProcess -FilePath 'fsfreeze' -ArgumentList '-u', "/proc/$p/root$($m.MountPoint)" -TimeoutSec 15
            if ($r.ExitCode -eq 0) { $thawed.Add($m.MountPoint) }
        }
        break
    }
    , $thawed.ToArray()
}

function Get-SimHostProcess {
    # PIDs (as this machine sees them) of the processes in the host's pid namespace.
    param($SimHost)
    if (-not $SimHost.PidNamespace) { return }
    foreach ($d in [IO.Directory]::GetDirectories('/proc')) {
        $name = [IO.Path]::GetFileName($d)
        if ($name -notmatch '^\d+$') { continue }
        if ((Get-NamespaceLink ([int]$name) 'pid') -eq $SimHost.PidNamespace) { [int]$name }
    }
}

function Wait-Until([scriptblock] $Condition, [int] $TimeoutMs, [int] $IntervalMs = 50) {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    while ($true) {
        if (& $Condition) { return $true }
        if ($sw.ElapsedMilliseconds -ge $TimeoutMs) { return $false }
        Start-Sleep -Milliseconds $IntervalMs
    }
}

function Remove-SimHost {
    <#
    .SYNOPSIS
        Tears a host down, also after failures and also a half-made one: stops its thaw guards, thaws every mount
        (Invoke-SimHostThaw), kills its init (the pid namespace goes with it), waits bounded, detaches its loop
        devices (a loop still held by an unmounted frozen filesystem is mounted in a throwaway private namespace,
        thawed and unmounted), and deletes its temp directory. Throws when something is left behind.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0, ValueFromPipeline)] [Alias('Host')] $SimHost)
    process {
        $problems = [Collections.Generic.List[string]]::new()

        # 1. Thaw while the mounts still exist.
        $null = Invoke-SimHostThaw $SimHost

        # 2. Kill the pid namespace's init: the kernel kills everything in it. A writer asleep on a frozen filesystem
        #    holds the namespace until a thaw, so thaw again through whatever is left before giving up.
        if (Test-SimHostInitAlive $SimHost) { & kill -KILL $SimHost.InitPid 2>$null }
        $gone = { -not @(Get-SimHostProcess $SimHost) }
        if ($SimHost.PidNamespace -and -not (Wait-Until $gone 10000)) {
            $null = Invoke-SimHostThaw $SimHost
            if (-not (Wait-Until $gone 20000)) { $problems.Add("processes of its pid namespace are still running: $(@(Get-SimHostProcess $SimHost) -join ', ')") }
        }
        if ($SimHost.UnsharePid -and (Get-ProcessStartTime $SimHost.UnsharePid) -eq $SimHost.UnshareStartTime) {
            # unshare waits for the init and exits with it; a host that never got an init leaves it to us.
            if (-not (Wait-Until { (Get-ProcessStartTime $SimHost.UnsharePid) -ne $SimHost.UnshareStartTime -or (Get-ProcessState $SimHost.UnsharePid) -eq 'Z' } 5000)) {
                & kill -KILL $SimHost.UnsharePid 2>$null
                if (-not (Wait-Until { (Get-ProcessStartTime $SimHost.UnsharePid) -ne $SimHost.UnshareStartTime -or (Get-ProcessState $SimHost.UnsharePid) -eq 'Z' } 5000)) {
                    $problems.Add("its unshare process $($SimHost.UnsharePid) is still running")
                }
            }
        }

        # 3. Detach the loop devices. The namespace's mounts go with its last process, the superblocks a moment later.
        $loops = @($SimHost.Loops)
        foreach ($l in $loops) { if (Test-LoopAttachedToUs $l) { & losetup -d $l.Device 2>$null } }
        $detached = { -not @($loops | Where-Object { Test-LoopAttachedToUs $_ }) }
        if (-not (Wait-Until $detached 5000)) {
            foreach ($l in @($loops | Where-Object { Test-LoopAttachedToUs $_ })) {
                # Still held: most likely an unmounted filesystem that stayed frozen. Mounting the device again reaches the
                # same superblock; thaw it there, in a private mount namespace nobody else sees, and let it go.
                $rescue = Join-Path $SimHost.Dir "rescue-$($l.Role)"
                $null = New-Item -ItemType Directory -Path $rescue -Force
                $r = Invoke-BoundedProcess -FilePath 'unshare' -TimeoutSec 30 -ArgumentList '--mount', '--propagation', 'private', '/bin/sh', '-c',
                'mount "$1" "$2" || exit 1; fsfreeze -u "$2"; umount "$2"', 'rescue', $l.Device, $rescue
                if ($r.ExitCode -ne 0) { Write-Warning "SimHost '$($SimHost.Name)': rescuing $($l.Device) failed: $($r.StdErr.Trim())" }
                & losetup -d $l.Device 2>$null
            }
            if (-not (Wait-Until $detached 10000)) {
                $problems.Add("loop devices still attached: $(@($loops | Where-Object { Test-LoopAttachedToUs $_ } | ForEach-Object Device) -join ', ')")
            }
        }

        # 4. Nothing of ours may be mounted on this machine; then the directory goes.
        if ($SimHost.Dir) {
            $prefix = "$($SimHost.Dir)/"
            $ours = @(ConvertFrom-MountInfo ([IO.File]::ReadAllLines('/proc/self/mountinfo')) | Where-Object { $_.MountPoint.StartsWith($prefix) -or $_.MountPoint -eq $SimHost.Dir })
            if ($ours) { $problems.Add("mounts under its directory: $(@($ours | ForEach-Object MountPoint) -join ', ')") }
            elseif (-not $problems.Count -and (Test-Path -LiteralPath $SimHost.Dir)) {
                Remove-Item -LiteralPath $SimHost.Dir -Recurse -Force
            }
        }
        # Images kept elsewhere (-ImageDirectory) go once no loop device holds them.
        if (-not $problems.Count -and $SimHost.PSObject.Properties['ImageDir'] -and $SimHost.ImageDir -and (Test-Path -LiteralPath $SimHost.ImageDir)) {
            Remove-Item -LiteralPath $SimHost.ImageDir -Recurse -Force
        }
        # 5. The thaw guards last: while anything above failed, they are still behind the host.
        if (-not $problems.Count) { foreach ($g in @($SimHost.Guards)) { Stop-SimHostThawGuard $g } }
        $SimHost.Isolated = $false
        if ($problems.Count) {
            throw "Removing simulated host '$($SimHost.Name)' left things behind: $($problems -join '; ')"
        }
        $SimHost.Removed = $true
    }
}

function Get-SimHostLeak {
    <#
    .SYNOPSIS
        What the given hosts (default: every host this session made) left behind: loop devices still bound to their
        images, processes of their pid namespaces, their unshare process, mounts under or their temp directories.
        Empty when everything is gone.
    #>
    [CmdletBinding()]
    param([Parameter(Position = 0, ValueFromPipeline)] [Alias('Host')] $SimHost)
    begin { $all = [Collections.Generic.List[object]]::new() }
    process { if ($SimHost) { $all.Add($SimHost) } }
    end {
        if (-not $all.Count) { $all.AddRange($script:Created) }
        $mounts = @(ConvertFrom-MountInfo ([IO.File]::ReadAllLines('/proc/self/mountinfo')))
        foreach ($h in $all) {
            foreach ($l in @($h.Loops)) { if (Test-LoopAttachedToUs $l) { "$($h.Name): loop device $($l.Device) still attached to $($l.Image)" } }
            # Only while the host is not removed: Remove-SimHost saw its pid namespace empty, and the kernel hands a dead
            # namespace's inode number to the next namespace made (measured: within a second), so a later match would be
            # another host's or container's processes, not a leak of this one.
            if (-not $h.Removed) { foreach ($p in @(Get-SimHostProcess $h)) { "$($h.Name): process $p of its pid namespace is running" } }
            if ($h.UnsharePid -and $h.UnshareStartTime -and (Get-ProcessStartTime $h.UnsharePid) -eq $h.UnshareStartTime -and (Get-ProcessState $h.UnsharePid) -ne 'Z') {
                "$($h.Name): its unshare process $($h.UnsharePid) is running"
            }
            foreach ($g in @($h.Guards)) {
                if ($g.StartTime -and (Get-ProcessStartTime $g.Pid) -eq $g.StartTime -and (Get-ProcessState $g.Pid) -ne 'Z') { "$($h.Name): thaw guard $($g.Pid) is running" }
            }
            if ($h.Dir) {
                foreach ($m in $mounts) { if ($m.MountPoint.StartsWith("$($h.Dir)/") -or $m.MountPoint -eq $h.Dir) { "$($h.Name): $($m.MountPoint) is mounted" } }
                if (Test-Path -LiteralPath $h.Dir) { "$($h.Name): directory $($h.Dir) exists" }
            }
            if ($h.PSObject.Properties['ImageDir'] -and $h.ImageDir -and (Test-Path -LiteralPath $h.ImageDir)) { "$($h.Name): image directory $($h.ImageDir) exists" }
        }
    }
}

function Get-SimHost {
    <#
    .SYNOPSIS
        The hosts this session made and has not removed; with -Orphaned, hosts under /tmp/fsfreeze-simhost.* whose
        creating process is gone (a test run that died before its teardown), ready for Remove-SimHost.
    #>
    [CmdletBinding()]
    param([switch] $Orphaned)
    if (-not $Orphaned) { return $script:Created | Where-Object { -not $_.Removed } }
    foreach ($state in @(Get-ChildItem -Path "$($script:TempPrefix)*/simhost.json" -ErrorAction SilentlyContinue)) {
        $h = try { Get-Content -LiteralPath $state.FullName -Raw | ConvertFrom-Json } catch { $null }
        if (-not $h -or -not $h.Dir -or $h.Dir -ne $state.DirectoryName) { continue }
        if ((Get-ProcessStartTime $h.Owner) -eq $h.OwnerStartTime) { continue }   # its owner still runs
        $h | Add-Member -NotePropertyName Guards -NotePropertyValue ([Collections.Generic.List[object]]::new()) -Force
        $h.Loops = [Collections.Generic.List[object]]@($h.Loops)
        $h
    }
}

#endregion

Export-ModuleMember -Function Initialize-SimHostImage, Get-SimHostImageKey, New-SimHost, Assert-SimHostIsolated, Invoke-SimHost,
    Invoke-SimHostPwsh, Start-SimHostThawGuard, Stop-SimHostThawGuard, Invoke-SimHostThaw, Remove-SimHost, Get-SimHostLeak, Get-SimHost

# Fleets of hosts (network namespaces with veth links, sshd with pwsh as its subsystem, shared storage): SimFleet.ps1.
. (Join-Path $PSScriptRoot 'SimFleet.ps1')
