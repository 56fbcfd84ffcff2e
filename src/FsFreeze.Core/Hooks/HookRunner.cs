using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using FsFreeze.Native;

namespace FsFreeze
{
    /// <summary>
    /// Runs hooks: the same code in pwsh (a -TimeoutSec 0 freeze, a thaw that ends one) and in fsfreeze-watchdog (a timed
    /// freeze: it runs the freeze hooks before its first FIFREEZE and the thaw hooks after its last FITHAW, whoever asked).
    /// <list type="bullet">
    /// <item>Each hook is called as qemu-ga calls fsfreeze-hook.d scripts: its path with one argument, "freeze" or "thaw",
    /// working directory /, stdin /dev/null, the caller's environment plus FSFREEZE_* (the set, the freeze id, ...).</item>
    /// <item>It runs in a session of its own (setsid): a Ctrl+C on the caller's terminal does not reach it, nor the
    /// background process it may leave holding an application lock (the mysql-flush pattern), and a hook that outlives its
    /// timeout is ended with its whole process group.</item>
    /// <item>FsFreeze waits for the hook's exit, never for its output to close: stdout and stderr go to a memfd (an
    /// anonymous file in memory), not a pipe, so a background child that keeps them open blocks nothing and is never hit
    /// by SIGPIPE when the caller goes away. The output is read after the exit and reported after the thaw.</item>
    /// </list>
    /// </summary>
    public static class HookRunner
    {
        public const string Freeze = "freeze", Thaw = "thaw";

        /// <summary>Why thaw hooks run: FSFREEZE_THAW_REASON.</summary>
        public const string ReasonThawed = "thawed", ReasonTimeout = "timeout", ReasonAborted = "aborted";

        private const uint MFD_CLOEXEC = 1;
        private const int SEEK_END = 2, SIGTERM = 15, SIGKILL = 9;

        [DllImport("libc", EntryPoint = "memfd_create", SetLastError = true)]
        private static extern int memfd_create([MarshalAs(UnmanagedType.LPUTF8Str)] string name, uint flags);

        [DllImport("libc", EntryPoint = "pread", SetLastError = true)]
        private static extern unsafe nint pread(int fd, byte* buffer, nuint count, long offset);

        [DllImport("libc", EntryPoint = "lseek", SetLastError = true)]
        private static extern long lseek(int fd, long offset, int whence);

        [DllImport("libc", EntryPoint = "close")]
        private static extern int close(int fd);

        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static extern int kill(int pid, int signal);

        [DllImport("libc", EntryPoint = "getpgrp")]
        private static extern int getpgrp();

        private static readonly string? Setsid = Array.Find(new[] { "/usr/bin/setsid", "/bin/setsid" }, File.Exists);

        /// <summary>The environment every hook of a freeze gets, besides the caller's own and FSFREEZE_ACTION.</summary>
        public static Dictionary<string, string> Environment(string freezeId, IEnumerable<string> mountPoints, long timeoutSec, int hookTimeoutSec)
            => new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["FSFREEZE_ID"] = freezeId,
                // One mount point a line, in freeze order (a mount point may hold spaces): while read -r mp; do ...; done
                ["FSFREEZE_MOUNTPOINTS"] = string.Join("\n", mountPoints),
                ["FSFREEZE_TIMEOUT_SEC"] = timeoutSec.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["FSFREEZE_HOOK_TIMEOUT_SEC"] = hookTimeoutSec.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };

        /// <summary>
        /// The freeze hooks in order, stopping at the first that fails (non-zero exit, timeout, a stop request); then every
        /// hook started with "freeze", the failed one included, runs with "thaw" in reverse order (FSFREEZE_THAW_REASON
        /// "aborted"), and the failure comes back as FsFreeze.HookFailed. <paramref name="ran"/> gets each hook as it starts.
        /// </summary>
        public static FsFreezeException? RunFreeze(HookPlan plan, IReadOnlyDictionary<string, string> env, List<HookSpec> ran, Action<HookRun> onRun,
            Func<bool>? stop, string pathForErrors)
        {
            foreach (var hook in plan.Hooks)
            {
                ran.Add(hook);
                var r = Run(hook, Freeze, env, plan.TimeoutSec, stop, null);
                onRun(r);
                if (r.Succeeded) continue;
                var thaws = RunThaw(ran, env, plan.TimeoutSec, ReasonAborted, onRun, null);
                var tail = r.Tail();
                return new FsFreezeException(FreezeErrorKind.HookFailed, pathForErrors,
                    $"The freeze hook '{hook.Name}' ({hook.Path}) {r.Describe()}{(tail.Length > 0 ? $"; its output ended: {tail}" : "")}. " +
                    $"Nothing was frozen. The hooks that ran 'freeze' ran 'thaw' ({Summary(thaws)}). " +
                    "Fix the hook (or the application it quiesces), raise -HookTimeoutSec if it needs longer, or freeze with -NoHooks.");
            }
            return null;
        }

