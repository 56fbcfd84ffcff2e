using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using FsFreeze.Native;

namespace FsFreeze
{
    /// <summary>The outcome of thawing one filesystem through the registry.</summary>
    public sealed class RegistryThaw
    {
        public RegistryThaw(DateTime? thawedAt, DateTime? frozenAt, FsFreezeException? error)
        {
            ThawedAt = thawedAt;
            FrozenAt = frozenAt;
            Error = error;
        }

        public DateTime? ThawedAt { get; }
        public DateTime? FrozenAt { get; }
        public FsFreezeException? Error { get; }
    }

    /// <summary>
    /// What FsFreeze knows about its freezes on this host, from the state directory, and the operations that
    /// work from any process: thaw (through the holding watchdog, which cancels its timer), reset, status.
    /// </summary>
    public static class FreezeRegistry
    {
        private const int RequestTimeoutMs = 5000;

        /// <summary>The live record (a watchdog's or a -TimeoutSec 0 one) that holds the device frozen.</summary>
        public static FreezeRecord? FindHolder(StateDirectory dir, Filesystem fs)
        {
            FreezeRecord? best = null;
            foreach (var r in dir.LoadAll())
            {
                if (r.IsTombstone) continue;
                var m = r.FindMember(fs);
                if (m == null || m.State != FreezeState.Frozen) continue;
                if (best == null || r.CreatedUtc > best.CreatedUtc) best = r;
            }
            return best;
        }

        /// <summary>The newest tombstone in which the timeout thawed the device.</summary>
        public static FreezeRecord? FindTombstone(StateDirectory dir, Filesystem fs)
        {
            FreezeRecord? best = null;
            foreach (var r in dir.LoadAll())
            {
                if (!r.IsTombstone) continue;
                var m = r.FindMember(fs);
                if (m == null || m.State != FreezeState.ThawedByTimeout) continue;
                if (best == null || r.CreatedUtc > best.CreatedUtc) best = r;
            }
            return best;
        }

        public static string DescribeTimeout(FreezeRecord tomb, string device)
        {
            var m = tomb.FindMember(device);
            var at = (m?.ThawedAtUtc ?? tomb.ThawedUtc ?? tomb.CreatedUtc).ToLocalTime();
            return $"already thawed by the timeout at {at.ToString("HH:mm:ss", CultureInfo.InvariantCulture)} " +
                $"({tomb.TimeoutSec} s passed without a thaw or a reset; freeze {tomb.Id})";
        }

        /// <summary>Thaws one filesystem. A watchdog that holds it is asked (that cancels its timer); a tombstone means the timeout already did it; otherwise FITHAW.</summary>
        public static RegistryThaw Thaw(StateDirectory dir, Filesystem fs)
        {
            var holder = FindHolder(dir, fs);
            if (holder != null && holder.Watchdog.Pid > 0)
            {
                try
                {
                    var reply = WatchdogProtocol.SplitLines(Native.UnixSocketClient.Request(dir.SocketPath(holder.Id),
                        LineCodec.Join(WatchdogProtocol.Thaw, fs.Device), RequestTimeoutMs));
                    return FromThawReply(reply, fs);
                }
                catch (NativeException e)
                {
                    var tomb = FindTombstone(dir, fs);
                    if (tomb != null) return TimedOut(tomb, fs);
                    if (holder.Watchdog.IsAlive)
                    {
                        return new RegistryThaw(null, null, new FsFreezeException(FreezeErrorKind.WatchdogFailed, fs.RequestedPath,
                            $"The watchdog (pid {holder.Watchdog.Pid}) that holds '{fs.MountPoint}' frozen does not answer ({e.Message}). It still thaws it by its deadline; to thaw now, stop it with 'kill {holder.Watchdog.Pid}' (it thaws on SIGTERM).", e));
                    }
                    // The watchdog is gone (killed with SIGKILL?) and left the record: thaw directly.
                    StateDirectory.DeleteQuietly(holder.File);
                    StateDirectory.DeleteQuietly(dir.SocketPath(holder.Id));
                }
            }
            else if (holder == null)
            {
                var tomb = FindTombstone(dir, fs);
                if (tomb != null) return TimedOut(tomb, fs);
            }

            var frozenAt = holder?.FindMember(fs)?.FrozenAtUtc?.ToLocalTime();
            var direct = FreezeSet.Thaw(fs);
            if (holder != null && holder.Watchdog.Pid == 0) ForgetInProcess(dir, holder, fs.Device);
            return new RegistryThaw(direct.ThawedAt, frozenAt, direct.Error);
        }

