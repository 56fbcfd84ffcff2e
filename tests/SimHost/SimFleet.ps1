# Fleets of simulated hosts, dot-sourced by SimHost.psm1 (it shares the module's scope and helpers).
#
# A fleet is what issue 11's tests and benchmark need: N simulated hosts, each in a network namespace of its own with
# a veth link to a controller network namespace, each running its own sshd (pwsh registered as its 'powershell'
# subsystem, a host key made for it, one client key of the fleet authorized), and every host's disk images on one
# shared "storage" filesystem (btrfs or XFS on a loop image of the fleet's own), so the controller can take reflink
# copies of all of them while every host is frozen, as a storage array or a cloud would.
#
# Safety rules, on top of SimHost's:
# - Network: every namespace is made here, held by a process of ours (unshare --net sleep); addresses are set only
#   inside them (10.<Subnet>.<i>.1/30 controller side, .2/30 host side). Nothing is configured in this machine's
#   network namespace, and no 'ip netns add' (it would leave a mount under /run/netns).
# - The controller runs as a child process in the controller namespace (nsenter --net only: same mounts, same pids),
#   so it reaches only the fleet's addresses.
# - Teardown (Remove-SimFleet) also after failures: processes left in the fleet's namespaces (ssh clients, Ansible)
#   are killed only after checking that they are in a namespace of this fleet; then the hosts (thaw first, as
#   Remove-SimHost does), the namespace holders (the veth pairs go with their namespaces), the storage filesystem
#   and its loop device, and the directory. It throws when something is left; Get-SimFleetLeak lists it.

$script:FleetPrefix = '/tmp/fsfreeze-simfleet.'
$script:FleetsCreated = [Collections.Generic.List[object]]::new()

#region namespaces

function Start-SimNetNsHolder {
    # A process of ours in a new network namespace (unshare --net sleep): the namespace lives as long as it does and
    # anything else inside (a host's init). setsid: a Ctrl+C of the test run cannot end it halfway; a bounded sleep:
    # a run that dies leaves it for at most that long (Get-SimFleet -Orphaned removes it sooner).
    param([int] $LifetimeSec = 7200)
    $psi = [Diagnostics.ProcessStartInfo]::new('setsid')
    foreach ($a in 'unshare', '--net', 'sleep', [string]$LifetimeSec) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.WorkingDirectory = '/'
    $p = [Diagnostics.Process]::Start($psi)
    $p.StandardInput.Close()
    $mine = Get-NamespaceLink $PID 'net'
    # setsid (not a group leader) execs unshare, which execs sleep in the new namespace: the same PID throughout.
    if (-not (Wait-Until { $l = Get-NamespaceLink $p.Id 'net'; $l -and $l -ne $mine -and (Get-Content "/proc/$($p.Id)/comm" -ErrorAction Ignore) -eq 'sleep' } 5000 10)) {
        try { $p.Kill() } catch { }
        throw "A network namespace holder (pid $($p.Id)) did not enter a new network namespace."
    }
    [pscustomobject]@{ Pid = $p.Id; StartTime = (Get-ProcessStartTime $p.Id); NetNs = (Get-NamespaceLink $p.Id 'net'); Path = "/proc/$($p.Id)/ns/net" }
}

function Test-SimNetNsHolderAlive($Holder) {
    $Holder -and $Holder.Pid -and (Get-ProcessStartTime $Holder.Pid) -eq $Holder.StartTime -and (Get-ProcessState $Holder.Pid) -ne 'Z' -and
    (Get-NamespaceLink $Holder.Pid 'net') -eq $Holder.NetNs
}

function Stop-SimNetNsHolder($Holder) {
    # Only the very process we started (PID, start time and namespace checked), never a group or a computed PID.
    if (Test-SimNetNsHolderAlive $Holder) { & kill -KILL $Holder.Pid 2>$null }
    $null = Wait-Until { -not (Test-SimNetNsHolderAlive $Holder) } 5000
}