        /// <summary>Every hook that ran "freeze", with "thaw", in reverse order; one failing does not stop the others.</summary>
        public static List<HookRun> RunThaw(IReadOnlyList<HookSpec> ran, IReadOnlyDictionary<string, string> env, int timeoutSec, string reason,
            Action<HookRun>? onRun, Action? tick)
        {
            var thawEnv = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var kv in env) thawEnv[kv.Key] = kv.Value;
            thawEnv["FSFREEZE_THAW_REASON"] = reason;
            var runs = new List<HookRun>();
            for (int i = ran.Count - 1; i >= 0; i--)
            {
                var r = Run(ran[i], Thaw, thawEnv, timeoutSec, null, tick);
                runs.Add(r);
                onRun?.Invoke(r);
            }
            return runs;
        }

        /// <summary>The failed thaw runs, as errors to report once every thaw hook has run.</summary>
        public static List<FsFreezeException> ThawFailures(IEnumerable<HookRun> runs, string pathForErrors)
        {
            var errors = new List<FsFreezeException>();
            foreach (var r in runs)
            {
                if (r.Action != Thaw || r.Succeeded) continue;
                var tail = r.Tail();
                errors.Add(new FsFreezeException(FreezeErrorKind.HookFailed, pathForErrors,
                    $"The thaw hook '{r.Name}' ({r.Path}) {r.Describe()}{(tail.Length > 0 ? $"; its output ended: {tail}" : "")}. " +
                    "The filesystems are thawed; whatever that hook releases (an application lock) may still be held: check the application."));
            }
            return errors;
        }

        public static string Summary(IReadOnlyCollection<HookRun> runs)
        {
            if (runs.Count == 0) return "none";
            var parts = new List<string>();
            foreach (var r in runs) parts.Add($"{r.Name}: {r.Describe()}");
            return string.Join("; ", parts);
        }

        /// <summary>
        /// Runs one hook and waits for its exit (bounded by <paramref name="timeoutSec"/>; <paramref name="stop"/> ends it
        /// early). <paramref name="tick"/> is called about once a second while it runs (the watchdog keeps a client's
        /// connection alive with it).
        /// </summary>
        public static HookRun Run(HookSpec hook, string action, IReadOnlyDictionary<string, string> env, int timeoutSec, Func<bool>? stop, Action? tick)
        {
            var run = new HookRun { Name = hook.Name, Path = hook.Path, Action = action, StartedAt = DateTime.Now };
            var sw = Stopwatch.StartNew();
            int memfd = memfd_create("fsfreeze-hook", MFD_CLOEXEC);
            try
            {
                var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = "/" };
                // sh only to point stdout/stderr at the memfd (reopened through /proc: a file, not a pipe) and stdin at
                // /dev/null; then it becomes the hook (exec), in a session of its own when setsid is there.
                psi.ArgumentList.Add("-c");
                psi.ArgumentList.Add("exec >>\"$FSFREEZE_HOOK_OUTPUT\" 2>&1 </dev/null; unset FSFREEZE_HOOK_OUTPUT; exec " + (Setsid != null ? Setsid + " -w " : "") + "\"$0\" \"$1\"");
                psi.ArgumentList.Add(hook.Path);
                psi.ArgumentList.Add(action);
                foreach (var kv in env) psi.Environment[kv.Key] = kv.Value;
                psi.Environment["FSFREEZE_ACTION"] = action;
                psi.Environment["FSFREEZE_HOOK_OUTPUT"] = memfd >= 0 ? $"/proc/{System.Environment.ProcessId}/fd/{memfd}" : "/dev/null";
                Process p;
                try { p = Process.Start(psi)!; }
                catch (Exception e) when (e is System.ComponentModel.Win32Exception || e is IOException)
                {
                    run.Problem = $"could not be started ({e.Message})";
                    return run;
                }
                using (p)
                {
                    long lastTick = 0;
                    while (!p.WaitForExit(50))
                    {
                        if (sw.Elapsed.TotalSeconds >= timeoutSec) { run.TimedOut = true; break; }
                        if (stop?.Invoke() == true) { run.Problem = "was stopped (the freeze was cancelled) and killed"; break; }
                        if (tick != null && sw.ElapsedMilliseconds - lastTick >= 1000) { lastTick = sw.ElapsedMilliseconds; tick(); }
                    }
                    if (run.TimedOut || run.Problem.Length > 0) End(p);
                    else run.ExitCode = p.ExitCode;
                }
                return run;
            }
            finally
            {
                run.Duration = sw.Elapsed;
                if (memfd >= 0)
                {
                    run.Output = ReadOutput(memfd);
                    close(memfd);
                }
            }
        }

        /// <summary>SIGTERM to the hook's process group (its own session, verified), SIGKILL after 2 s if its leader still runs.</summary>
        private static void End(Process p)
        {
            int pid = p.Id;
            bool group = pid > 1 && pid != getpgrp() && ProcessGroupOf(pid) == pid;
            if (group) kill(-pid, SIGTERM); else kill(pid, SIGTERM);
            if (p.WaitForExit(2000)) return;
            if (group && ProcessGroupOf(pid) == pid) kill(-pid, SIGKILL); else kill(pid, SIGKILL);
            p.WaitForExit(2000);
        }

        /// <summary>Field 5 of /proc/PID/stat (after the parenthesised name); 0 when the process is gone.</summary>
        private static int ProcessGroupOf(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var rest = stat.Substring(stat.LastIndexOf(')') + 2).Split(' ');
                return rest.Length > 2 && rest[0] != "Z" && int.TryParse(rest[2], out var g) ? g : 0;
            }
            catch (IOException) { return 0; }
            catch (UnauthorizedAccessException) { return 0; }
        }

        private static unsafe string ReadOutput(int fd)
        {
            long size = lseek(fd, 0, SEEK_END);
            if (size <= 0) return "";
            int want = (int)Math.Min(size, HookRun.MaxOutputBytes);
            var buffer = new byte[want];
            int got = 0;
            fixed (byte* b = buffer)
            {
                while (got < want)
                {
                    nint n = pread(fd, b + got, (nuint)(want - got), got);
                    if (n <= 0) break;
                    got += (int)n;
                }
            }
            var text = Encoding.UTF8.GetString(buffer, 0, got);
            return size > want ? text + $"\n[... {size - want} more bytes not kept]" : text;
        }
    }
}
