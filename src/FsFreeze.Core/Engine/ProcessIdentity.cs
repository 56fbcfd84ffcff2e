using System;
using System.IO;

namespace FsFreeze
{
    /// <summary>
    /// A process named by pid and start time (field 22 of /proc/pid/stat), so a pid the kernel has reused
    /// for another process is not mistaken for the freezer or the watchdog.
    /// </summary>
    internal readonly struct ProcessIdentity
    {
        public ProcessIdentity(int pid, ulong startTime) { Pid = pid; StartTime = startTime; }

        public int Pid { get; }
        public ulong StartTime { get; }

        public static ProcessIdentity Of(int pid) => new ProcessIdentity(pid, ReadStartTime(pid) ?? 0);

        public bool IsAlive
        {
            get
            {
                if (Pid <= 0) return false;
                var now = ReadStartTime(Pid);
                return now.HasValue && (StartTime == 0 || now.Value == StartTime);
            }
        }

        /// <summary>True when the process is stopped (SIGSTOP, or a debugger): it runs nothing until SIGCONT.</summary>
        internal static bool IsStopped(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                int close = stat.LastIndexOf(')');
                return close > 0 && close + 2 < stat.Length && (stat[close + 2] == 'T' || stat[close + 2] == 't');
            }
            catch (IOException) { return false; }
            catch (UnauthorizedAccessException) { return false; }
        }

        /// <summary>Null when the process is gone (or is a zombie: it no longer runs anything).</summary>
        internal static ulong? ReadStartTime(int pid)
        {
            string text;
            try { text = File.ReadAllText($"/proc/{pid}/stat"); }
            catch (IOException) { return null; }
            catch (UnauthorizedAccessException) { return null; }
            return ParseStartTime(text);
        }

        /// <summary>The comm field may hold spaces and parentheses: fields count from the last ')'.</summary>
        internal static ulong? ParseStartTime(string stat)
        {
            int close = stat.LastIndexOf(')');
            if (close < 0) return null;
            var f = stat.Substring(close + 2).Split(' ');
            // f[0] is field 3 (state); starttime is field 22.
            if (f.Length < 20 || f[0] == "Z" || f[0] == "X") return null;
            return ulong.TryParse(f[19], out var v) ? v : (ulong?)null;
        }
    }
}