function Invoke-InNetNs {
    # A program of this machine run inside one of the fleet's network namespaces (nsenter --net only), bounded.
    param($Holder, [string] $FilePath, [string[]] $ArgumentList = @(), [int] $TimeoutSec = 30, [hashtable] $Environment = @{}, [switch] $Check)
    if (-not (Test-SimNetNsHolderAlive $Holder)) { throw "The network namespace held by pid $($Holder.Pid) is gone." }
    $r = Invoke-BoundedProcess -FilePath 'nsenter' -ArgumentList (@("--net=$($Holder.Path)", '--', $FilePath) + $ArgumentList) -TimeoutSec $TimeoutSec -Environment $Environment
    if ($Check -and $r.ExitCode -ne 0) { throw "'$FilePath $($ArgumentList -join ' ')' in network namespace $($Holder.NetNs) failed ($($r.TimedOut ? 'timed out' : "exit $($r.ExitCode)")): $($r.StdErr.Trim()) $($r.StdOut.Trim())" }
    $r
}

function Get-NetNsProcess($Holder) {
    # PIDs of the processes in the holder's network namespace, the holder itself excluded.
    if (-not $Holder -or -not $Holder.NetNs) { return }
    foreach ($d in [IO.Directory]::GetDirectories('/proc')) {
        $name = [IO.Path]::GetFileName($d)
        if ($name -notmatch '^\d+$' -or [int]$name -eq $Holder.Pid) { continue }
        if ((Get-NamespaceLink ([int]$name) 'net') -eq $Holder.NetNs) { [int]$name }
    }
}

#endregion

#region sshd

function Start-SimHostSshd {
    <#
    .SYNOPSIS
        Starts sshd inside a host (it must be in a network namespace of its own): a fresh ed25519 host key, the given
        client key authorized for root, listening only on -Address, pwsh registered as the 'powershell' subsystem
        (SetEnv DOTNET_ROOT, PSModulePath=/opt/fsfreeze, XDG_CACHE_HOME on /run so a pwsh never writes to a frozen /),
        and a /usr/local/bin/pwsh wrapper for Ansible's commands. Returns the host's public key line (type and key).
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0)] [Alias('Host')] $SimHost, [Parameter(Mandatory)] [string] $Address, [Parameter(Mandatory)] [string] $AuthorizedKey)
    if (-not $SimHost.NetNs) { throw "Simulated host '$($SimHost.Name)' shares this machine's network: sshd runs only in a host with -NetNs." }
    if ($Address -notmatch '^10\.\d{1,3}\.\d{1,3}\.\d{1,3}$') { throw "sshd listens only on a fleet address (10.x.y.z), not '$Address'." }
    $r = Invoke-SimHost $SimHost -Check -TimeoutSec 60 -Environment @{ ADDR = $Address; PUB = $AuthorizedKey } -Command @'
set -e
rm -f /etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N '' -C "$(hostname)" -f /etc/ssh/ssh_host_ed25519_key
mkdir -p -m 0700 /root/.ssh
printf '%s\n' "$PUB" > /root/.ssh/authorized_keys
chmod 0600 /root/.ssh/authorized_keys
mkdir -p -m 0755 /run/sshd
cat > /etc/ssh/sshd_fleet_config <<EOF
# Written by SimHost (Start-SimHostSshd): a test fleet's sshd.
ListenAddress $ADDR
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100
MaxSessions 100
# pwsh as the powershell subsystem (New-PSSession -HostName). It needs DOTNET_ROOT (no dotnet on PATH here);
# its module path holds FsFreeze; its cache is on /run, a tmpfs, so a pwsh in a frozen host never writes to /.
SetEnv DOTNET_ROOT=/opt/dotnet PSModulePath=/opt/fsfreeze XDG_CACHE_HOME=/run/pwsh-cache POWERSHELL_TELEMETRY_OPTOUT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 POWERSHELL_UPDATECHECK=Off
Subsystem powershell /opt/dotnet/dotnet /opt/pwsh/pwsh.dll -sshs -NoLogo -NoProfile
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
cat > /usr/local/bin/pwsh <<'EOF'
#!/bin/sh
# pwsh for commands over SSH (Ansible): the runtime is under /opt/dotnet, FsFreeze under /opt/fsfreeze.
export DOTNET_ROOT=/opt/dotnet
export PSModulePath="${PSModulePath:-/opt/fsfreeze}"
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-/run/pwsh-cache}"
export POWERSHELL_TELEMETRY_OPTOUT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 POWERSHELL_UPDATECHECK=Off
exec /opt/dotnet/dotnet /opt/pwsh/pwsh.dll "$@"
EOF
chmod 0755 /usr/local/bin/pwsh
/usr/sbin/sshd -t -f /etc/ssh/sshd_fleet_config
/usr/sbin/sshd -f /etc/ssh/sshd_fleet_config -E /run/sshd.log
for i in $(seq 100); do [ -s /run/sshd.pid ] && break; sleep 0.05; done
[ -s /run/sshd.pid ] || { cat /run/sshd.log >&2; exit 1; }
cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub
'@
    $SimHost | Add-Member -NotePropertyName SshAddress -NotePropertyValue $Address -Force
    $r.Lines[-1]
}

