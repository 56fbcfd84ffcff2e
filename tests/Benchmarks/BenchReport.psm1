# Statistics, the stall-window analysis and the SVG chart for Invoke-Benchmark.ps1. Pure functions, no I/O but the SVG file.
Set-StrictMode -Version 3.0

function Get-Percentile {
    # Nearest-rank percentile of a sample (p in 0..100).
    param([double[]] $Values, [double] $P)
    if (-not $Values -or $Values.Count -eq 0) { return [double]::NaN }
    $sorted = [double[]]$Values.Clone()
    [Array]::Sort($sorted)
    $rank = [Math]::Max(1, [Math]::Ceiling($P / 100 * $sorted.Count))
    $sorted[$rank - 1]
}

function Get-Median {
    param([double[]] $Values)
    if (-not $Values -or $Values.Count -eq 0) { return [double]::NaN }
    $sorted = [double[]]$Values.Clone()
    [Array]::Sort($sorted)
    $mid = [int][Math]::Floor($sorted.Count / 2)
    if ($sorted.Count % 2) { $sorted[$mid] } else { ($sorted[$mid - 1] + $sorted[$mid]) / 2 }
}

function Read-WriterGaps {
    # Parses StallWriter's report: "gap <startNs> <endNs>" lines and the final "done <writes> <maxGapNs>".
    param([string[]] $Lines)
    $gaps = [Collections.Generic.List[long[]]]::new()
    $done = $null
    foreach ($line in $Lines) {
        $f = $line.Split(' ')
        if ($f[0] -eq 'gap') { $gaps.Add([long[]]@([long]$f[1], [long]$f[2])) }
        elseif ($f[0] -eq 'done') { $done = [pscustomobject]@{ Writes = [long]$f[1]; MaxGapNs = [long]$f[2] } }
    }
    if (-not $done) { throw "The stall writer's report has no 'done' line: $($Lines -join ' | ')" }
    [pscustomobject]@{ Gaps = $gaps; Writes = $done.Writes; MaxGapNs = $done.MaxGapNs }
}

function Get-WindowStall {
    <#
    .SYNOPSIS
        The stall a writer saw during [StartNs, EndNs]: the longest gap between two of its writes that overlaps the
        window. When no recorded gap overlaps, every gap was below the writer's threshold: that bound is returned.
    #>
    param($Report, [long] $StartNs, [long] $EndNs, [double] $ThresholdMs)
    $best = 0L
    foreach ($g in $Report.Gaps) {
        if ($g[0] -lt $EndNs -and $g[1] -gt $StartNs) { $best = [Math]::Max($best, $g[1] - $g[0]) }
    }
    if ($best -eq 0) { return $ThresholdMs }
    $best / 1e6
}

function New-StallChartSvg {
    <#
    .SYNOPSIS
        Draws median stall (ms) against dirty data (MB), one line per method, as a standalone SVG document.
    .PARAMETER Points
        Objects with DirtyMB, Method and StallMs.
    #>
    param([object[]] $Points, [string] $Title)
    $w = 760; $h = 440; $left = 70; $right = 220; $top = 50; $bottom = 60
    $pw = $w - $left - $right; $ph = $h - $top - $bottom
    $maxX = [Math]::Max(1, ($Points | Measure-Object DirtyMB -Maximum).Maximum)
    $maxY = [Math]::Max(1, ($Points | Measure-Object StallMs -Maximum).Maximum)
    $stepY = Get-NiceStep $maxY; $maxY = [Math]::Ceiling($maxY / $stepY) * $stepY
    $stepX = Get-NiceStep $maxX; $maxX = [Math]::Ceiling($maxX / $stepX) * $stepX
    $inv = [Globalization.CultureInfo]::InvariantCulture
    $X = { param($v) ($left + $v / $maxX * $pw).ToString('0.#', $inv) }
    $Y = { param($v) ($top + $ph - $v / $maxY * $ph).ToString('0.#', $inv) }
    $colors = '#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e'
    $sb = [Text.StringBuilder]::new()
    [void]$sb.AppendLine("<svg xmlns='http://www.w3.org/2000/svg' width='$w' height='$h' viewBox='0 0 $w $h' font-family='sans-serif' font-size='12'>")
    [void]$sb.AppendLine("<rect width='$w' height='$h' fill='white'/>")
    [void]$sb.AppendLine("<text x='$($w / 2)' y='24' text-anchor='middle' font-size='15'>$([Security.SecurityElement]::Escape($Title))</text>")
    for ($v = 0.0; $v -le $maxY + 1e-9; $v += $stepY) {
        $yy = & $Y $v
        [void]$sb.AppendLine("<line x1='$left' y1='$yy' x2='$($left + $pw)' y2='$yy' stroke='#ddd'/><text x='$($left - 6)' y='$yy' dy='4' text-anchor='end'>$($v.ToString('0.##', $inv))</text>")
    }
    for ($v = 0.0; $v -le $maxX + 1e-9; $v += $stepX) {
        $xx = & $X $v
        [void]$sb.AppendLine("<line x1='$xx' y1='$top' x2='$xx' y2='$($top + $ph)' stroke='#eee'/><text x='$xx' y='$($top + $ph + 18)' text-anchor='middle'>$($v.ToString('0.##', $inv))</text>")
    }
    [void]$sb.AppendLine("<rect x='$left' y='$top' width='$pw' height='$ph' fill='none' stroke='#333'/>")
    [void]$sb.AppendLine("<text x='$($left + $pw / 2)' y='$($h - 16)' text-anchor='middle'>dirty data on the filesystem before the freeze (MB)</text>")
    [void]$sb.AppendLine("<text transform='translate(18 $($top + $ph / 2)) rotate(-90)' text-anchor='middle'>longest write stall, median (ms)</text>")
    $i = 0
    foreach ($group in ($Points | Group-Object Method)) {
        $c = $colors[$i % $colors.Count]
        $pts = $group.Group | Sort-Object DirtyMB
        $coords = ($pts | ForEach-Object { "$(& $X $_.DirtyMB),$(& $Y $_.StallMs)" }) -join ' '
        [void]$sb.AppendLine("<polyline points='$coords' fill='none' stroke='$c' stroke-width='2'/>")
        foreach ($p in $pts) { [void]$sb.AppendLine("<circle cx='$(& $X $p.DirtyMB)' cy='$(& $Y $p.StallMs)' r='3.5' fill='$c'/>") }
        $ly = $top + 10 + 22 * $i
        [void]$sb.AppendLine("<line x1='$($left + $pw + 14)' y1='$ly' x2='$($left + $pw + 38)' y2='$ly' stroke='$c' stroke-width='2'/><text x='$($left + $pw + 44)' y='$ly' dy='4'>$([Security.SecurityElement]::Escape($group.Name))</text>")
        $i++
    }
    [void]$sb.AppendLine('</svg>')
    $sb.ToString()
}

