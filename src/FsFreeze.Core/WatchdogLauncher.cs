using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace FsFreeze
{
    /// <summary>A freeze held by a watchdog, as the handshake reported it.</summary>
    public sealed class WatchdogFreeze
    {
        public string Id { get; internal set; } = "";
        public int WatchdogPid { get; internal set; }
        public long TimeoutSec { get; internal set; }
        public DateTime? DeadlineUtc { get; internal set; }
        public List<FrozenFilesystem> Members { get; } = new List<FrozenFilesystem>();
    }

    /// <summary>
    /// Starts fsfreeze-watchdog for a planned set and waits for its handshake. The watchdog, not this
    /// process, performs the freeze, so the timer that thaws it lives in a process of its own, armed before
    /// the first FIFREEZE, and knows exactly what this freeze froze.
    /// </summary>
    public static class WatchdogLauncher
    {
        public const string ExecutableName = "fsfreeze-watchdog";

        /// <summary>
        /// A module installed from its nupkg (Install-PSResource) loses Unix file modes, so the watchdog arrives
        /// without its execute bit. We run as root here (freezing needs it), so restore it rather than fail.
        /// </summary>
        private static void EnsureExecutable(string path)
        {
            if (Mono.Unix.Native.Syscall.stat(path, out var st) != 0) return; // Process.Start reports the missing file
            const Mono.Unix.Native.FilePermissions exec = Mono.Unix.Native.FilePermissions.S_IXUSR;
            if ((st.st_mode & exec) != 0) return;
            var mode = (st.st_mode & Mono.Unix.Native.FilePermissions.ACCESSPERMS)
                | Mono.Unix.Native.FilePermissions.S_IXUSR | Mono.Unix.Native.FilePermissions.S_IXGRP | Mono.Unix.Native.FilePermissions.S_IXOTH;
            Mono.Unix.Native.Syscall.chmod(path, mode);
        }

        /// <summary>Beside FsFreeze.Core.dll in the module folder.</summary>
        public static string DefaultExecutable
            => Path.Combine(Path.GetDirectoryName(typeof(WatchdogLauncher).Assembly.Location) ?? ".", ExecutableName);

        /// <param name="progress">called for each member as its FIFREEZE completes (-Verbose narration)</param>
        public static WatchdogFreeze Freeze(IReadOnlyList<Filesystem> members, long timeoutSec, bool flush,
            StateDirectory dir, MountTable table, Action<FrozenFilesystem>? progress = null, string? executable = null,
            CancellationToken cancel = default)
        {
            if (timeoutSec < 2) throw new ArgumentOutOfRangeException(nameof(timeoutSec), "A watchdog freeze needs a timeout of 2 s or more.");
            executable ??= DefaultExecutable;
            dir.Ensure();
            dir.CheckNotIn(members, table);
            if (!File.Exists(executable))
            {
                throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, members[0].RequestedPath,
                    $"Cannot freeze with a timeout: the watchdog '{executable}' is missing from the module folder. Reinstall FsFreeze, or freeze with -TimeoutSec 0 (no timeout). Nothing was frozen.");
            }

            var id = FreezeRecord.NewId();
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
            catch (Exception e) when (e is System.ComponentModel.Win32Exception || e is IOException)
            {
                throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, members[0].RequestedPath,
                    $"Cannot start the watchdog '{executable}': {e.Message}. Nothing was frozen.", e);
            }
            using (process)
            {
                var stderr = process.StandardError.ReadToEndAsync();
                // The request goes through stdin: paths may hold any character, and netstandard2.0 has no ArgumentList.
                process.StandardInput.Write(LineCodec.Join(WatchdogProtocol.Freeze, id, WatchdogProtocol.Num(timeoutSec),
                    WatchdogProtocol.Num(Process.GetCurrentProcess().Id), flush ? "1" : "0", dir.Path) + "\n");
                foreach (var fs in members)
                {
                    process.StandardInput.Write(LineCodec.Join(WatchdogProtocol.Member, fs.OpenPath, fs.Device, fs.RequestedPath) + "\n");
                }
                process.StandardInput.Close();
                return ReadHandshake(process, stderr, id, timeoutSec, members, progress, cancel);
            }
        }

        private static WatchdogFreeze ReadHandshake(Process process, Task<string> stderr, string id, long timeoutSec,
            IReadOnlyList<Filesystem> members, Action<FrozenFilesystem>? progress, CancellationToken cancel)
        {
            var result = new WatchdogFreeze { Id = id, WatchdogPid = process.Id, TimeoutSec = timeoutSec };
            // The watchdog answers by its own deadline at the latest (it reports a FIFREEZE stuck past it).
            // The margin covers a loaded machine; past it we stop waiting, and the watchdog still does its job.
            var giveUp = DateTime.UtcNow.AddSeconds(timeoutSec + 15);
            while (true)
            {
                var read = process.StandardOutput.ReadLineAsync();
                while (!read.IsCompleted && DateTime.UtcNow < giveUp)
                {
                    if (cancel.IsCancellationRequested)
                    {
                        // Ctrl+C while freezing: SIGTERM makes the watchdog thaw what it froze and exit.
                        Native.Posix.Signal(process.Id, 15);
                        process.WaitForExit(5000);
                        throw new OperationCanceledException(cancel);
                    }
                    read.Wait(100);
                }
                if (!read.IsCompleted)
                {
                    throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, members[0].RequestedPath,
                        $"The watchdog (pid {process.Id}) did not finish freezing within {timeoutSec + 15} s. It keeps running and thaws what it froze by its deadline; Get-FsFreezeStatus shows it.");
                }
                var line = read.Result;
                if (line == null)
                {
                    process.WaitForExit(2000);
                    string code = process.HasExited ? process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "still running";
                    string err = stderr.Wait(1000) ? stderr.Result.Trim() : "";
                    string rescued = ThawOrphans(result);
                    throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, members[0].RequestedPath,
                        $"The watchdog (pid {process.Id}) ended without finishing the handshake (exit code {code}){(err.Length > 0 ? ": " + err : "")}.{rescued}");
                }
                var f = LineCodec.Split(line);
                switch (f[0])
                {
                    case WatchdogProtocol.Frozen:
                        int index = int.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture);
                        var member = FrozenFilesystem.From(members[index], FreezeRecord.FromTicks(f[2])!.Value.ToLocalTime(),
                            TimeSpan.FromTicks(long.Parse(f[3], System.Globalization.CultureInfo.InvariantCulture)));
                        member.FreezeId = id;
                        member.TimeoutSec = (int)timeoutSec;
                        result.Members.Add(member);
                        progress?.Invoke(member);
                        break;
                    case WatchdogProtocol.Ok:
                        result.DeadlineUtc = f.Length > 2 ? FreezeRecord.FromTicks(f[2]) : null;
                        foreach (var m in result.Members) m.Deadline = result.DeadlineUtc?.ToLocalTime();
                        return result;
                    case WatchdogProtocol.Error:
                        throw WatchdogProtocol.ParseError(f, members[0].RequestedPath);
                }
            }
        }

        /// <summary>The watchdog died between FIFREEZE and its report: thaw what it said it froze (that freeze is ours).</summary>
        private static string ThawOrphans(WatchdogFreeze partial)
        {
            if (partial.Members.Count == 0) return " Nothing was frozen.";
            var notes = new List<string>();
            for (int i = partial.Members.Count - 1; i >= 0; i--)
            {
                var m = partial.Members[i];
                var r = FreezeSet.Thaw(m.Filesystem!);
                notes.Add(r.Error == null ? $"thawed '{m.MountPoint}'" : $"could NOT thaw '{m.MountPoint}': {r.Error.Message}");
            }
            return " FsFreeze " + string.Join("; ", notes) + ".";
        }
    }
}
