# What the backup demo needs beside its main flow: bounded tool runs, the writer's log, and the checks that
# judge a snapshot (journal flag, e2fsck -fy, file checksums). Nothing here touches the live filesystem: every
# check reads a copy of the image in the demo's temp directory, which lives on a filesystem that is never frozen.

Set-StrictMode -Version 3.0

function Invoke-Tool {
    # Runs a native tool under timeout(1), so no step can hang the demo; returns its exit code and output.
    param([Parameter(Mandatory)][int] $TimeoutSec, [Parameter(Mandatory)][string] $FilePath, [string[]] $ArgumentList = @())
    $output = & timeout --kill-after=5 $TimeoutSec $FilePath @ArgumentList 2>&1
    [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = @($output | ForEach-Object { "$_" }) }
}

function Invoke-ToolChecked {
    param([Parameter(Mandatory)][int] $TimeoutSec, [Parameter(Mandatory)][string] $FilePath, [string[]] $ArgumentList = @())
    $r = Invoke-Tool -TimeoutSec $TimeoutSec -FilePath $FilePath -ArgumentList $ArgumentList
    if ($r.ExitCode -ne 0) { throw "'$FilePath $($ArgumentList -join ' ')' failed with exit code $($r.ExitCode): $($r.Output -join ' ')" }
    $r.Output
}

function Get-UnixTime {
    # Seconds since the epoch on the same clock as bash's $EPOCHREALTIME, so the demo's and the writer's times compare.
    ([DateTime]::UtcNow - [DateTime]::UnixEpoch).TotalSeconds
}

function Read-WriterLog {
    # One object per change the writer completed: when it started and finished, and the file's checksum after it.
    param([Parameter(Mandatory)][string] $Path)
    if (-not (Test-Path -LiteralPath $Path)) { return @() }
    foreach ($line in [IO.File]::ReadAllLines($Path)) {
        $f = $line.Split(' ')
        if ($f.Count -ne 5) { continue }   # a line cut short when the writer was killed mid-write
        [pscustomobject]@{
            Start  = [double]::Parse($f[0], [Globalization.CultureInfo]::InvariantCulture)
            Done   = [double]::Parse($f[1], [Globalization.CultureInfo]::InvariantCulture)
            Op     = $f[2]
            File   = $f[3]
            Sha256 = $f[4]
        }
    }
}

function Get-ExpectedFiles {
    <#
    .SYNOPSIS
        What a snapshot taken between From and To must hold, file by file, by the writer's own log.
    .DESCRIPTION
        A change finished before From is in the snapshot. A change that finished between From and To may or may
        not be (the freeze, or the copy, fell somewhere in that window), so either version is right. A change
        still running at To may be half done in the snapshot: that file cannot be judged and is counted apart.
        Files the writer first created after From are left out.
    #>
    param([Parameter(Mandatory)][object[]] $Log, [Parameter(Mandatory)][double] $From, [Parameter(Mandatory)][double] $To)
    foreach ($group in $Log | Group-Object File) {
        $changes = @($group.Group | Sort-Object Done)
        $before = @($changes | Where-Object Done -LT $From)
        if ($before.Count -eq 0) { continue }
        $inFlight = @($changes | Where-Object { $_.Start -le $To -and $_.Done -gt $To }).Count -gt 0
        $accepted = @($before[-1].Sha256) + @($changes | Where-Object { $_.Done -ge $From -and $_.Done -le $To } | ForEach-Object Sha256)
        $older = @($before | Select-Object -SkipLast 1 | ForEach-Object Sha256)
        [pscustomobject]@{ File = $group.Name; Accepted = $accepted; Older = $older; InFlight = $inFlight }
    }
}

function Get-WriterStall {
    # The longest gap between two of the writer's completed changes that overlaps [From, To], and the median gap.
    param([Parameter(Mandatory)][object[]] $Log, [Parameter(Mandatory)][double] $From, [Parameter(Mandatory)][double] $To)
    $done = @($Log | ForEach-Object Done | Sort-Object)
    $gaps = for ($i = 1; $i -lt $done.Count; $i++) {
        [pscustomobject]@{ From = $done[$i - 1]; To = $done[$i]; Length = $done[$i] - $done[$i - 1] }
    }
    $gaps = @($gaps)
    $around = @($gaps | Where-Object { $_.To -ge $From -and $_.From -le $To } | Sort-Object Length)
    $sorted = @($gaps | ForEach-Object Length | Sort-Object)
    [pscustomobject]@{
        LongestMs = if ($around.Count) { $around[-1].Length * 1000 } else { $null }
        MedianMs  = if ($sorted.Count) { $sorted[[int][math]::Floor($sorted.Count / 2)] * 1000 } else { $null }
        Changes   = $done.Count
    }
}