function Stop-SimHostSshd {
    # Ends the host's sshd (its listener; sessions end with their connections or with the host). Inside the host's
    # pid namespace, so the PID read from its /run/sshd.pid can only be one of the host's processes.
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0)] [Alias('Host')] $SimHost)
    if ($SimHost.Removed -or -not $SimHost.Isolated -or -not (Test-SimHostInitAlive $SimHost)) { return }
    $null = Invoke-SimHost $SimHost -TimeoutSec 15 -Command 'p=$(cat /run/sshd.pid 2>/dev/null) && [ "$(cat /proc/$p/comm 2>/dev/null)" = sshd ] && kill -TERM "$p"; rm -f /run/sshd.pid; exit 0'
}

#endregion

#region fleets

function New-SimFleet {
    <#
    .SYNOPSIS
        Starts -Count simulated hosts as a fleet: a controller network namespace, one namespace per host with a
        veth link (10.<Subnet>.<i>.1/30 controller side, .2/30 host side), sshd in every host, and every host's
        images on one storage filesystem (btrfs or XFS on a loop image) mounted at <fleet dir>/storage. Returns
        the fleet; on any failure everything made so far is removed and the error thrown.
    #>
    [CmdletBinding()]
    param(
        [ValidateRange(1, 32)] [int] $Count = 3,
        [string] $ModulePath,
        [ValidateSet('ext4', 'xfs', 'btrfs')] [string[]] $DataFilesystem = @('ext4'),
        [ValidateSet('btrfs', 'xfs')] [string] $StorageFilesystem = 'btrfs',
        [ValidateRange(4, 1024)] [int] $StorageSizeGB = 64,
        [ValidatePattern('^[a-z][a-z0-9]{0,20}$')] [string] $NamePrefix = 'fleet',
        [ValidateRange(1, 254)] [int] $Subnet = 231
    )
    if ((Invoke-Checked id -ArgumentList '-u').Trim() -ne '0') { throw 'Simulated fleets need root (namespaces, loop devices).' }
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $dir = (Invoke-Checked mktemp -ArgumentList '-d', "$($script:FleetPrefix)XXXXXX").Trim()
    $f = [pscustomobject]@{
        PSTypeName     = 'FsFreeze.Test.SimFleet'
        Dir            = $dir
        Owner          = $PID
        OwnerStartTime = (Get-ProcessStartTime $PID)
        Storage        = $null
        Controller     = $null
        Hosts          = [Collections.Generic.List[object]]::new()
        KeyFile        = (Join-Path $dir 'ssh/id_ed25519')
        KnownHosts     = (Join-Path $dir 'ssh/known_hosts')
        ConnectionFile = (Join-Path $dir 'fleet.json')
        Removed        = $false
        StartTime      = $null
    }
    $script:FleetsCreated.Add($f)
    try {
        Save-SimFleetState $f
        # The storage filesystem every host's images live on.
        $img = Join-Path $dir 'storage.img'
        Invoke-Checked truncate -ArgumentList '-s', "${StorageSizeGB}G", $img | Out-Null
        switch ($StorageFilesystem) {
            'btrfs' { Invoke-Checked mkfs.btrfs -ArgumentList '-q', '-f', '-L', 'fleet-storage', $img | Out-Null }
            'xfs' { Invoke-Checked mkfs.xfs -ArgumentList '-q', '-f', '-m', 'reflink=1', '-L', 'fleetstore', $img | Out-Null }
        }
        $loop = (Invoke-Checked losetup -ArgumentList '-f', '--show', $img).Trim()
        $f.Storage = [pscustomobject]@{ Type = $StorageFilesystem; Image = $img; Device = $loop; MountPoint = (Join-Path $dir 'storage'); Mounted = $false }
        Save-SimFleetState $f
        $null = New-Item -ItemType Directory -Path $f.Storage.MountPoint
        Invoke-Checked mount -ArgumentList $loop, $f.Storage.MountPoint | Out-Null
        $f.Storage.Mounted = $true
        $null = New-Item -ItemType Directory -Path (Join-Path $f.Storage.MountPoint 'hosts'), (Join-Path $f.Storage.MountPoint 'snapshots')
        Save-SimFleetState $f

        # The client key every host authorizes, and the known_hosts file its host keys go into.
        $null = New-Item -ItemType Directory -Path (Join-Path $dir 'ssh')
        & chmod 0700 (Join-Path $dir 'ssh')
        Invoke-Checked ssh-keygen -ArgumentList '-q', '-t', 'ed25519', '-N', '', '-C', 'fsfreeze-simfleet', '-f', $f.KeyFile | Out-Null
        $pub = (Get-Content -LiteralPath "$($f.KeyFile).pub" -Raw).Trim()
        $known = [Collections.Generic.List[string]]::new()

        $f.Controller = Start-SimNetNsHolder
        Save-SimFleetState $f
        $null = Invoke-InNetNs $f.Controller ip -ArgumentList 'link', 'set', 'lo', 'up' -Check
        for ($i = 1; $i -le $Count; $i++) {
            $name = "$NamePrefix$i"
            $net = Start-SimNetNsHolder
            $entry = [pscustomobject]@{
                Name = $name; Index = $i; NetNs = $net; Link = "fc$i"; Address = "10.$Subnet.$i.2"; ControllerAddress = "10.$Subnet.$i.1"
                SimHost = $null; HostDir = $null
            }
            $f.Hosts.Add($entry)
            Save-SimFleetState $f
            # The veth pair is made in the controller namespace and its peer moved straight into the host's.
            $null = Invoke-InNetNs $f.Controller ip -ArgumentList 'link', 'add', $entry.Link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ([string]$net.Pid) -Check
            $null = Invoke-InNetNs $f.Controller ip -ArgumentList 'addr', 'add', "$($entry.ControllerAddress)/30", 'dev', $entry.Link -Check
            $null = Invoke-InNetNs $f.Controller ip -ArgumentList 'link', 'set', $entry.Link, 'up' -Check
            $null = Invoke-InNetNs $net ip -ArgumentList 'addr', 'add', "$($entry.Address)/30", 'dev', 'eth0' -Check
            $null = Invoke-InNetNs $net ip -ArgumentList 'link', 'set', 'eth0', 'up' -Check
            $null = Invoke-InNetNs $net ip -ArgumentList 'link', 'set', 'lo', 'up' -Check

            $hostArgs = @{ Name = $name; NetNs = $net.Path; ImageDirectory = (Join-Path $f.Storage.MountPoint 'hosts'); DataFilesystem = $DataFilesystem }
            if ($ModulePath) { $hostArgs.ModulePath = $ModulePath }
            $entry.SimHost = New-SimHost @hostArgs
            $entry.HostDir = $entry.SimHost.Dir
            Save-SimFleetState $f
            $hostKey = Start-SimHostSshd $entry.SimHost -Address $entry.Address -AuthorizedKey $pub
            $known.Add("$($entry.Address) $hostKey")
        }
        Set-Content -LiteralPath $f.KnownHosts -Value $known
        # Filling the hosts left gigabytes to write back through their loop devices into the storage images: write
        # them now (each host's filesystems, then the storage), or the first freezes would wait behind them for seconds.
        foreach ($e in $f.Hosts) { $null = Invoke-SimHost $e.SimHost 'sync' -TimeoutSec 300 -Check }
        Invoke-Checked sync -ArgumentList '-f', $f.Storage.MountPoint -TimeoutSec 300 | Out-Null
        # What a controller needs to connect, for a child pwsh (New-SimFleetSession -ConnectionFile) and for Ansible.
        [ordered]@{
            KeyFile = $f.KeyFile; KnownHosts = $f.KnownHosts; Storage = $f.Storage.MountPoint
            Hosts = @($f.Hosts | ForEach-Object {
                    [ordered]@{ Name = $_.Name; Address = $_.Address; Images = @($_.SimHost.Loops | ForEach-Object { [ordered]@{ Role = $_.Role; Type = $_.Type; Image = $_.Image; MountPoint = $_.MountPoint } }) }
                })
        } | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath $f.ConnectionFile
        # Every host answers on its address from the controller namespace before the fleet is handed out.
        foreach ($e in $f.Hosts) {
            $null = Wait-Until { (Invoke-InNetNs $f.Controller bash -ArgumentList '-c', "exec 3<>/dev/tcp/$($e.Address)/22" -TimeoutSec 5).ExitCode -eq 0 } 10000 100
        }
        $f.StartTime = $sw.Elapsed
        Save-SimFleetState $f
        $f
    }
    catch {
        $failure = $_
        try { Remove-SimFleet $f }
        catch { throw "$failure`nAnd its teardown failed: $_" }
        throw $failure
    }
}