        /// <summary>Thaws every member a watchdog freeze still holds (Use-FsFreeze's way out). Null error list entries = thawed.</summary>
        public static List<RegistryThaw> ThawAll(StateDirectory dir, WatchdogFreeze freeze)
        {
            var results = new List<RegistryThaw>();
            try
            {
                var reply = WatchdogProtocol.SplitLines(Native.UnixSocketClient.Request(dir.SocketPath(freeze.Id), WatchdogProtocol.Thaw, RequestTimeoutMs));
                if (reply.Count > 0 && reply[0][0] == WatchdogProtocol.Error)
                {
                    results.Add(new RegistryThaw(null, null, WatchdogProtocol.ParseError(reply[0], freeze.Members[0].MountPoint)));
                    return results;
                }
                for (int i = 1; i < reply.Count; i++)
                {
                    var fs = freeze.Members.Find(m => m.Device == reply[i][1]);
                    results.Add(ThawLine(reply[i], fs?.Filesystem, fs?.MountPoint ?? reply[i][1]));
                }
                return results;
            }
            catch (NativeException e)
            {
                var tomb = FreezeRecord.TryLoad(dir.TombstonePath(freeze.Id));
                if (tomb != null)
                {
                    foreach (var m in freeze.Members)
                    {
                        var rm = tomb.FindMember(m.Device);
                        if (rm != null && rm.State == FreezeState.ThawedByTimeout) results.Add(TimedOut(tomb, m.Filesystem!));
                    }
                    return results;
                }
                results.Add(new RegistryThaw(null, null, new FsFreezeException(FreezeErrorKind.WatchdogFailed, freeze.Members[0].MountPoint,
                    $"Cannot reach the watchdog (pid {freeze.WatchdogPid}) of freeze {freeze.Id}: {e.Message}. If it still runs, it thaws by its deadline; check with Get-FsFreezeStatus and thaw with Invoke-FsThaw.", e)));
                return results;
            }
        }

        /// <summary>The seed's FIFREEZE_RESET_TIMEOUT: the deadline becomes now + seconds (0 clears it). NotFrozen (the seed's EINVAL) when already thawed.</summary>
        public static DateTime? Reset(StateDirectory dir, Filesystem fs, long seconds)
        {
            var holder = FindHolder(dir, fs);
            if (holder == null)
            {
                var tomb = FindTombstone(dir, fs);
                throw new FsFreezeException(FreezeErrorKind.NotFrozen, fs.RequestedPath, tomb != null
                    ? $"Cannot reset the timeout of '{fs.MountPoint}': it is {DescribeTimeout(tomb, fs.Device)}. A snapshot taken after that time may be inconsistent; freeze it again to take another."
                    : $"Cannot reset the timeout of '{fs.MountPoint}': FsFreeze does not hold it frozen (it was already thawed, or never frozen by FsFreeze). Get-FsFreezeStatus lists what FsFreeze holds.");
            }
            if (holder.Watchdog.Pid == 0)
            {
                if (seconds == 0) return null;
                throw new FsFreezeException(FreezeErrorKind.InvalidTimeout, fs.RequestedPath,
                    $"Cannot set a timeout on '{fs.MountPoint}': it was frozen with -TimeoutSec 0 (no watchdog), so there is no timer to reset. Thaw it and freeze again with -TimeoutSec {seconds}.");
            }
            string[] first;
            try
            {
                var reply = WatchdogProtocol.SplitLines(Native.UnixSocketClient.Request(dir.SocketPath(holder.Id),
                    LineCodec.Join(WatchdogProtocol.Reset, WatchdogProtocol.Num(seconds)), RequestTimeoutMs));
                first = reply.Count > 0 ? reply[0] : new[] { WatchdogProtocol.Error };
            }
            catch (NativeException e)
            {
                var tomb = FindTombstone(dir, fs);
                if (tomb != null)
                {
                    throw new FsFreezeException(FreezeErrorKind.NotFrozen, fs.RequestedPath,
                        $"Cannot reset the timeout of '{fs.MountPoint}': it is {DescribeTimeout(tomb, fs.Device)}.", e);
                }
                throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, fs.RequestedPath,
                    $"Cannot reach the watchdog (pid {holder.Watchdog.Pid}) that holds '{fs.MountPoint}': {e.Message}." +
                    (holder.Watchdog.IsAlive ? "" : " It is gone, so no timer protects this freeze any more: thaw it with Invoke-FsThaw."), e);
            }
            if (first[0] == WatchdogProtocol.Error) throw WatchdogProtocol.ParseError(first, fs.RequestedPath);
            return first.Length > 1 ? FreezeRecord.FromTicks(first[1]) : null;
        }

