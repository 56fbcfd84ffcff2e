using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net.Sockets;
using System.Threading;
using FsFreeze.Native;
using FsFreeze.Protocol;
using FsFreeze.State;

namespace FsFreeze
{
    /// <summary>
    /// The one freeze engine: every cmdlet, the seed interface and (for its half) the watchdog go through it.
    /// Plan, then freeze (in process or held by a watchdog) into a handle; thaw, reset and status by freeze id,
    /// so a thaw ends the freeze it names and never another tool's or another runbook's.
    /// </summary>
    internal static partial class FreezeEngine
    {
        /// <summary>Dedupes and orders the resolved filesystems (nested and loop filesystems first) and applies the session guard.</summary>
        public static IReadOnlyList<Filesystem> Plan(IReadOnlyList<Filesystem> resolved, MountTable table, bool force, IEnumerable<(string Path, string Why)> sessionLocations)
        {
            var members = FilesystemResolver.Plan(resolved, table);
            if (!force) SessionGuard.Check(members, table, sessionLocations);
            return members;
        }

        /// <summary>
        /// -All: every local filesystem of this mount namespace that can be frozen, once per superblock, in freeze order,
        /// and every mount left out with its reason. Reads only (the mount table, and an O_PATH open per candidate).
        /// </summary>
        public static DiscoveryResult Discover(IReadOnlyList<string>? exclude) => Discovery.Discover(MountTable.Read(), exclude);

        public static FreezeHandle Freeze(IReadOnlyList<Filesystem> members, FreezeOptions o)
        {
            if (members.Count == 0) throw new ArgumentException("A freeze needs at least one member.", nameof(members));
            FreezeTimeout.Validate(o.TimeoutSec, members[0].RequestedPath);
            RequireRoot(members[0].RequestedPath, "freeze");
            var store = RecordStore.Locate();
            store.PrepareForWriting();
            store.Prune(MountTable.Read(), o.Warn);
            return o.TimeoutSec == 0 ? InProcessFreeze.Start(members, o, store) : WatchdogFreeze.Start(members, o, store);
        }

        /// <summary>The seed's FIFREEZE_RESET_TIMEOUT: the deadline becomes now + seconds (0 clears it). NotFrozen (the seed's EINVAL) once thawed.</summary>
        public static DateTime? Reset(FreezeTarget t, long seconds, Action<string>? warn)
        {
            FreezeTimeout.Validate(seconds, t.Path);
            RequireRoot(t.Path, "reset the timeout of");
            var store = RecordStore.Locate();
            var (record, member) = Find(store, t, warn);
            string name = member?.MountPoint ?? t.Path;
            if (record == null || member == null)
            {
                if (FindLiveWatchdog(t.FreezeId != null ? new[] { t.FreezeId } : WatchdogClient.LiveIds(), t) is string liveId)
                {
                    return ResetThrough(liveId, 0, seconds, t.Path, name);
                }
                if (t.FreezeId == null && FindEnded(store, t.Resolve(), warn) is (FreezeRecord ended, RecordedMember em))
                {
                    (record, member) = (ended, em);
                }
            }
            if (record == null || member == null)
            {
                throw new FsFreezeException(FreezeErrorKind.NotFrozen, t.Path,
                    $"Cannot reset the timeout of '{name}': FsFreeze does not hold it frozen (it was already thawed, or never frozen by FsFreeze). Get-FsFreezeStatus lists what FsFreeze holds.");
            }
            if (!record.IsHeld || member.State != FreezeState.Frozen)
            {
                throw new FsFreezeException(FreezeErrorKind.NotFrozen, t.Path, record.State == FreezeState.ThawedByTimeout || member.State == FreezeState.ThawedByTimeout
                    ? $"Cannot reset the timeout of '{name}': it was {DescribeTimeout(record, member)}. A snapshot taken after that time may be inconsistent; freeze it again to take another."
                    : $"Cannot reset the timeout of '{name}': freeze {record.Id} was already thawed{At(member.ThawedAtUtc ?? record.EndedUtc)}.");
            }
            if (!record.ByWatchdog)
            {
                if (seconds == 0) return null;
                throw new FsFreezeException(FreezeErrorKind.InvalidTimeout, t.Path,
                    $"Cannot set a timeout on '{name}': it was frozen with -TimeoutSec 0 (no watchdog), so there is no timer to reset. Thaw it and freeze again with -TimeoutSec {seconds}.");
            }
            try
            {
                return ResetThrough(record.Id, record.Watchdog.Pid, seconds, t.Path, name);
            }
            catch (FsFreezeException e) when (e.Kind == FreezeErrorKind.WatchdogFailed && store.Load(record.Id, warn) is { State: FreezeState.ThawedByTimeout } ended)
            {
                throw new FsFreezeException(FreezeErrorKind.NotFrozen, t.Path,
                    $"Cannot reset the timeout of '{name}': it was {DescribeTimeout(ended, ended.FindMember(member.Device, member.Identity) ?? member)}.", e);
            }
        }

