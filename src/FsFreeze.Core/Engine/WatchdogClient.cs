using System;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using FsFreeze.Native;
using FsFreeze.Protocol;

namespace FsFreeze
{
    /// <summary>
    /// Talks to fsfreeze-watchdog: starts one for a planned set and reads its handshake, and sends requests to a
    /// running one on its abstract socket. A reply is believed only from a root peer with the expected pid.
    /// </summary>
    internal static class WatchdogClient
    {
        public const string ExecutableName = "fsfreeze-watchdog";
        private const int RequestTimeoutMs = 5000;

        /// <summary>Beside FsFreeze.Core.dll in the module folder.</summary>
        public static string DefaultExecutable
            => Path.Combine(Path.GetDirectoryName(typeof(WatchdogClient).Assembly.Location) ?? ".", ExecutableName);

        /// <summary>
        /// A module installed from its nupkg (Install-PSResource) loses Unix file modes, so the watchdog arrives
        /// without its execute bit. We run as root here (freezing needs it), so restore it rather than fail.
        /// </summary>
        private static void EnsureExecutable(string path)
        {
            var mode = File.GetUnixFileMode(path);
            const UnixFileMode exec = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
            if ((mode & UnixFileMode.UserExecute) == 0) File.SetUnixFileMode(path, mode | exec);
        }

