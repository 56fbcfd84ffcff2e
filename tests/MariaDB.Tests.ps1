#Requires -Modules Pester
# Issue 10, a real application: a private MariaDB (Debian's mariadb-server) whose data directory is on a loop
# filesystem this test made, under a steady writer, frozen with docs/examples/mariadb/10-mariadb-flush (FLUSH TABLES
# WITH READ LOCK held by a background client across the freeze). The image copied while frozen starts in a second
# server, holds every row committed before the lock, and CHECK TABLE is OK for InnoDB, Aria and MyISAM tables. The
# same copy without the hook is judged the same way and reported, not asserted.
#
# The servers are our own: --no-defaults, their own datadir, socket and port on 127.0.0.1, stopped in AfterAll. The
# packaged service is never started. An independent thaw is behind the freeze.

BeforeDiscovery {
    $script:HaveMariaDb = (Test-Path /usr/sbin/mariadbd) -and (Test-Path /usr/bin/mariadb-install-db)
}

BeforeAll {
    Import-Module $env:FSFREEZE_TEST_MODULE/FsFreeze.psd1 -Force
    Import-Module $PSScriptRoot/TestHelpers.psm1 -Force
    Import-Module $PSScriptRoot/ExactnessHelpers.psm1 -Force
    $script:SavedStateDir = $env:FSFREEZE_STATE_DIR
    $script:StateRoot = New-StateRoot
    $env:FSFREEZE_STATE_DIR = $script:StateRoot.Dir
    $script:Example = Resolve-Path "$PSScriptRoot/../docs/examples/mariadb"

    function Get-FreePort {
        $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
        $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p
    }

    function Start-MariaDb {
        # A private mariadbd on a data directory; returns { Socket; Port; Opts; Pid; Err; Up }.
        param([string] $DataDir, [string] $RunDir, [string] $Name, [int] $WaitSec = 90)
        $port = Get-FreePort
        $s = [pscustomobject]@{ Name = $Name; Socket = "$RunDir/$Name.sock"; Port = $port; PidFile = "$RunDir/$Name.pid"; Err = "$RunDir/$Name.err"; Pid = 0; Up = $false; Opts = @() }
        $s.Opts = @('--no-defaults', "--socket=$($s.Socket)", '-uroot')
        $psi = [Diagnostics.ProcessStartInfo]::new('setsid')
        foreach ($a in '/usr/sbin/mariadbd', '--no-defaults', '--user=mysql', "--datadir=$DataDir", "--socket=$($s.Socket)", "--port=$port",
            '--bind-address=127.0.0.1', "--pid-file=$($s.PidFile)", "--log-error=$($s.Err)", '--innodb-buffer-pool-size=32M', '--skip-name-resolve') { $psi.ArgumentList.Add($a) }
        $psi.UseShellExecute = $false
        $psi.RedirectStandardInput = $true
        $psi.WorkingDirectory = '/'
        $p = [Diagnostics.Process]::Start($psi)
        $p.StandardInput.Close()
        $s.Pid = $p.Id
        $s.Up = Wait-Condition -TimeoutSec $WaitSec -IntervalMs 200 -Condition {
            if ($p.HasExited) { return $true }
            & mariadb @($s.Opts) -e 'SELECT 1' *> $null; $LASTEXITCODE -eq 0
        }
        $s.Up = $s.Up -and -not $p.HasExited
        $s
    }

    function Stop-MariaDb($Server) {
        if (-not $Server -or -not $Server.Pid) { return }
        & timeout 60 mariadb-admin @($Server.Opts) shutdown *> $null
        $gone = Wait-Condition -TimeoutSec 30 -Condition { -not (Test-Path "/proc/$($Server.Pid)") -or (Get-ProcessState $Server.Pid) -eq 'Z' }
        if (-not $gone -and (Get-Content "/proc/$($Server.Pid)/comm" -ErrorAction SilentlyContinue) -eq 'mariadbd') { Send-Signal KILL $Server.Pid | Out-Null }
    }

    function Invoke-Sql($Server, [string] $Sql) {
        $out = & mariadb @($Server.Opts) --batch --skip-column-names -e $Sql 2>&1
        if ($LASTEXITCODE -ne 0) { throw "SQL failed on $($Server.Name): $Sql -> $out" }
        @($out)
    }

    function Test-MariaDbCopy {
        <#
        .SYNOPSIS
            Starts a second server on a copy of the data filesystem's image and judges it: did it start, which rows each
            table holds, and CHECK TABLE for every table. The copy's own filesystem is mounted here, then let go.
        #>
        param([string] $Image, [string] $Tag)
        $loop = (Invoke-Native losetup -f --show $Image | Select-Object -Last 1).Trim()
        $mnt = Join-Path $script:Work "$Tag-mnt"
        New-Item -ItemType Directory -Path $mnt -Force | Out-Null
        $r = [ordered]@{ Tag = $Tag; Started = $false; Rows = @{}; Check = @(); CheckOk = $false; Error = '' }
        try {
            Invoke-Native mount $loop $mnt | Out-Null
            $server = Start-MariaDb -DataDir "$mnt/db" -RunDir $script:RunDir -Name "copy-$Tag"
            try {
                $r.Started = $server.Up
                if (-not $server.Up) { $r.Error = (Get-Content $server.Err -Tail 5 -ErrorAction SilentlyContinue) -join ' | '; return [pscustomobject]$r }
                foreach ($t in 'inno', 'aria', 'myi') { $r.Rows[$t] = @(Invoke-Sql $server "SELECT id FROM t.$t ORDER BY id" | ForEach-Object { [int]$_ }) }
                $r.Check = @(Invoke-Sql $server 'CHECK TABLE t.inno, t.aria, t.myi')
                # Each table's last line is its verdict: "t.x  check  status  OK"; an error line anywhere is not OK.
                $verdicts = foreach ($t in 't.inno', 't.aria', 't.myi') { @($r.Check | Where-Object { $_ -like "$t`t*" })[-1] }
                $r.CheckOk = -not ($r.Check | Where-Object { $_ -match "`terror`t" }) -and @($verdicts | Where-Object { $_ -match "`tstatus`tOK$" }).Count -eq 3
            }
            finally { Stop-MariaDb $server }
        }
        finally {
            & umount $mnt 2>$null
            & losetup -d $loop 2>$null
        }
        [pscustomobject]$r
    }

    function Read-Committed([double] $Before) {
        # The writer's log: "id time" after each successful (committed) client call.
        @(Get-Content $script:WriterLog | ForEach-Object { $i, $t = $_.Split(' '); if ([double]$t -lt $Before) { [int]$i } })
    }

    function Format-Copy($Copy, [int[]] $Committed) {
        $missing = foreach ($t in 'inno', 'aria', 'myi') { $set = [Collections.Generic.HashSet[int]]::new([int[]]@($Copy.Rows[$t])); "$t $(@($Committed | Where-Object { -not $set.Contains($_) }).Count)" }
        $check = ($Copy.Check | ForEach-Object { ($_ -split "`t")[0, 2, 3] -join ' ' }) -join '; '
        "started=$($Copy.Started); rows inno/aria/myi=$(@($Copy.Rows['inno']).Count)/$(@($Copy.Rows['aria']).Count)/$(@($Copy.Rows['myi']).Count); committed before=$($Committed.Count); missing: $($missing -join ', '); CHECK TABLE: $check$($Copy.Error ? "; error: $($Copy.Error)" : '')"
    }
}

