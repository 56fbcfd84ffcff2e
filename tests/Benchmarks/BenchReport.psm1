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

function Get-NiceStep {
    # A grid step of 1, 2 or 5 times a power of ten giving about five lines up to $Max.
    param([double] $Max)
    $raw = $Max / 5
    $pow = [Math]::Pow(10, [Math]::Floor([Math]::Log10($raw)))
    foreach ($m in 1, 2, 5, 10) { if ($m * $pow -ge $raw) { return $m * $pow } }
}

Export-ModuleMember -Function Get-Percentile, Get-Median, Read-WriterGaps, Get-WindowStall, New-StallChartSvg
