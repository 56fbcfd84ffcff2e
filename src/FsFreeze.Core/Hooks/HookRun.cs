using System;
using System.Collections.Generic;
using FsFreeze.Protocol;

namespace FsFreeze
{
    /// <summary>One executable of the hook directory, as the plan found it: its name (the sort key) and its path.</summary>
    public sealed record HookSpec(string Name, string Path);

    /// <summary>
    /// One run of one hook: with "freeze" before the flush and the first FIFREEZE, with "thaw" after the thaw (or after a
    /// freeze that failed). Output is stdout and stderr together, captured in memory while the hook ran and reported only
    /// after the thaw; a background process the hook left behind may keep writing, which is not waited for.
    /// </summary>
    public sealed class HookRun
    {
        /// <summary>Output kept per run (the rest is cut, and the cut said so).</summary>
        public const int MaxOutputBytes = 64 * 1024;

        public string Name { get; set; } = "";
        public string Path { get; set; } = "";
        /// <summary>"freeze" or "thaw": the argument the hook was called with.</summary>
        public string Action { get; set; } = "";
        /// <summary>The exit code; null when it was killed (timeout or stop) or could not be started.</summary>
        public int? ExitCode { get; set; }
        public bool TimedOut { get; set; }
        /// <summary>Why a hook did not run to its end other than a timeout: it could not be started, or the caller stopped (Ctrl+C).</summary>
        public string Problem { get; set; } = "";
        public DateTime StartedAt { get; set; }
        public TimeSpan Duration { get; set; }
        public double DurationMs => Math.Round(Duration.TotalMilliseconds, 3);
        public string Output { get; set; } = "";
        public bool Succeeded => ExitCode == 0 && !TimedOut && Problem.Length == 0;

        /// <summary>"exit 0 in 12.3 ms", "timed out after 30 s", ...: for messages.</summary>
        public string Describe()
        {
            if (TimedOut) return $"outlived its timeout ({Duration.TotalSeconds:N1} s) and was killed";
            if (Problem.Length > 0) return Problem;
            return $"exit {ExitCode} in {Duration.TotalMilliseconds:N1} ms";
        }

        /// <summary>The last lines of its output, for an error message ("" when it wrote nothing).</summary>
        public string Tail(int lines = 5)
        {
            var all = Output.TrimEnd().Split('\n');
            if (all.Length == 1 && all[0].Length == 0) return "";
            int from = Math.Max(0, all.Length - lines);
            return string.Join(" | ", all, from, all.Length - from);
        }

        internal string[] ToFields(int maxOutput = MaxOutputBytes)
        {
            var output = Output.Length > maxOutput ? Output.Substring(0, maxOutput) + $"\n[... {Output.Length - maxOutput} more characters not kept]" : Output;
            return new[]
            {
                Action, Name, Path, ExitCode.HasValue ? WatchdogProtocol.Num(ExitCode.Value) : "", WatchdogProtocol.Flag(TimedOut), Problem,
                WatchdogProtocol.Ticks(StartedAt.ToUniversalTime()), WatchdogProtocol.Num(Duration.Ticks), output,
            };
        }

        /// <summary>From the fields of <see cref="ToFields"/>, starting at <paramref name="first"/>.</summary>
        internal static HookRun FromFields(string[] f, int first)
        {
            string At(int i) => WatchdogProtocol.At(f, first + i);
            return new HookRun
            {
                Action = At(0), Name = At(1), Path = At(2),
                ExitCode = At(3).Length > 0 ? (int)WatchdogProtocol.ParseNum(At(3)) : null,
                TimedOut = At(4) == "1", Problem = At(5),
                StartedAt = (WatchdogProtocol.FromTicks(At(6)) ?? default).ToLocalTime(),
                Duration = TimeSpan.FromTicks(At(7).Length > 0 ? WatchdogProtocol.ParseNum(At(7)) : 0),
                Output = At(8),
            };
        }
    }

    /// <summary>What the hooks of one freeze are: where they came from, which to run, how long each may take.</summary>
    public sealed class HookPlan
    {
        public const string DefaultDirectory = "/etc/fsfreeze/hooks.d";
        public const int DefaultTimeoutSec = 30;

        public static readonly HookPlan None = new HookPlan("", Array.Empty<HookSpec>(), Array.Empty<(string, string)>(), DefaultTimeoutSec);

        public HookPlan(string directory, IReadOnlyList<HookSpec> hooks, IReadOnlyList<(string Name, string Why)> skipped, int timeoutSec)
        {
            Directory = directory;
            Hooks = hooks;
            Skipped = skipped;
            TimeoutSec = timeoutSec;
        }

        /// <summary>"" when hooks are off.</summary>
        public string Directory { get; }
        /// <summary>In the order they run with "freeze" (byte order of their names); "thaw" goes the other way.</summary>
        public IReadOnlyList<HookSpec> Hooks { get; }
        /// <summary>Entries of the directory that are not run, and why (a name qemu-ga skips too, not executable, ...).</summary>
        public IReadOnlyList<(string Name, string Why)> Skipped { get; }
        public int TimeoutSec { get; }

        public bool IsEmpty => Hooks.Count == 0;

        /// <summary>The most a freeze and its thaw can spend in hooks (every hook up to its timeout, twice), plus a margin for kills.</summary>
        public int BudgetSec => Hooks.Count == 0 ? 0 : Hooks.Count * (TimeoutSec + 3) * 2 + 5;
    }
}