function Save-SimFleetState($Fleet) {
    if ($Fleet.Dir -and (Test-Path -LiteralPath $Fleet.Dir)) {
        $Fleet | Select-Object -Property * -ExcludeProperty Hosts | Add-Member -NotePropertyName HostEntries -NotePropertyValue @(
            $Fleet.Hosts | Select-Object Name, Index, NetNs, Link, Address, ControllerAddress, HostDir) -PassThru |
            ConvertTo-Json -Depth 5 | Set-Content -LiteralPath (Join-Path $Fleet.Dir 'simfleet.json')
    }
}

function New-SimFleetSession {
    <#
    .SYNOPSIS
        In a controller (a pwsh in the fleet's controller namespace): PSSessions over SSH to the fleet's hosts, from
        the connection file New-SimFleet wrote (key, known_hosts with each host's key, addresses). -Name picks hosts.
        ssh is told to give up on a dead link after about 3 s (ServerAliveInterval 1, ServerAliveCountMax 3).
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)] [string] $ConnectionFile, [string[]] $Name, [int] $ServerAliveInterval = 1)
    $c = Get-Content -LiteralPath $ConnectionFile -Raw | ConvertFrom-Json
    $targets = @($c.Hosts | Where-Object { -not $Name -or $_.Name -in $Name })
    $options = @{
        UserKnownHostsFile = $c.KnownHosts; StrictHostKeyChecking = 'yes'; BatchMode = 'yes'; ConnectTimeout = '10'
        ServerAliveInterval = [string]$ServerAliveInterval; ServerAliveCountMax = '3'; LogLevel = 'ERROR'
    }
    # One call for all: New-PSSession connects to the hosts of one -HostName list concurrently. ForEach-Object, not
    # $targets.Address: an array has an Address method of its own, which member enumeration would hand over.
    $made = @(New-PSSession -HostName ([string[]]@($targets | ForEach-Object Address)) -UserName root -KeyFilePath $c.KeyFile -Options $options -ErrorAction Stop)
    foreach ($t in $targets) {
        $m = $made | Where-Object ComputerName -EQ $t.Address | Select-Object -First 1
        if ($m) { $m.Name = $t.Name; $m }
    }
}

