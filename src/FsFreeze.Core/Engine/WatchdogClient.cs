using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
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

        /// <summary>Starts a watchdog that freezes the set and holds it; returns when every member is frozen (or throws, nothing left frozen).</summary>
        public static SpawnResult Spawn(SpawnRequest request, IReadOnlyList<Filesystem> members, CancellationToken cancel, string? executable = null,
            Action<HookRun>? onHook = null)
        {
            executable ??= DefaultExecutable;
            if (!File.Exists(executable))
            {
                throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, members[0].RequestedPath,
                    $"Cannot freeze with a timeout: the watchdog '{executable}' is missing from the module folder. Reinstall FsFreeze, or freeze with -TimeoutSec 0 (no timeout). Nothing was frozen.");
            }
            var psi = new ProcessStartInfo(executable)
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                // Not the caller's directory: that may be on a member, and a cwd pins the mount.
                WorkingDirectory = "/",
            };
            Process process;
            try
            {
                EnsureExecutable(executable);
                process = Process.Start(psi)!;
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception || e is IOException || e is UnauthorizedAccessException)
            {
                throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, members[0].RequestedPath,
                    $"Cannot start the watchdog '{executable}': {e.Message}. Nothing was frozen.", e);
            }
            using (process)
            {
                var stderr = process.StandardError.ReadToEndAsync();
                // The request goes through stdin: paths may hold any character.
                process.StandardInput.Write(request.Format());
                process.StandardInput.Close();
                return ReadHandshake(process, stderr, request, members, cancel, onHook);
            }
        }

        public sealed record SpawnResult(int WatchdogPid, DateTime? DeadlineUtc, IReadOnlyList<(Filesystem Fs, DateTime FrozenAtUtc, TimeSpan FreezeTime)> Frozen);

        private static SpawnResult ReadHandshake(Process process, Task<string> stderr, SpawnRequest request, IReadOnlyList<Filesystem> members, CancellationToken cancel,
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
                var read = process.StandardOutput.ReadLineAsync();
                while (!read.IsCompleted && DateTime.UtcNow < giveUp)
                {
                    if (cancel.IsCancellationRequested)
                    {
                        // Ctrl+C while freezing: SIGTERM makes the watchdog thaw what it froze and exit.
                        Posix.Signal(process.Id, 15);
                        process.WaitForExit(5000);
                        throw new OperationCanceledException(cancel);
                    }
                    read.Wait(100);
                }
                if (!read.IsCompleted)
                {
                    throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, members[0].RequestedPath,
                        $"The watchdog (pid {process.Id}) did not finish freezing within {request.TimeoutSec + 15 + hookBudget} s. It keeps running and thaws what it froze by its deadline; Get-FsFreezeStatus shows it.");
                }
                var line = read.Result;
                if (line == null)
                {
                    process.WaitForExit(2000);
                    string code = process.HasExited ? process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "still running";
                    string err = stderr.Wait(1000) ? stderr.Result.Trim() : "";
                    string rescued = ThawOrphans(frozen);
                    throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, members[0].RequestedPath,
                        $"The watchdog (pid {process.Id}) ended without finishing the handshake (exit code {code}){(err.Length > 0 ? ": " + err : "")}.{rescued}");
                }
                switch (HandshakeLine.Parse(line, members[0].RequestedPath))
                {
                    case HookDone h:
                        onHook?.Invoke(h.Run);
                        break;
                    case MemberFrozen f:
                        frozen.Add((members[f.Index], f.FrozenAtUtc, f.FreezeTime));
                        break;
                    case Ready r when r.Version == WatchdogProtocol.Version:
                        return new SpawnResult(r.WatchdogPid, r.DeadlineUtc, frozen);
                    case Ready r:
                        throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, members[0].RequestedPath,
                            $"The watchdog speaks protocol {r.Version}, this module {WatchdogProtocol.Version}: the module folder mixes two builds. Reinstall FsFreeze.");
                    case Failure e:
                        throw e.Error;
                }
            }
        }

        /// <summary>The watchdog died between FIFREEZE and its report: thaw what it said it froze (that freeze is ours).</summary>
        private static string ThawOrphans(List<(Filesystem Fs, DateTime, TimeSpan)> frozen)
        {
            if (frozen.Count == 0) return " Nothing was frozen.";
            var notes = new List<string>();
            for (int i = frozen.Count - 1; i >= 0; i--)
            {
                var r = FreezeSet.Thaw(frozen[i].Fs);
                notes.Add(r.Error == null ? $"thawed '{frozen[i].Fs.MountPoint}'" : $"could NOT thaw '{frozen[i].Fs.MountPoint}': {r.Error.Message}");
            }
            return " FsFreeze " + string.Join("; ", notes) + ".";
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