        /// <summary>A -TimeoutSec 0 freeze's record, written before its FIFREEZE (status can list it). Null when the state directory cannot take it safely.</summary>
        public static FreezeRecord? RecordInProcess(StateDirectory dir, IReadOnlyList<Filesystem> members, MountTable table)
        {
            dir.Ensure();
            try { dir.CheckNotIn(members, table); }
            catch (FsFreezeException) { return null; } // its removal after a partial thaw could write to a frozen member
            var r = new FreezeRecord
            {
                Id = FreezeRecord.NewId(),
                Freezer = ProcessIdentity.Of(Process.GetCurrentProcess().Id),
                CreatedUtc = DateTime.UtcNow,
            };
            foreach (var fs in members)
            {
                r.Members.Add(new RecordedMember { MountPoint = fs.MountPoint, Device = fs.Device, FileSystemType = fs.FileSystemType, Source = fs.Source, FrozenAtUtc = DateTime.UtcNow, Identity = fs.Identity });
            }
            r.File = dir.RecordPath(r.Id);
            dir.WriteAtomically(r.File, r.Serialize());
            ForgetTombstones(dir, members);
            return r;
        }

        /// <summary>A new freeze of a device supersedes what an old tombstone says about it.</summary>
        /// Tombstones older than a day go too: they answer "what happened to my freeze" for a runbook's next steps, not forever.
        public static void ForgetTombstones(StateDirectory dir, IReadOnlyList<Filesystem> members)
        {
            foreach (var r in dir.LoadAll())
            {
                if (!r.IsTombstone) continue;
                bool old = DateTime.UtcNow - (r.ThawedUtc ?? r.CreatedUtc) > TimeSpan.FromDays(1);
                if (old || r.Members.Exists(m => Contains(members, m.Device))) StateDirectory.DeleteQuietly(r.File);
            }
        }

        /// <summary>Removes a thawed device from a -TimeoutSec 0 record (the whole record when none is left).</summary>
        public static void ForgetInProcess(StateDirectory dir, FreezeRecord record, string device)
        {
            record.Members.RemoveAll(m => m.Device == device);
            if (record.Members.Count == 0) StateDirectory.DeleteQuietly(record.File);
            else dir.WriteAtomically(record.File, record.Serialize());
        }

        /// <summary>
        /// A member whose device now carries another filesystem (a reused loop device) is a stale record, not a
        /// freeze. A device with nothing mounted is kept: a filesystem unmounted while frozen stays frozen, invisibly.
        /// </summary>
        private static bool IsReplaced(RecordedMember m, MountTable table)
        {
            if (m.Identity.Length == 0) return false;
            var parts = m.Device.Split(':');
            if (parts.Length != 2 || !uint.TryParse(parts[0], out var major) || !uint.TryParse(parts[1], out var minor)) return false;
            var mount = table.FindByDevice(major, minor);
            if (mount == null) return false;
            var now = Native.FsUuid.Of(mount.MountPoint);
            return now.Length > 0 && now != m.Identity;
        }