function Get-SimFleetControllerArgs($Fleet, [string] $Command) {
    @("--net=$($Fleet.Controller.Path)", '--', (Join-Path $PSHOME 'pwsh'), '-NoProfile', '-NonInteractive', '-Command', $Command)
}

function Get-SimFleetControllerEnv($Fleet, [hashtable] $Environment) {
    $envs = @{
        SIMFLEET_CONNECTION = $Fleet.ConnectionFile
        SIMHOST_PSM1        = (Join-Path $script:Here 'SimHost.psm1')
        NO_COLOR            = '1'
    }
    if ($env:FSFREEZE_TEST_MODULE) { $envs.FSFREEZE_TEST_MODULE = $env:FSFREEZE_TEST_MODULE }
    if ($env:FSFREEZE_STATE_DIR) { $envs.FSFREEZE_STATE_DIR = $env:FSFREEZE_STATE_DIR }
    foreach ($k in $Environment.Keys) { $envs[$k] = [string]$Environment[$k] }
    $envs
}

function Invoke-SimFleetController {
    <#
    .SYNOPSIS
        Runs a pwsh command as the fleet's controller: a child pwsh in the controller network namespace, with
        SIMFLEET_CONNECTION (for New-SimFleetSession) and SIMHOST_PSM1 set. Bounded; returns ExitCode, StdOut,
        StdErr, Lines, TimedOut, Elapsed.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0)] $Fleet, [Parameter(Mandatory, Position = 1)] [string] $Command, [int] $TimeoutSec = 180, [hashtable] $Environment = @{})
    if (-not (Test-SimNetNsHolderAlive $Fleet.Controller)) { throw 'The fleet''s controller namespace is gone.' }
    Invoke-BoundedProcess -FilePath 'nsenter' -ArgumentList (Get-SimFleetControllerArgs $Fleet $Command) -TimeoutSec $TimeoutSec -Environment (Get-SimFleetControllerEnv $Fleet $Environment)
}