AfterAll {
    $env:FSFREEZE_STATE_DIR = $script:SavedStateDir
    Remove-StateRoot $script:StateRoot
}

Describe 'A real MariaDB, frozen with a mysql-flush style hook' -Tag 'Hooks', 'MariaDB' -Skip:(-not $HaveMariaDb) {
    BeforeAll {
        $script:Work = (Invoke-Native mktemp -d /tmp/fsfreeze-mariadb.XXXXXX | Select-Object -Last 1).Trim()
        & chmod 0755 $script:Work
        # The servers' sockets, pid files and error logs: a directory mysql owns (on /tmp, never a frozen member).
        $script:RunDir = Join-Path $script:Work 'run'
        New-Item -ItemType Directory $script:RunDir | Out-Null
        Invoke-Native chown mysql:mysql $script:RunDir | Out-Null
        $fs = New-LoopFilesystem -SizeMB 512
        & chmod 0755 $fs.Root $fs.MountPoint
        $guard = Start-IndependentThaw -MountPoint $fs.MountPoint -AfterSec 600
        New-Item -ItemType Directory "$($fs.MountPoint)/db" | Out-Null
        Invoke-Native chown mysql:mysql "$($fs.MountPoint)/db" | Out-Null
        Invoke-Native mariadb-install-db --no-defaults --user=mysql "--datadir=$($fs.MountPoint)/db" --auth-root-authentication-method=socket --skip-test-db | Out-Null
        $server = Start-MariaDb -DataDir "$($fs.MountPoint)/db" -RunDir $script:RunDir -Name 'live'
        if (-not $server.Up) { throw "The private MariaDB did not start: $(Get-Content $server.Err -Tail 10 -ErrorAction SilentlyContinue)" }
        Invoke-Sql $server @'
CREATE DATABASE t;
CREATE TABLE t.inno (id INT PRIMARY KEY, v VARCHAR(255)) ENGINE=InnoDB;
CREATE TABLE t.aria (id INT PRIMARY KEY, v VARCHAR(255)) ENGINE=Aria;
CREATE TABLE t.myi (id INT PRIMARY KEY, v VARCHAR(255)) ENGINE=MyISAM;
'@ | Out-Null

        # The steady writer: one client per row into each table, logging each id once the client returned (committed).
        $script:WriterLog = Join-Path $script:Work 'writer.log'
        $writer = Start-Child -FilePath 'setsid' -ArgumentList @('bash', '-c', @'
i=0
while :; do
  i=$((i + 1))
  if mariadb $OPTS -e "INSERT INTO t.inno VALUES ($i, REPEAT('i', 200)); INSERT INTO t.aria VALUES ($i, REPEAT('a', 200)); INSERT INTO t.myi VALUES ($i, REPEAT('m', 200));" 2>>"$LOG.err"; then
    echo "$i $(date +%s.%N)" >> "$LOG"
  fi
done
'@) -Environment @{ OPTS = ($server.Opts -join ' '); LOG = $script:WriterLog }

        # The example hook, installed as an admin would: a root-owned 0755 directory, the script 0755.
        $hooks = Join-Path $script:Work 'hooks.d'
        New-Item -ItemType Directory $hooks | Out-Null
        & chmod 0755 $hooks
        Copy-Item "$script:Example/10-mariadb-flush" $hooks
        & chmod 0755 "$hooks/10-mariadb-flush"
        $env:MARIADB_CLIENT = '/usr/bin/mariadb'
        $env:MARIADB_OPTS = $server.Opts -join ' '
        Wait-Condition -TimeoutSec 30 -Condition { (Test-Path $script:WriterLog) -and @(Get-Content $script:WriterLog).Count -ge 100 } | Out-Null
    }
    AfterAll {
        if ($writer) { Send-Signal KILL $writer.Process.Id -Group | Out-Null; [void]$writer.Process.WaitForExit(5000) }
        if ($fs) { & fsfreeze -u $fs.MountPoint 2>$null }
        Stop-MariaDb $server
        Remove-Item Env:MARIADB_OPTS, Env:MARIADB_CLIENT -ErrorAction SilentlyContinue
        Remove-LoopFilesystem $fs
        Stop-IndependentThaw $guard
        if ($script:Work) { Remove-Item -LiteralPath $script:Work -Recurse -Force -ErrorAction SilentlyContinue }
    }

    It 'with the hook: the copy starts, holds every row committed before the lock, and CHECK TABLE is OK for InnoDB, Aria and MyISAM' {
        @(Get-Content $script:WriterLog).Count | Should -BeGreaterOrEqual 100 -Because 'the writer is writing'
        $copy = Join-Path $script:Work 'with-hook.img'
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $out = Use-FsFreeze -LiteralPath $fs.MountPoint -HookDirectory $hooks -TimeoutSec 120 -Verbose -ScriptBlock {
            $locked = [double](Get-Content "/run/fsfreeze-mariadb-flush.$($args[0][0].FreezeId).locked")
            $t = [Diagnostics.Stopwatch]::StartNew()
            Invoke-Native cp --sparse=always $fs.Image $copy | Out-Null
            "$locked|$($t.Elapsed.TotalMilliseconds)"
        } 4>&1
        $total = $sw.Elapsed.TotalMilliseconds
        $locked, $copyMs = @($out | Where-Object { $_ -is [string] })[0].Split('|')
        $verbose = @($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)
        $verbose | Should -Contain '  10-mariadb-flush thaw| read lock released'
        $committed = Read-Committed ([double]$locked)
        $committed.Count | Should -BeGreaterThan 50

        $judged = Test-MariaDbCopy -Image $copy -Tag 'hook'
        $summary = Format-Copy $judged $committed
        Write-Host "MariaDB copy WITH the hook (Use-FsFreeze $([int]$total) ms, copy $([int][double]$copyMs) ms; $(($verbose | Where-Object { $_ -like "Hook '10-mariadb-flush'*" }) -join ' ')): $summary"
        $judged.Started | Should -BeTrue -Because $summary
        foreach ($t in 'inno', 'aria', 'myi') {
            $set = [Collections.Generic.HashSet[int]]::new([int[]]@($judged.Rows[$t]))
            @($committed | Where-Object { -not $set.Contains($_) }) | Should -BeNullOrEmpty -Because "every row committed before the lock is in t.$t of the copy ($summary)"
        }
        $judged.CheckOk | Should -BeTrue -Because "CHECK TABLE of every table ($summary)"
        # Under the lock nothing was written: no table holds more than the rows committed before it, plus the one
        # client call the lock caught in flight (its first statements done, or done but not yet logged as committed).
        $last = ($committed | Measure-Object -Maximum).Maximum
        foreach ($t in 'inno', 'aria', 'myi') { ($judged.Rows[$t] | Measure-Object -Maximum).Maximum | Should -BeLessOrEqual ($last + 1) -Because "t.$t ($summary)" }
        Test-Frozen $fs.MountPoint | Should -BeFalse
        (Invoke-Sql $server 'SELECT 1')[0] | Should -Be '1' -Because 'the live server goes on after the thaw (the lock was released)'
    }

    It 'without the hook: the same copy is reported beside it (not asserted)' {
        $copy = Join-Path $script:Work 'without-hook.img'
        $out = Use-FsFreeze -LiteralPath $fs.MountPoint -NoHooks -TimeoutSec 120 -ScriptBlock {
            $at = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds() / 1000
            Invoke-Native cp --sparse=always $fs.Image $copy | Out-Null
            $at
        }
        $committed = Read-Committed ([double]@($out)[0])
        $judged = Test-MariaDbCopy -Image $copy -Tag 'nohook'
        Write-Host "MariaDB copy WITHOUT the hook (crash-consistent only): $(Format-Copy $judged $committed)"
        Test-Path $copy | Should -BeTrue
    }
}