function Test-Snapshot {
    <#
    .SYNOPSIS
        Judges one snapshot image: the journal flag (dumpe2fs -h), what e2fsck -fy changes on a copy of it,
        and the checksums of the writer's files as a restore would read them (from that checked copy, with debugfs).
    #>
    param(
        [Parameter(Mandatory)][string] $Name,
        [Parameter(Mandatory)][string] $Image,
        [Parameter(Mandatory)][object[]] $Expected,
        [Parameter(Mandatory)][string] $WorkDir
    )
    $header = Invoke-Tool -TimeoutSec 30 -FilePath dumpe2fs -ArgumentList '-h', $Image
    $features = @($header.Output | Where-Object { $_ -like 'Filesystem features:*' })
    if ($header.ExitCode -ne 0 -or -not $features) { throw "dumpe2fs -h $Image failed ($($header.ExitCode)): $($header.Output -join ' ')" }
    $needsRecovery = $features[0] -match '\bneeds_recovery\b'

    # e2fsck -fy repairs what it finds; run it on a copy so the snapshot itself stays as it was taken.
    $checked = Join-Path $WorkDir "$Name.checked.img"
    Invoke-ToolChecked -TimeoutSec 60 -FilePath cp -ArgumentList '--sparse=always', $Image, $checked | Out-Null
    $fsck = Invoke-Tool -TimeoutSec 120 -FilePath e2fsck -ArgumentList '-fy', $checked
    if ($fsck.ExitCode -ge 8 -or $fsck.ExitCode -eq 124) { throw "e2fsck -fy on the $Name snapshot could not run ($($fsck.ExitCode)): $($fsck.Output -join ' ')" }
    $fixes = @($fsck.Output | Where-Object { $_ -match '\? yes\s*$' }).Count
    $modified = [bool]($fsck.Output -match 'FILE SYSTEM WAS MODIFIED')
    $recovered = [bool]($fsck.Output -match 'recovering journal')

    # debugfs reads the image without mounting it, so nothing replays a journal behind our back.
    $dumpDir = Join-Path $WorkDir "$Name.files"
    New-Item -ItemType Directory -Path $dumpDir | Out-Null
    $commands = Join-Path $WorkDir "$Name.debugfs"
    Set-Content -LiteralPath $commands -Value ($Expected | ForEach-Object { "dump /$($_.File) $(Join-Path $dumpDir $_.File)" })
    Invoke-Tool -TimeoutSec 60 -FilePath debugfs -ArgumentList '-f', $commands, $checked | Out-Null

    $judged = @($Expected | Where-Object { -not $_.InFlight })
    $matching = 0
    $mismatched = @()
    foreach ($e in $judged) {
        $copy = Join-Path $dumpDir $e.File
        $sum = if (Test-Path -LiteralPath $copy) { (Get-FileHash -LiteralPath $copy -Algorithm SHA256).Hash.ToLowerInvariant() } else { $null }
        if ($sum -and $e.Accepted -contains $sum) { $matching++; continue }
        # How it differs tells the story: gone, an old version (newer data was only in the page cache), or torn.
        $how = if (-not $sum) { 'missing' } elseif ($e.Older -contains $sum) { 'older version' } else { 'other content' }
        $mismatched += [pscustomobject]@{ File = $e.File; How = $how }
    }
    [pscustomobject]@{
        Name           = $Name
        NeedsRecovery  = $needsRecovery
        FsckExitCode   = $fsck.ExitCode
        FsckFixes      = $fixes
        FsckModified   = $modified
        FsckRecovered  = $recovered
        FilesJudged    = $judged.Count
        FilesMatching  = $matching
        FilesInFlight  = @($Expected | Where-Object InFlight).Count
        Mismatched     = $mismatched
    }
}