function Start-SimFleetController {
    <#
    .SYNOPSIS
        Starts the controller (as Invoke-SimFleetController) in the background, its output going to files in the fleet
        directory; returns Process, Pid, StartTime, OutFile, ErrFile. nsenter execs pwsh, so Pid is pwsh itself
        (for kill -9 tests: kill that PID after checking its start time, never a group).
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0)] $Fleet, [Parameter(Mandatory, Position = 1)] [string] $Command, [hashtable] $Environment = @{})
    if (-not (Test-SimNetNsHolderAlive $Fleet.Controller)) { throw 'The fleet''s controller namespace is gone.' }
    $tag = [guid]::NewGuid().ToString('N').Substring(0, 8)
    $out = Join-Path $Fleet.Dir "controller-$tag.out"
    $err = Join-Path $Fleet.Dir "controller-$tag.err"
    $argv = @('-c', 'out=$1 err=$2; shift 2; exec "$@" >"$out" 2>"$err" </dev/null', 'sh', $out, $err, 'nsenter') + (Get-SimFleetControllerArgs $Fleet $Command)
    $psi = [Diagnostics.ProcessStartInfo]::new('/bin/sh')
    foreach ($a in $argv) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.WorkingDirectory = '/'
    $envs = Get-SimFleetControllerEnv $Fleet $Environment
    foreach ($k in $envs.Keys) { $psi.Environment[$k] = $envs[$k] }
    $p = [Diagnostics.Process]::Start($psi)
    [pscustomobject]@{ Process = $p; Pid = $p.Id; StartTime = (Get-ProcessStartTime $p.Id); OutFile = $out; ErrFile = $err }
}

function Invoke-SimFleetNative {
    <#
    .SYNOPSIS
        Runs a program of this machine in the controller network namespace (ansible-playbook, ssh), bounded.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0)] $Fleet, [Parameter(Mandatory, Position = 1)] [string] $FilePath, [string[]] $ArgumentList = @(), [int] $TimeoutSec = 300, [hashtable] $Environment = @{})
    Invoke-InNetNs $Fleet.Controller $FilePath -ArgumentList $ArgumentList -TimeoutSec $TimeoutSec -Environment $Environment
}

function Set-SimFleetLink {
    <#
    .SYNOPSIS
        Cuts (-Down) or restores (-Up) a host's link to the controller: 'ip link set eth0 down|up' in the host's network
        namespace. Returns the time it was done.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0)] $Fleet, [Parameter(Mandatory, Position = 1)] [string] $Name, [switch] $Down, [switch] $Up)
    if ($Down -eq $Up) { throw 'Say -Down or -Up.' }
    $e = $Fleet.Hosts | Where-Object Name -EQ $Name | Select-Object -First 1
    if (-not $e) { throw "No host '$Name' in the fleet." }
    $null = Invoke-InNetNs $e.NetNs ip -ArgumentList 'link', 'set', 'eth0', ($Down ? 'down' : 'up') -Check
    Get-Date
}