        public static List<FreezeStatus> Status(StateDirectory dir)
        {
            var list = new List<FreezeStatus>();
            var now = DateTime.UtcNow;
            var table = MountTable.Read();
            foreach (var r in dir.LoadAll())
            {
                if (r.IsTombstone) continue;
                // A no-timeout record whose every frozen member now names another filesystem describes nothing: prune it.
                if (r.Watchdog.Pid == 0 && r.Members.TrueForAll(m => m.State != FreezeState.Frozen || IsReplaced(m, table)))
                {
                    StateDirectory.DeleteQuietly(r.File);
                    continue;
                }
                bool freezerAlive = r.Freezer.IsAlive;
                bool watchdogAlive = r.Watchdog.Pid > 0 && r.Watchdog.IsAlive;
                foreach (var m in r.Members)
                {
                    if (m.State != FreezeState.Frozen || IsReplaced(m, table)) continue;
                    list.Add(new FreezeStatus
                    {
                        MountPoint = m.MountPoint, Device = m.Device, FileSystemType = m.FileSystemType, Source = m.Source,
                        State = m.State, FrozenAt = m.FrozenAtUtc?.ToLocalTime(), FreezeId = r.Id,
                        FreezerPid = r.Freezer.Pid, FreezerAlive = freezerAlive,
                        WatchdogPid = r.Watchdog.Pid, WatchdogAlive = watchdogAlive,
                        TimeoutSec = r.TimeoutSec, Deadline = r.DeadlineUtc?.ToLocalTime(),
                        TimeLeft = r.DeadlineUtc.HasValue ? (r.DeadlineUtc.Value > now ? r.DeadlineUtc.Value - now : TimeSpan.Zero) : (TimeSpan?)null,
                        Orphaned = !freezerAlive,
                    });
                }
            }
            list.Sort((a, b) => Nullable.Compare(a.FrozenAt, b.FrozenAt));
            return list;
        }

        private static bool Contains(IEnumerable<Filesystem> members, string device)
        {
            foreach (var fs in members) if (fs.Device == device) return true;
            return false;
        }

        private static RegistryThaw TimedOut(FreezeRecord tomb, Filesystem fs)
            => new RegistryThaw(null, tomb.FindMember(fs)?.FrozenAtUtc?.ToLocalTime(), new FsFreezeException(FreezeErrorKind.ThawedByTimeout, fs.RequestedPath,
                $"'{fs.MountPoint}' was {DescribeTimeout(tomb, fs.Device)}. Whatever ran after that time saw a thawed filesystem: a snapshot taken then may be inconsistent. Freeze again (with a longer -TimeoutSec, or reset it with Reset-FsFreezeTimeout while working) and retake it."));

        private static RegistryThaw FromThawReply(List<string[]> reply, Filesystem fs)
        {
            if (reply.Count == 0) return new RegistryThaw(null, null, new FsFreezeException(FreezeErrorKind.WatchdogFailed, fs.RequestedPath, $"The watchdog holding '{fs.MountPoint}' gave no answer."));
            if (reply[0][0] == WatchdogProtocol.Error) return new RegistryThaw(null, null, WatchdogProtocol.ParseError(reply[0], fs.RequestedPath));
            if (reply.Count < 2) return new RegistryThaw(null, null, new FsFreezeException(FreezeErrorKind.NotFrozen, fs.RequestedPath, $"'{fs.MountPoint}' is already thawed."));
            return ThawLine(reply[1], fs, fs.MountPoint);
        }

        private static RegistryThaw ThawLine(string[] f, Filesystem? fs, string name)
        {
            if (f[0] == WatchdogProtocol.Thawed)
            {
                return new RegistryThaw(FreezeRecord.FromTicks(f[2])?.ToLocalTime(), FreezeRecord.FromTicks(f[3])?.ToLocalTime(), null);
            }
            var kind = Enum.TryParse<FreezeErrorKind>(f.Length > 2 ? f[2] : "", out var k) ? k : FreezeErrorKind.IoError;
            return new RegistryThaw(null, null, new FsFreezeException(kind, fs?.RequestedPath ?? name, f.Length > 3 ? f[3] : $"Cannot thaw '{name}'."));
        }
    }
}