        /// <summary>
        /// Starts a watchdog that freezes the set and holds it; returns when every member is frozen (or throws, nothing left
        /// frozen). For a scope, the watchdog's stdin and stdout stay open as its control pipe (<see cref="SpawnResult.Control"/>):
        /// the scope's thaw goes through it, with no new connection inside the frozen window.
        /// </summary>
        public static SpawnResult Spawn(SpawnRequest request, IReadOnlyList<Filesystem> members, CancellationToken cancel, string? executable = null,
            WatchdogLaunch? launch = null, Action<HookRun>? onHook = null)
        {
            executable ??= DefaultExecutable;
            var started = launch?.Take();
            if (started != null) return Handshake(started, request, members, cancel, onHook);
            if (!File.Exists(executable))
            {
                throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, members[0].RequestedPath,
                    $"Cannot freeze with a timeout: the watchdog '{executable}' is missing from the module folder. Reinstall FsFreeze, or freeze with -TimeoutSec 0 (no timeout). Nothing was frozen.");
            }
            ChildProcess child;
            try
            {
                EnsureExecutable(executable);
                child = ChildProcess.Start(executable);
            }
            catch (Exception e) when (e is NativeException || e is IOException || e is UnauthorizedAccessException)
            {
                throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, members[0].RequestedPath,
                    $"Cannot start the watchdog '{executable}': {e.Message}. Nothing was frozen.", e);
            }
            // Reaped whenever it exits, from now on (set up here, before anything is frozen: nothing of it runs in the window).
            child.ReapInBackground();
            return Handshake(child, request, members, cancel, onHook);
        }

        /// <summary>
        /// Starts a watchdog before the set is planned, so its own start (exec, runtime, signals, threads) overlaps the
        /// planning; it waits for its request. <see cref="Spawn"/> takes it. The spare this process keeps (see
        /// <see cref="KeepSpare"/>) is taken first, when it is still good. Null when none can be started now: Spawn then
        /// starts one and reports why it cannot.
        /// </summary>
        public static WatchdogLaunch? Prestart(string? executable = null)
        {
            executable ??= DefaultExecutable;
            return TakeSpare(executable) ?? Launch(executable);
        }

        private static WatchdogLaunch? Launch(string executable)
        {
            try
            {
                if (!File.Exists(executable)) return null;
                EnsureExecutable(executable);
                var child = ChildProcess.Start(executable);
                child.ReapInBackground();
                return new WatchdogLaunch(child);
            }
            catch (Exception e) when (e is NativeException || e is IOException || e is UnauthorizedAccessException)
            {
                return null;
            }
        }

        /// <summary>
        /// One idle watchdog kept for this process's next timed freeze: a process that has made one is likely to make
        /// another (a runbook's loop, a scheduled job's session), and a watchdog started ahead takes its start (about 3 ms
        /// here) out of the freeze and thaw pair. It waits for a request on its stdin and ends when this process ends.
        /// </summary>
        private sealed record Spare(WatchdogLaunch Launch, string Executable, int Environment);

        private static Spare? _spare;
        private static int _timedFreezes;

        /// <summary>Set to 0 to keep no spare watchdog (FSFREEZE_SPARE_WATCHDOG=0).</summary>
        public const string SpareVariable = "FSFREEZE_SPARE_WATCHDOG";

        /// <summary>Called when this process has made a timed freeze: from then on its thaws keep a spare.</summary>
        internal static void NoteTimedFreeze() => Interlocked.Increment(ref _timedFreezes);

        /// <summary>
        /// After a thaw (outside any frozen window of ours): if this process has made a timed freeze and keeps no spare,
        /// start one. Nothing is frozen by it until a freeze takes it with its request.
        /// </summary>
        public static void KeepSpare()
        {
            if (Volatile.Read(ref _timedFreezes) == 0 || Volatile.Read(ref _spare) != null) return;
            if (Environment.GetEnvironmentVariable(SpareVariable) == "0" || !Posix.HasSysAdmin()) return;
            var executable = DefaultExecutable;
            var launch = Launch(executable);
            if (launch == null) return;
            if (Interlocked.CompareExchange(ref _spare, new Spare(launch, executable, EnvironmentFingerprint()), null) != null) launch.Dispose();
        }

        /// <summary>
        /// The spare, if it is still good for a freeze now: alive, of this module folder's watchdog, and started with the
        /// environment this process has now (the hooks it runs inherit it). A stale one is let go: it ends at once.
        /// </summary>
        private static WatchdogLaunch? TakeSpare(string executable)
        {
            var spare = Interlocked.Exchange(ref _spare, null);
            if (spare == null) return null;
            if (spare.Executable == executable && spare.Launch.IsAlive && spare.Environment == EnvironmentFingerprint()) return spare.Launch;
            spare.Launch.Dispose();
            return null;
        }

        private static int EnvironmentFingerprint()
        {
            var pairs = new List<string>();
            foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables()) pairs.Add($"{e.Key}={e.Value}");
            pairs.Sort(StringComparer.Ordinal);
            var hash = new HashCode();
            foreach (var p in pairs) hash.Add(p, StringComparer.Ordinal);
            return hash.ToHashCode();
        }

        /// <summary>A watchdog started ahead of its request. Not taken by a freeze, it is let go: its stdin closes, and it ends at once.</summary>
        internal sealed class WatchdogLaunch : IDisposable
        {
            private ChildProcess? _child;

            internal WatchdogLaunch(ChildProcess child) => _child = child;

            internal ChildProcess? Take() => Interlocked.Exchange(ref _child, null);

            internal bool IsAlive => Volatile.Read(ref _child) is ChildProcess c && !c.HasExited;

            public void Dispose() => Take()?.Dispose();
        }

        /// <summary>Sends the request and reads the handshake; the child's pipes are closed after, but a scope's stdin and stdout.</summary>
        private static SpawnResult Handshake(ChildProcess child, SpawnRequest request, IReadOnlyList<Filesystem> members, CancellationToken cancel,
            Action<HookRun>? onHook)
        {
            bool keep = false;
            try
            {
                // The request goes through stdin: paths may hold any character. A scope keeps the pipe for its thaw.
                try { child.Stdin.Write(request.Format()); }
                catch (IOException) { } // it died at once: the handshake says so
                if (!request.Scope) child.Stdin.Dispose();
                var result = ReadHandshake(child, request, members, cancel, onHook);
                child.Stderr.Dispose();
                if (!request.Scope) child.Stdout.Dispose();
                keep = request.Scope;
                return result with { Control = request.Scope ? new ControlPipe(child, request.Id) : null };
            }
            finally
            {
                if (!keep) child.Dispose();
            }
        }

        public sealed record SpawnResult(int WatchdogPid, DateTime? DeadlineUtc, IReadOnlyList<(Filesystem Fs, DateTime FrozenAtUtc, TimeSpan FreezeTime)> Frozen)
        {
            /// <summary>A scope's open line to its watchdog; null for Invoke-FsFreeze.</summary>
            public ControlPipe? Control { get; init; }
        }

        private const int HandshakeSliceMs = 100;

        private static SpawnResult ReadHandshake(ChildProcess child, SpawnRequest request, IReadOnlyList<Filesystem> members, CancellationToken cancel,
            Action<HookRun>? onHook)
        {
            var frozen = new List<(Filesystem, DateTime, TimeSpan)>();
            // The watchdog answers by its own deadline at the latest (it reports a FIFREEZE stuck past it), after its hooks
            // (each bounded by its timeout). The margin covers a loaded machine; past it we stop waiting, and the watchdog
            // still does its job.
            int hookBudget = request.Hooks.Count == 0 ? 0 : request.Hooks.Count * (request.HookTimeoutSec + 3) * 2 + 5;
            var giveUp = DateTime.UtcNow.AddSeconds(request.TimeoutSec + 15 + hookBudget);
            while (true)
            {
                string? line;
                var status = child.Stdout.ReadLine(HandshakeSliceMs, out line);
                if (status == PipeEnd.ReadStatus.TimedOut)
                {
                    if (cancel.IsCancellationRequested)
                    {
                        // Ctrl+C while freezing: SIGTERM makes the watchdog thaw what it froze, say so and exit (a FIFREEZE
                        // still stuck is thawed by it as soon as it returns). Wait for that word, bounded.
                        Posix.Signal(child.Pid, 15);
                        long until = Environment.TickCount64 + 5000;
                        while (child.Stdout.ReadLine((int)Math.Max(0, until - Environment.TickCount64), out var last) == PipeEnd.ReadStatus.Line)
                        {
                            if (last!.StartsWith("error", StringComparison.Ordinal)) break;
                        }
                        throw new OperationCanceledException(cancel);
                    }
                    if (DateTime.UtcNow < giveUp) continue;
                    throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, members[0].RequestedPath,
                        $"The watchdog (pid {child.Pid}) did not finish freezing within {request.TimeoutSec + 15 + hookBudget} s. It keeps running and thaws what it froze by its deadline; Get-FsFreezeStatus shows it.");
                }
                if (status == PipeEnd.ReadStatus.EndOfFile)
                {
                    child.WaitForExit(2000);
                    string code = child.ExitCode is int c ? c.ToString(System.Globalization.CultureInfo.InvariantCulture) : "still running";
                    string err = child.Stderr.ReadAvailable().Trim();
                    string rescued = ThawOrphans(frozen);
                    throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, members[0].RequestedPath,
                        $"The watchdog (pid {child.Pid}) ended without finishing the handshake (exit code {code}){(err.Length > 0 ? ": " + err : "")}.{rescued}");
                }
                switch (HandshakeLine.Parse(line!, members[0].RequestedPath))
                {
                    case HookDone h:
                        onHook?.Invoke(h.Run);
                        break;
                    case MemberFrozen f:
                        frozen.Add((members[f.Index], f.FrozenAtUtc, f.FreezeTime));
                        break;
                    case Ready r when r.Version == WatchdogProtocol.Version:
                        // In plan order, whichever member of a wave froze first.
                        frozen.Sort((a, b) => IndexOf(members, a.Item1).CompareTo(IndexOf(members, b.Item1)));
                        return new SpawnResult(r.WatchdogPid, r.DeadlineUtc, frozen);
                    case Ready r:
                        throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, members[0].RequestedPath,
                            $"The watchdog speaks protocol {r.Version}, this module {WatchdogProtocol.Version}: the module folder mixes two builds. Reinstall FsFreeze.");
                    case Failure e:
                        throw e.Error; // it exits once nothing of its freeze is left, and is reaped then
                }
            }
        }

        private static int IndexOf(IReadOnlyList<Filesystem> members, Filesystem fs)
        {
            for (int i = 0; i < members.Count; i++) if (ReferenceEquals(members[i], fs)) return i;
            return -1;
        }

        /// <summary>The watchdog died between FIFREEZE and its report: thaw what it said it froze (that freeze is ours), in reverse waves.</summary>
        private static string ThawOrphans(List<(Filesystem Fs, DateTime, TimeSpan)> frozen)
        {
            if (frozen.Count == 0) return " Nothing was frozen.";
            var notes = new List<string>();
            var order = new List<(Filesystem Fs, DateTime, TimeSpan)>(frozen);
            order.Sort((a, b) => b.Fs.Wave.CompareTo(a.Fs.Wave));
            foreach (var (fs, _, _) in order)
            {
                var r = FreezeSet.Thaw(fs);
                notes.Add(r.Error == null ? $"thawed '{fs.MountPoint}'" : $"could NOT thaw '{fs.MountPoint}': {r.Error.Message}");
            }
            return " FsFreeze " + string.Join("; ", notes) + ".";
        }

        /// <summary>
        /// A Use-FsFreeze scope's line to its own watchdog: the stdin and stdout of the handshake, kept open. A thaw sent here
        /// needs no socket, no connection and no credentials check (the pipe can only lead to the process this one started).
        /// Closing it tells the watchdog the scope is gone: it thaws at once.
        /// </summary>
        internal sealed class ControlPipe : IDisposable
        {
            private readonly ChildProcess _child;
            private readonly string _id;

            public ControlPipe(ChildProcess child, string id)
            {
                _child = child;
                _id = id;
            }

            /// <summary>One request, one reply. IOException when the watchdog is gone or does not answer in time.</summary>
            public WatchdogReply Request(WatchdogRequest request, string pathForErrors)
            {
                if (request.FreezeId != _id) throw new ArgumentException("A control pipe serves its own freeze only.", nameof(request));
                _child.Stdin.Write(request.Format() + "\n");
                var text = new StringBuilder();
                long until = Environment.TickCount64 + RequestTimeoutMs;
                while (true)
                {
                    var status = _child.Stdout.ReadLine((int)Math.Max(0, until - Environment.TickCount64), out var line);
                    if (status == PipeEnd.ReadStatus.TimedOut) throw new IOException($"The watchdog (pid {_child.Pid}) did not answer within {RequestTimeoutMs / 1000} s.");
                    if (status == PipeEnd.ReadStatus.EndOfFile) throw new IOException($"The watchdog (pid {_child.Pid}) closed its pipe without an answer.");
                    if (line!.Length == 0)
                    {
                        if (text.Length > 0) break;
                        // Before the reply: the watchdog is running thaw hooks and keeps us waiting (each is bounded by its timeout).
                        until = Environment.TickCount64 + RequestTimeoutMs;
                        continue;
                    }
                    text.Append(line).Append('\n');
                }
                return WatchdogReply.Parse(text.ToString(), pathForErrors);
            }

            public void Dispose() => _child.Dispose();
        }

        /// <summary>
        /// One request to the watchdog of a freeze. Throws NativeException-free: a SocketException when no such
        /// watchdog listens or it does not answer in time; FsFreezeException when the peer is not who it must be.
        /// </summary>
        public static WatchdogReply Request(WatchdogRequest request, int expectedPid, string pathForErrors)
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.SendTimeout = RequestTimeoutMs;
            socket.ReceiveTimeout = RequestTimeoutMs;
            socket.Connect(new UnixDomainSocketEndPoint(WatchdogProtocol.SocketName(request.FreezeId)));
            var (pid, uid) = PeerCredentials.Of(socket);
            if (uid != 0 || (expectedPid > 0 && pid != expectedPid))
            {
                throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, pathForErrors,
                    $"The socket of freeze {request.FreezeId} is held by pid {pid} (uid {uid}), not by its watchdog{(expectedPid > 0 ? $" (pid {expectedPid})" : "")}: refusing to believe it. Nothing was done.");
            }
            socket.Send(Encoding.UTF8.GetBytes(request.Format() + "\n"));
            socket.Shutdown(SocketShutdown.Send);
            var reply = new MemoryStream();
            var buffer = new byte[4096];
            int n;
            while ((n = socket.Receive(buffer)) > 0) reply.Write(buffer, 0, n);
            return WatchdogReply.Parse(Encoding.UTF8.GetString(reply.ToArray()), pathForErrors);
        }

        /// <summary>The freeze ids of every watchdog listening in this network namespace (from /proc/net/unix): found even when the state directory is gone.</summary>
        public static List<string> LiveIds()
        {
            var ids = new List<string>();
            string[] lines;
            try { lines = File.ReadAllLines("/proc/net/unix"); }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException) { return ids; }
            foreach (var line in lines)
            {
                // Num RefCount Protocol Flags Type St Inode Path; a listening socket has St 01 and the accept flag 00010000.
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 8 || !f[7].StartsWith(WatchdogProtocol.SocketPrefix, StringComparison.Ordinal) || f[3] != "00010000") continue;
                var id = f[7].Substring(WatchdogProtocol.SocketPrefix.Length);
                if (WatchdogProtocol.IsValidId(id) && !ids.Contains(id)) ids.Add(id);
            }
            return ids;
        }
    }
}