function Remove-SimFleet {
    <#
    .SYNOPSIS
        Tears a fleet down, also a half-made or orphaned one: processes left in its namespaces (checked to be in them),
        every host (thawed first, see Remove-SimHost), the namespace holders (their veth pairs go with them), the
        storage filesystem and its loop device, the directory. Throws when anything is left behind.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0, ValueFromPipeline)] $Fleet)
    process {
        $problems = [Collections.Generic.List[string]]::new()
        $holders = @(@($Fleet.Controller) + @($Fleet.Hosts | ForEach-Object NetNs) | Where-Object { $_ })
        # 1. What a controller left in the controller namespace (ssh clients of a killed pwsh, Ansible's control
        #    masters): each PID is checked to be in that namespace right before it is killed.
        foreach ($p in @(Get-NetNsProcess $Fleet.Controller)) {
            if ((Get-NamespaceLink $p 'net') -eq $Fleet.Controller.NetNs) { & kill -KILL $p 2>$null }
        }
        # 2. The hosts: sshd, then the host (thaw before kill, loop devices, images).
        foreach ($e in @($Fleet.Hosts)) {
            $h = $e.SimHost
            if (-not $h -and $e.HostDir -and (Test-Path -LiteralPath (Join-Path $e.HostDir 'simhost.json'))) {
                $h = Get-Content -LiteralPath (Join-Path $e.HostDir 'simhost.json') -Raw | ConvertFrom-Json
                $h | Add-Member -NotePropertyName Guards -NotePropertyValue ([Collections.Generic.List[object]]::new()) -Force
                $h.Loops = [Collections.Generic.List[object]]@($h.Loops)
                $e.SimHost = $h
            }
            if (-not $h -or $h.Removed) { continue }
            try { Stop-SimHostSshd $h } catch { }
            try { Remove-SimHost $h } catch { $problems.Add("host $($e.Name): $_") }
        }
        # 3. Whatever still runs in a host namespace (nothing should: the host's pid namespace is gone), then the holders.
        foreach ($n in @($Fleet.Hosts | ForEach-Object NetNs | Where-Object { $_ })) {
            foreach ($p in @(Get-NetNsProcess $n)) {
                if ((Get-NamespaceLink $p 'net') -eq $n.NetNs) { & kill -KILL $p 2>$null }
            }
        }
        if (-not $problems.Count) {
            foreach ($hd in $holders) { Stop-SimNetNsHolder $hd }
            foreach ($hd in $holders) { if (Test-SimNetNsHolderAlive $hd) { $problems.Add("network namespace holder $($hd.Pid) is still running") } }
        }
        # 4. The storage filesystem: only once no host image on it is attached to a loop device.
        $s = $Fleet.Storage
        if ($s -and -not $problems.Count) {
            $mounted = @(ConvertFrom-MountInfo ([IO.File]::ReadAllLines('/proc/self/mountinfo')) | Where-Object MountPoint -EQ $s.MountPoint)
            if ($mounted) {
                $r = Invoke-BoundedProcess -FilePath 'umount' -ArgumentList $s.MountPoint -TimeoutSec 60
                if ($r.ExitCode -ne 0) { $problems.Add("umount $($s.MountPoint) failed: $($r.StdErr.Trim())") }
            }
            $storageLoop = [pscustomobject]@{ Device = $s.Device; Image = $s.Image }
            if ($s.Device -and (Test-LoopAttachedToUs $storageLoop)) { & losetup -d $s.Device 2>$null }
            if ($s.Device -and -not (Wait-Until { -not (Test-LoopAttachedToUs $storageLoop) } 10000)) { $problems.Add("storage loop device $($s.Device) is still attached") }
        }
        # 5. The directory.
        if (-not $problems.Count -and $Fleet.Dir -and (Test-Path -LiteralPath $Fleet.Dir)) {
            $left = @(ConvertFrom-MountInfo ([IO.File]::ReadAllLines('/proc/self/mountinfo')) | Where-Object { $_.MountPoint.StartsWith("$($Fleet.Dir)/") })
            if ($left) { $problems.Add("mounts under its directory: $(@($left.MountPoint) -join ', ')") }
            else { Remove-Item -LiteralPath $Fleet.Dir -Recurse -Force }
        }
        if ($problems.Count) { throw "Removing the simulated fleet in '$($Fleet.Dir)' left things behind: $($problems -join '; ')" }
        $Fleet.Removed = $true
    }
}