function New-SetHoldChartSvg {
    <#
    .SYNOPSIS
        Draws, for sets of filesystems with dirty data, how long each method held the set against its slowest member's
        own FIFREEZE (set hold / slowest FIFREEZE), by the number of filesystems: one panel per filesystem type, one line
        per method, a logarithmic scale, and the line at 2x (issue 9's goal). A standalone SVG document.
    .PARAMETER Sets
        Objects with Type, Count, Method, HoldOverSlowest (Measure-KernelWindow.ps1's Sets).
    #>
    param([object[]] $Sets, [string] $Title)
    $types = @($Sets.Type | Select-Object -Unique)
    $counts = @($Sets.Count | Sort-Object -Unique)
    $methods = @($Sets.Method | Select-Object -Unique)
    $pw = 250; $ph = 260; $gap = 30; $left = 60; $top = 60; $bottom = 55; $legend = 330
    $w = $left + $types.Count * ($pw + $gap) + $legend; $h = $top + $ph + $bottom
    $inv = [Globalization.CultureInfo]::InvariantCulture
    $finite = @($Sets | Where-Object { $_.HoldOverSlowest -gt 0 -and -not [double]::IsNaN($_.HoldOverSlowest) -and -not [double]::IsInfinity($_.HoldOverSlowest) })
    $maxY = [Math]::Max(4, ($finite | Measure-Object HoldOverSlowest -Maximum).Maximum)
    $decades = [Math]::Ceiling([Math]::Log10($maxY))
    $Y = { param($v) ($top + $ph - [Math]::Log10([Math]::Max(1, $v)) / $decades * $ph).ToString('0.#', $inv) }
    $X = { param($i, $p) ($left + $p * ($pw + $gap) + ($(if ($counts.Count -gt 1) { $i / ($counts.Count - 1) } else { 0.5 })) * ($pw - 20) + 10).ToString('0.#', $inv) }
    $colors = '#7f7f7f', '#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e'
    $dash = @{}
    $sb = [Text.StringBuilder]::new()
    [void]$sb.AppendLine("<svg xmlns='http://www.w3.org/2000/svg' width='$w' height='$h' viewBox='0 0 $w $h' font-family='sans-serif' font-size='12'>")
    [void]$sb.AppendLine("<rect width='$w' height='$h' fill='white'/>")
    [void]$sb.AppendLine("<text x='$($w / 2)' y='24' text-anchor='middle' font-size='15'>$([Security.SecurityElement]::Escape($Title))</text>")
    [void]$sb.AppendLine("<text transform='translate(16 $($top + $ph / 2)) rotate(-90)' text-anchor='middle'>set hold / slowest member's FIFREEZE (log)</text>")
    for ($p = 0; $p -lt $types.Count; $p++) {
        $x0 = $left + $p * ($pw + $gap)
        [void]$sb.AppendLine("<text x='$($x0 + $pw / 2)' y='$($top - 10)' text-anchor='middle' font-size='13'>$([Security.SecurityElement]::Escape($types[$p]))</text>")
        foreach ($v in 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) {
            if ($v -gt [Math]::Pow(10, $decades)) { break }
            $yy = & $Y $v
            $style = if ($v -eq 2) { "stroke='#444' stroke-dasharray='5,3'" } else { "stroke='#ddd'" }
            [void]$sb.AppendLine("<line x1='$x0' y1='$yy' x2='$($x0 + $pw)' y2='$yy' $style/>")
            if ($p -eq 0) { [void]$sb.AppendLine("<text x='$($x0 - 6)' y='$yy' dy='4' text-anchor='end'>$($v)x</text>") }
        }
        for ($i = 0; $i -lt $counts.Count; $i++) {
            $xx = & $X $i $p
            [void]$sb.AppendLine("<text x='$xx' y='$($top + $ph + 18)' text-anchor='middle'>$($counts[$i])</text>")
        }
        [void]$sb.AppendLine("<rect x='$x0' y='$top' width='$pw' height='$ph' fill='none' stroke='#333'/>")
        for ($m = 0; $m -lt $methods.Count; $m++) {
            $c = $colors[$m % $colors.Count]
            $pts = @($finite | Where-Object { $_.Type -eq $types[$p] -and $_.Method -eq $methods[$m] } | Sort-Object Count)
            if (-not $pts) { continue }
            $coords = ($pts | ForEach-Object { "$(& $X ([array]::IndexOf($counts, $_.Count)) $p),$(& $Y $_.HoldOverSlowest)" }) -join ' '
            [void]$sb.AppendLine("<polyline points='$coords' fill='none' stroke='$c' stroke-width='2'/>")
            foreach ($pt in $pts) { [void]$sb.AppendLine("<circle cx='$(& $X ([array]::IndexOf($counts, $pt.Count)) $p)' cy='$(& $Y $pt.HoldOverSlowest)' r='3' fill='$c'/>") }
        }
    }
    [void]$sb.AppendLine("<text x='$($left + ($types.Count * ($pw + $gap) - $gap) / 2)' y='$($h - 14)' text-anchor='middle'>filesystems in the set (each with dirty data)</text>")
    $lx = $left + $types.Count * ($pw + $gap) + 6
    for ($m = 0; $m -lt $methods.Count; $m++) {
        $ly = $top + 10 + 20 * $m
        [void]$sb.AppendLine("<line x1='$lx' y1='$ly' x2='$($lx + 22)' y2='$ly' stroke='$($colors[$m % $colors.Count])' stroke-width='2'/><text x='$($lx + 28)' y='$ly' dy='4'>$([Security.SecurityElement]::Escape($methods[$m]))</text>")
    }
    $ly = $top + 20 + 20 * $methods.Count
    [void]$sb.AppendLine("<line x1='$lx' y1='$ly' x2='$($lx + 22)' y2='$ly' stroke='#444' stroke-dasharray='5,3'/><text x='$($lx + 28)' y='$ly' dy='4'>2x: the goal</text>")
    [void]$sb.AppendLine('</svg>')
    $sb.ToString()
}

function Get-NiceStep {
    # A grid step of 1, 2 or 5 times a power of ten giving about five lines up to $Max.
    param([double] $Max)
    $raw = $Max / 5
    $pow = [Math]::Pow(10, [Math]::Floor([Math]::Log10($raw)))
    foreach ($m in 1, 2, 5, 10) { if ($m * $pow -ge $raw) { return $m * $pow } }
}

function New-BenchStateDirectory {
    # A tmpfs state directory under /run for this run, set as FSFREEZE_STATE_DIR; $null when the caller already made one
    # (Invoke-Benchmark.ps1 runs Measure-KernelWindow.ps1 inside its own).
    if ("$env:FSFREEZE_STATE_DIR" -like '/run/fsfreeze-bench.*') { return $null }
    $dir = (& mktemp -d /run/fsfreeze-bench.XXXXXX).Trim()
    & mount -t tmpfs -o mode=0755,size=16m fsfreeze-bench $dir
    if ($LASTEXITCODE) { Remove-Item -LiteralPath $dir -Force; throw "Cannot mount a tmpfs on $dir for the benchmark's state." }
    $made = [pscustomobject]@{ Dir = $dir; Saved = $env:FSFREEZE_STATE_DIR }
    $env:FSFREEZE_STATE_DIR = $dir
    $made
}

function Remove-BenchStateDirectory($State) {
    if (-not $State) { return }
    $env:FSFREEZE_STATE_DIR = $State.Saved
    & umount $State.Dir 2>$null
    Remove-Item -LiteralPath $State.Dir -Recurse -Force -ErrorAction SilentlyContinue
}

Export-ModuleMember -Function New-BenchStateDirectory, Remove-BenchStateDirectory, Get-Percentile, Get-Median, Read-WriterGaps, Get-WindowStall, New-StallChartSvg, New-SetHoldChartSvg