function Test-ImageConsistency {
    <#
    .SYNOPSIS
        Judges a copy of a filesystem image by what a frozen copy of its type is (about_FsFreeze, CONSISTENCY BY
        FILESYSTEM TYPE): ext2/3/4 must have no needs_recovery flag and pass e2fsck -fn; XFS carries the freeze's log
        cover records, so xfs_repair -n may want one log replay first (a mount and umount of the copy in a private
        mount namespace, -o nouuid) and must pass after it; btrfs must pass btrfs check --readonly. Returns
        { Type; Clean; LogReplays; Detail }. The copy is changed only by the XFS log replay.
    #>
    param([Parameter(Mandatory)] [string] $Image, [Parameter(Mandatory)] [ValidateSet('ext2', 'ext3', 'ext4', 'xfs', 'btrfs')] [string] $Type)
    $r = [ordered]@{ Type = $Type; Clean = $false; LogReplays = 0; Detail = '' }
    switch -Wildcard ($Type) {
        'ext*' {
            $features = (& dumpe2fs -h $Image 2>$null | Select-String '^Filesystem features:').Line
            & e2fsck -fn $Image *> $null
            $code = $LASTEXITCODE
            $recovery = $features -match 'needs_recovery'
            $r.Clean = -not $recovery -and $code -eq 0
            $r.Detail = "needs_recovery=$recovery; e2fsck -fn exit $code"
        }
        'xfs' {
            & xfs_repair -n $Image *> $null
            $before = $LASTEXITCODE
            if ($before -ne 0) {
                $loop = (& losetup -f --show $Image).Trim()
                $mnt = (& mktemp -d /tmp/fsfreeze-xfsreplay.XXXXXX).Trim()
                try {
                    & unshare --mount --propagation private sh -c 'mount -o nouuid "$1" "$2" && umount "$2"' replay $loop $mnt
                    $r.LogReplays = 1
                }
                finally { & losetup -d $loop; Remove-Item -LiteralPath $mnt -Force -ErrorAction SilentlyContinue }
            }
            & xfs_repair -n $Image *> $null
            $after = $LASTEXITCODE
            $r.Clean = $after -eq 0
            $r.Detail = "xfs_repair -n exit $before before, $after after $($r.LogReplays) log replay(s)"
        }
        'btrfs' {
            & btrfs check --readonly $Image *> $null
            $r.Clean = $LASTEXITCODE -eq 0
            $r.Detail = "btrfs check --readonly exit $LASTEXITCODE"
        }
    }
    [pscustomobject]$r
}

function Test-SnapshotConsistent {
    # Clean means: no journal to replay, e2fsck -fy found nothing, and every file it could judge holds what was written.
    param([Parameter(Mandatory)] $Result)
    -not $Result.NeedsRecovery -and $Result.FsckExitCode -eq 0 -and -not $Result.FsckModified -and
    $Result.FilesJudged -gt 0 -and $Result.FilesMatching -eq $Result.FilesJudged
}

function Format-Verdict {
    # One line a person reads at a glance: "clean (...)" or what is wrong with the snapshot.
    param([Parameter(Mandatory)] $Result)
    $sums = "checksums $($Result.FilesMatching) of $($Result.FilesJudged) match"
    $how = @($Result.Mismatched | Group-Object How | Sort-Object Name | ForEach-Object { "$($_.Count) $($_.Name)" })
    if ($how) { $sums += " ($($how -join ', '))" }
    if ($Result.FilesInFlight) { $sums += "; $($Result.FilesInFlight) being written at that moment, not judged" }
    if (Test-SnapshotConsistent $Result) { return "clean: no needs_recovery, e2fsck -fy changed nothing, $sums" }
    $problems = @()
    if ($Result.NeedsRecovery) { $problems += 'journal needs recovery' }
    $replayed = if ($Result.FsckRecovered) { ' after replaying the journal' } else { '' }
    $problems += "fsck repaired $($Result.FsckFixes) things$replayed (e2fsck -fy exit $($Result.FsckExitCode))"
    $problems += $sums
    $problems -join '; '
}

Export-ModuleMember -Function Test-ImageConsistency, Invoke-Tool, Invoke-ToolChecked, Get-UnixTime, Read-WriterLog, Get-ExpectedFiles, Get-WriterStall,
    Test-Snapshot, Test-SnapshotConsistent, Format-Verdict