function Get-SimFleetLeak {
    <#
    .SYNOPSIS
        What the given fleets (default: every fleet this session made) left behind: their hosts' leaks, processes in
        their namespaces, namespace holders, the storage mount and loop device, the directory. Empty when all is gone.
    #>
    [CmdletBinding()]
    param([Parameter(Position = 0, ValueFromPipeline)] $Fleet)
    begin { $all = [Collections.Generic.List[object]]::new() }
    process { if ($Fleet) { $all.Add($Fleet) } }
    end {
        if (-not $all.Count) { $all.AddRange($script:FleetsCreated) }
        $mounts = @(ConvertFrom-MountInfo ([IO.File]::ReadAllLines('/proc/self/mountinfo')))
        foreach ($f in $all) {
            foreach ($e in @($f.Hosts)) {
                if ($e.SimHost) { Get-SimHostLeak $e.SimHost }
                if (Test-SimNetNsHolderAlive $e.NetNs) { "fleet host $($e.Name): its network namespace holder $($e.NetNs.Pid) is running" }
                # Namespace inode numbers are reused once a namespace is gone (see Get-SimHostLeak): only before removal.
                if (-not $f.Removed) { foreach ($p in @(Get-NetNsProcess $e.NetNs)) { "fleet host $($e.Name): process $p runs in its network namespace" } }
            }
            if (Test-SimNetNsHolderAlive $f.Controller) { "fleet: the controller namespace holder $($f.Controller.Pid) is running" }
            if (-not $f.Removed) { foreach ($p in @(Get-NetNsProcess $f.Controller)) { "fleet: process $p runs in the controller namespace" } }
            if ($f.Storage) {
                if ($mounts | Where-Object MountPoint -EQ $f.Storage.MountPoint) { "fleet: storage $($f.Storage.MountPoint) is mounted" }
                if ($f.Storage.Device -and (Test-LoopAttachedToUs ([pscustomobject]@{ Device = $f.Storage.Device; Image = $f.Storage.Image }))) { "fleet: storage loop device $($f.Storage.Device) is attached" }
            }
            if ($f.Dir -and (Test-Path -LiteralPath $f.Dir)) { "fleet: directory $($f.Dir) exists" }
        }
    }
}

function Get-SimFleet {
    <#
    .SYNOPSIS
        The fleets this session made and has not removed; with -Orphaned, fleets under /tmp/fsfreeze-simfleet.* whose
        creating process is gone, ready for Remove-SimFleet.
    #>
    [CmdletBinding()]
    param([switch] $Orphaned)
    if (-not $Orphaned) { return $script:FleetsCreated | Where-Object { -not $_.Removed } }
    foreach ($state in @(Get-ChildItem -Path "$($script:FleetPrefix)*/simfleet.json" -ErrorAction SilentlyContinue)) {
        $f = try { Get-Content -LiteralPath $state.FullName -Raw | ConvertFrom-Json } catch { $null }
        if (-not $f -or -not $f.Dir -or $f.Dir -ne $state.DirectoryName) { continue }
        if ((Get-ProcessStartTime $f.Owner) -eq $f.OwnerStartTime) { continue }
        $hosts = [Collections.Generic.List[object]]::new()
        foreach ($e in @($f.HostEntries)) { $e | Add-Member -NotePropertyName SimHost -NotePropertyValue $null -Force; $hosts.Add($e) }
        $f | Add-Member -NotePropertyName Hosts -NotePropertyValue $hosts -Force
        $f
    }
}

#endregion

Export-ModuleMember -Function Start-SimHostSshd, Stop-SimHostSshd, New-SimFleet, New-SimFleetSession, Invoke-SimFleetController,
    Start-SimFleetController, Invoke-SimFleetNative, Set-SimFleetLink, Remove-SimFleet, Get-SimFleetLeak, Get-SimFleet