        private static DateTime? ResetThrough(string id, int pid, long seconds, string path, string name)
        {
            WatchdogReply reply;
            try
            {
                reply = WatchdogClient.Request(new WatchdogRequest(RequestVerb.Reset, id, Seconds: seconds), pid, path);
            }
            catch (SocketException e)
            {
                bool alive = pid > 0 && ProcessIdentity.ReadStartTime(pid) != null;
                throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, path,
                    $"Cannot reach the watchdog (pid {pid}) that holds '{name}': {e.Message}." +
                    (alive ? " It still runs, but does not answer (is it stopped?). Invoke-FsThaw ends it and thaws." : " It is gone, so no timer protects this freeze any more: thaw it with Invoke-FsThaw."), e);
            }
            if (reply.Error != null) throw reply.Error;
            return reply.DeadlineUtc;
        }

        /// <summary>What FsFreeze holds frozen, from the record store only: strictly read-only, root not needed.</summary>
        public static List<FreezeStatus> Status(Action<string>? warn)
        {
            var list = new List<FreezeStatus>();
            var now = DateTime.UtcNow;
            var table = MountTable.Read();
            foreach (var r in RecordStore.Locate().LoadAll(warn))
            {
                if (!r.IsHeld) continue;
                bool freezerAlive = r.Freezer.IsAlive;
                bool watchdogAlive = r.ByWatchdog && r.Watchdog.IsAlive;
                // Something will end it without anyone's help: a live watchdog's deadline, or a live scope (which the
                // watchdog of a scope also watches).
                bool selfEnding = (watchdogAlive && (r.DeadlineUtc.HasValue || r.Scope)) || (r.Scope && freezerAlive);
                foreach (var m in r.Members)
                {
                    // A member whose device now carries another filesystem (a reused loop device) is a stale record, not a freeze.
                    if (m.State != FreezeState.Frozen || RecordStore.IsReplaced(m, table)) continue;
                    list.Add(new FreezeStatus
                    {
                        MountPoint = m.MountPoint, Device = m.Device, FileSystemType = m.FileSystemType, Source = m.Source,
                        State = m.State, FrozenAt = (m.FrozenAtUtc ?? r.CreatedUtc).ToLocalTime(), FreezeId = r.Id, Scope = r.Scope,
                        FreezerPid = r.Freezer.Pid, FreezerAlive = freezerAlive,
                        WatchdogPid = r.Watchdog.Pid, WatchdogAlive = watchdogAlive,
                        TimeoutSec = r.TimeoutSec, Deadline = r.DeadlineUtc?.ToLocalTime(),
                        TimeLeft = r.DeadlineUtc.HasValue ? (r.DeadlineUtc.Value > now ? r.DeadlineUtc.Value - now : TimeSpan.Zero) : null,
                        Orphaned = !selfEnding,
                    });
                }
            }
            list.Sort((a, b) => Nullable.Compare(a.FrozenAt, b.FrozenAt));
            return list;
        }

        private static void RequireRoot(string path, string verb)
        {
            if (Posix.HasSysAdmin()) return;
            throw new FsFreezeException(FreezeErrorKind.PermissionDenied, path,
                $"Cannot {verb} '{path}': {NativeError.Describe(Mono.Unix.Native.Errno.EPERM)}. Freezing, thawing and resetting need root (CAP_SYS_ADMIN in the initial user namespace; a container or 'unshare -Ur' root is not enough). Run pwsh as root, for example 'sudo pwsh'. Get-FsFreezeStatus works without root.",
                new NativeException(Mono.Unix.Native.Errno.EPERM, NativeOperation.Freeze, path));
        }

        private static FsFreezeException TimedOut(FreezeRecord tomb, RecordedMember m, string path)
            => new FsFreezeException(FreezeErrorKind.ThawedByTimeout, path,
                $"'{m.MountPoint}' was {DescribeTimeout(tomb, m)}. Whatever ran after that time saw a thawed filesystem: a snapshot taken then may be inconsistent. " +
                "Freeze again (with a longer -TimeoutSec, or reset it with Reset-FsFreezeTimeout while working) and retake it.");

        public static string DescribeTimeout(FreezeRecord tomb, RecordedMember m)
            => $"already thawed by the timeout{At(m.ThawedAtUtc ?? tomb.EndedUtc)} ({tomb.TimeoutSec} s passed without a thaw or a reset; freeze {tomb.Id})";

        private static string At(DateTime? utc)
            => utc.HasValue ? " at " + utc.Value.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture) : "";

        private static string Quote(string path) => "'" + path.Replace("'", "''") + "'";
    }
}
