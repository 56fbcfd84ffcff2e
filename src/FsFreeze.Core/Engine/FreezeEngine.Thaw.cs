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
    /// The thaw half of the engine: a target (a path, with the freeze and device it came from) is thawed only as the
    /// freeze it names, through its watchdog when one holds it, else through a fresh descriptor checked against the record.
    /// </summary>
    internal static partial class FreezeEngine
    {
        /// <summary>Thaws one filesystem: the freeze named by the target's id, else the one FsFreeze holds on its filesystem; with force, whoever froze it.</summary>
        public static ThawOutcome Thaw(FreezeTarget t, bool force, Action<string>? warn)
        {
            try
            {
                RequireRoot(t.Path, "thaw");
                var store = RecordStore.Locate();
                var (record, member) = Find(store, t, warn);
                if (record != null && member != null) return ThawMember(store, record, member, t, warn, force);
                if (t.FreezeId != null)
                {
                    // The store may have lost it: a watchdog still listening under that id answers for itself.
                    if (AskLiveWatchdogs(new[] { t.FreezeId }, t, warn) is ThawOutcome viaSocket) return viaSocket;
                    throw new FsFreezeException(FreezeErrorKind.NotFrozen, t.Path,
                        $"FsFreeze has no record of freeze {t.FreezeId}{(record != null ? $" holding '{t.Path}'" : "")} and no watchdog holds it, so nothing was thawed (its record is older than a day, or the state directory was emptied). " +
                        $"If '{t.Path}' is still frozen and you know it is yours, 'Invoke-FsThaw -LiteralPath {Quote(t.Path)} -Force' thaws it whoever froze it.");
                }
                var fs = t.Resolve();
                if (AskLiveWatchdogs(WatchdogClient.LiveIds(), t, warn) is ThawOutcome found) return found;
                if (force) return DirectThaw(null, null, fs, "", warn);
                var last = FindEnded(store, fs, warn);
                if (last is (FreezeRecord tomb, RecordedMember tm) && (tomb.State == FreezeState.ThawedByTimeout || tm.State == FreezeState.ThawedByTimeout))
                {
                    // FsFreeze's last freeze of it was thawed by its timeout: a snapshot across that time is torn, say so.
                    // Nothing is thawed now: if it is frozen again, that is someone else's freeze.
                    return ThawOutcome.For(tm, tomb.Id, t.Path, null, TimedOut(tomb, tm, t.Path));
                }
                string lastFreeze = last is (FreezeRecord ended, RecordedMember em) ? $" (its last freeze, {ended.Id}, was thawed{At(em.ThawedAtUtc ?? ended.EndedUtc)})" : "";
                throw new FsFreezeException(FreezeErrorKind.NotOwned, t.Path,
                    $"FsFreeze holds no freeze of '{fs.MountPoint}' ({fs.FileSystemType} on {fs.Source}){lastFreeze}, so it thaws nothing there: if it is frozen, another tool did it, and thawing it could break that tool's backup. " +
                    $"Get-FsFreezeStatus lists what FsFreeze holds. To thaw it anyway, whoever froze it (like 'fsfreeze -u'), add -Force.");
            }
            catch (FsFreezeException e)
            {
                return ThawOutcome.Failed(t.Path, e, t.FreezeId ?? "");
            }
        }

        /// <summary>
        /// Thaws several members of one freeze (Invoke-FsFreeze's objects piped back): with one request to its watchdog, or for a
        /// -TimeoutSec 0 freeze with fresh descriptors, side by side in reverse waves, and its record updated once after all the
        /// FITHAWs. Outcomes come in the targets' order. Whatever this cannot settle at once (a member already thawed, a watchdog
        /// that does not answer, a record that is gone) is thawed one by one by <see cref="Thaw"/>, with all of its checks.
        /// </summary>
        public static IReadOnlyList<ThawOutcome> ThawMany(IReadOnlyList<FreezeTarget> targets, bool force, Action<string>? warn)
        {
            var outcomes = new ThawOutcome?[targets.Count];
            string? id = targets.Count > 1 ? targets[0].FreezeId : null;
            if (id != null && targets.All(t => t.FreezeId == id && t.Device != null) && targets.Select(t => t.Device).Distinct().Count() == targets.Count)
            {
                try
                {
                    RequireRoot(targets[0].Path, "thaw");
                    var store = RecordStore.Locate();
                    var record = Find(store, targets[0], warn).Item1;
                    var members = record == null ? null : targets.Select(t => record.Members.Find(m => m.Device == t.Device)).ToList();
                    if (record != null && record.IsHeld && members!.TrueForAll(m => m != null && m.State == FreezeState.Frozen))
                    {
                        if (record.ByWatchdog) ThawManyThroughWatchdog(record, targets, members!, outcomes);
                        else ThawManyDirectly(store, record, targets, members!, outcomes, force, warn);
                    }
                }
                catch (FsFreezeException e) when (e.Kind != FreezeErrorKind.PermissionDenied) { } // one by one: each says what it is
                catch (FsFreezeException e)
                {
                    return targets.Select(t => ThawOutcome.Failed(t.Path, e, t.FreezeId ?? "")).ToList();
                }
            }
            for (int i = 0; i < targets.Count; i++) outcomes[i] ??= Thaw(targets[i], force, warn);
            return outcomes!;
        }

        /// <summary>One thaw request naming every device; the watchdog thaws them in reverse waves. Members it did not report stay unsettled.</summary>
        private static void ThawManyThroughWatchdog(FreezeRecord record, IReadOnlyList<FreezeTarget> targets, List<RecordedMember?> members, ThawOutcome?[] outcomes)
        {
            var devices = targets.Select(t => t.Device!).ToList();
            WatchdogReply reply;
            try
            {
                reply = WatchdogClient.Request(new WatchdogRequest(RequestVerb.Thaw, record.Id, devices[0], MoreDevices: devices.Skip(1).ToList()), record.Watchdog.Pid, targets[0].Path);
            }
            catch (Exception e) when (e is SocketException || (e is FsFreezeException f && f.Kind == FreezeErrorKind.WatchdogFailed))
            {
                return; // one by one: those paths know what to do with a watchdog that is gone, stopped or silent
            }
            if (reply.Error != null) return;
            for (int i = 0; i < targets.Count; i++)
            {
                var m = reply.Members.FirstOrDefault(x => x.Device == targets[i].Device);
                if (m == null) continue;
                outcomes[i] = ThawOutcome.For(members[i]!, record.Id, targets[i].Path, m.ThawedAtUtc, m.Error) with { FrozenAtUtc = m.FrozenAtUtc ?? members[i]!.FrozenAtUtc };
            }
            // The watchdog ran the thaw hooks because this request ended the freeze: reported once, with the last outcome.
            int last = Array.FindLastIndex(outcomes, o => o != null);
            if (reply.Hooks.Count > 0 && last >= 0)
            {
                outcomes[last] = outcomes[last]! with { HookRuns = HookRunsOfEnded(record, reply.Hooks) };
            }
        }

        /// <summary>A -TimeoutSec 0 freeze: each member passes ThawMember's checks, then the FITHAWs run side by side in reverse waves, then the record is updated.</summary>
        private static void ThawManyDirectly(RecordStore store, FreezeRecord record, IReadOnlyList<FreezeTarget> targets, List<RecordedMember?> members,
            ThawOutcome?[] outcomes, bool force, Action<string>? warn)
        {
            var ready = new List<(int Index, Filesystem Fs)>();
            for (int i = 0; i < targets.Count; i++)
            {
                var (t, member) = (targets[i], members[i]!);
                if (member.FrozenAtUtc == null && !record.Freezer.IsAlive && !force) return; // ThawMember explains it, one by one
                Filesystem fs;
                try { fs = Resolve(t, member); }
                catch (FsFreezeException e) { outcomes[i] = ThawOutcome.For(member, record.Id, t.Path, null, e); continue; }
                if (!member.Is(fs.Device, fs.Identity)) continue; // DirectThaw says why, one by one
                ready.Add((i, fs));
            }
            var results = new ThawResult?[targets.Count];
            using (var crew = new Crew())
            {
                foreach (var wave in ready.GroupBy(r => members[r.Index]!.Wave).OrderByDescending(g => g.Key).Select(g => g.ToList()))
                {
                    var errors = crew.Run(wave.Count, k => results[wave[k].Index] = FreezeSet.Thaw(wave[k].Fs));
                    for (int k = 0; k < wave.Count; k++)
                    {
                        results[wave[k].Index] ??= new ThawResult(wave[k].Fs, null, new FsFreezeException(FreezeErrorKind.IoError, wave[k].Fs.RequestedPath,
                            $"Thawing '{wave[k].Fs.MountPoint}' failed: {errors[k]?.Message}", errors[k]));
                    }
                }
            }
            // Only now, after every FITHAW: the record says which ended.
            var ended = RecordThawed(store, record, ready.Select(x => (members[x.Index]!, results[x.Index]!)), warn);
            foreach (var (i, fs) in ready)
            {
                outcomes[i] = ThawOutcome.For(members[i]!, record.Id, fs.RequestedPath, results[i]!.ThawedAt, results[i]!.Error);
            }
            // These thaws ended the freeze: its thaw hooks, reported once, with the last outcome.
            if (ended != null && ended.Hooks.Count > 0 && ready.Count > 0)
            {
                int last = ready[^1].Index;
                outcomes[last] = outcomes[last]! with { HookRuns = HookRunsOfEnded(ended, RunPendingThawHooks(store, ended, HookRunner.ReasonThawed, warn)) };
            }
        }

        /// <summary>
        /// After FITHAWs of a freeze's members (one, or several together): the record marks each thawed (a member that
        /// was not frozen any more counts too) and, once none is left frozen, ends the freeze. Under the store's lock,
        /// which decides who ended it: that process alone runs its thaw hooks. Returns the ended record, or null.
        /// </summary>
        private static FreezeRecord? RecordThawed(RecordStore store, FreezeRecord record, IEnumerable<(RecordedMember Member, ThawResult Result)> thawed, Action<string>? warn)
        {
            try
            {
                using var _ = store.Lock();
                var now = store.Load(record.Id, warn) ?? record;
                foreach (var (member, r) in thawed)
                {
                    if (r.Error != null && r.Error.Kind != FreezeErrorKind.NotFrozen) continue;
                    var m = now.FindMember(member.Device, member.Identity);
                    if (m != null) { m.State = FreezeState.Thawed; m.ThawedAtUtc = r.ThawedAt; }
                }
                if (now.Members.TrueForAll(x => x.State != FreezeState.Frozen)) { store.End(now, FreezeState.Thawed, warn); return now; }
                store.Save(now);
            }
            catch (FsFreezeException e) { warn?.Invoke(e.Message); }
            return null;
        }

        /// <summary>What a thaw that ended a freeze reports of its hooks: the freeze runs from the record, then the thaw runs.</summary>
        private static List<HookRun> HookRunsOfEnded(FreezeRecord record, IEnumerable<HookRun> thawRuns)
            => record.HookRuns.Where(h => h.Action == HookRunner.Freeze).Concat(thawRuns).ToList();

        /// <summary>A handle whose watchdog cannot be asked any more: the record says what became of its freeze; what is still held is thawed here.</summary>
        internal static IReadOnlyList<ThawOutcome> ThawRecorded(RecordStore store, string id, int watchdogPid, Action<string>? warn, IReadOnlyList<string> paths)
        {
            FreezeRecord? record = null;
            try { record = store.Load(id, warn); }
            catch (FsFreezeException e) { warn?.Invoke(e.Message); }
            if (record == null)
            {
                return new[] { ThawOutcome.Failed(paths.FirstOrDefault() ?? id, new FsFreezeException(FreezeErrorKind.WatchdogFailed, paths.FirstOrDefault() ?? id,
                    $"Cannot reach the watchdog (pid {watchdogPid}) of freeze {id}, and FsFreeze has no record of that freeze. If the watchdog still runs, it thaws by its deadline; check with Get-FsFreezeStatus."), id) };
            }
            var outcomes = new List<ThawOutcome>();
            foreach (var m in record.Members)
            {
                outcomes.Add(ThawMember(store, record, m, new FreezeTarget(m.MountPoint, id, m.Device), warn));
            }
            return outcomes;
        }

        /// <summary>The record and member a target names: by freeze id when it has one, else the freeze FsFreeze holds on its filesystem.</summary>
        private static (FreezeRecord?, RecordedMember?) Find(RecordStore store, FreezeTarget t, Action<string>? warn)
        {
            try
            {
                if (t.FreezeId != null)
                {
                    var record = store.Load(t.FreezeId, warn);
                    if (record == null) return (null, null);
                    var device = t.Device ?? (record.Members.Count == 1 ? record.Members[0].Device : t.Resolve().Device);
                    return (record, record.Members.Find(m => m.Device == device));
                }
                var fs = t.Resolve();
                FreezeRecord? best = null;
                RecordedMember? bestMember = null;
                foreach (var r in store.LoadAll(warn))
                {
                    var m = r.IsHeld ? r.FindMember(fs.Device, fs.Identity) : null;
                    if (m == null || m.State != FreezeState.Frozen) continue;
                    if (fs.Identity.Length == 0 && m.Identity.Length > 0) continue; // cannot tell it is the same filesystem
                    if (best == null || r.CreatedUtc > best.CreatedUtc) { best = r; bestMember = m; }
                }
                return (best, bestMember);
            }
            catch (FsFreezeException e) when (e.Kind == FreezeErrorKind.UnsafeStateDirectory)
            {
                // A thaw must not depend on the state directory: say why it is not used, and go on without it.
                warn?.Invoke(e.Message);
                return (null, null);
            }
        }

        private static (FreezeRecord, RecordedMember)? FindEnded(RecordStore store, Filesystem fs, Action<string>? warn)
        {
            (FreezeRecord, RecordedMember)? best = null;
            try
            {
                foreach (var r in store.LoadAll(warn))
                {
                    var m = r.IsHeld ? null : r.FindMember(fs.Device, fs.Identity);
                    if (m != null && (best == null || (r.EndedUtc ?? r.CreatedUtc) > (best.Value.Item1.EndedUtc ?? best.Value.Item1.CreatedUtc))) best = (r, m);
                }
            }
            catch (FsFreezeException e) when (e.Kind == FreezeErrorKind.UnsafeStateDirectory) { warn?.Invoke(e.Message); }
            return best;
        }

        private static ThawOutcome ThawMember(RecordStore store, FreezeRecord record, RecordedMember member, FreezeTarget t, Action<string>? warn, bool force = false)
        {
            if (!record.IsHeld || member.State != FreezeState.Frozen)
            {
                if (record.State == FreezeState.ThawedByTimeout || member.State == FreezeState.ThawedByTimeout)
                {
                    return ThawOutcome.For(member, record.Id, t.Path, null, TimedOut(record, member, t.Path));
                }
                return ThawOutcome.For(member, record.Id, t.Path, member.ThawedAtUtc, new FsFreezeException(FreezeErrorKind.NotFrozen, t.Path,
                    $"'{member.MountPoint}' was already thawed{At(member.ThawedAtUtc ?? record.EndedUtc)}: freeze {record.Id} has ended, so nothing was thawed now (a newer freeze of it, if any, is left alone)."),
                    alreadyThawed: true);
            }
            if (record.ByWatchdog)
            {
                try
                {
                    var reply = WatchdogClient.Request(new WatchdogRequest(RequestVerb.Thaw, record.Id, member.Device), record.Watchdog.Pid, t.Path);
                    if (reply.Error == null && reply.Members.Count > 0)
                    {
                        var m = reply.Members[0];
                        // The watchdog ran the thaw hooks when this request ended the freeze: report them with the freeze runs.
                        var hooks = reply.Hooks.Count == 0 ? (IReadOnlyList<HookRun>)Array.Empty<HookRun>() : HookRunsOfEnded(record, reply.Hooks);
                        return ThawOutcome.For(member, record.Id, t.Path, m.ThawedAtUtc, m.Error) with { FrozenAtUtc = m.FrozenAtUtc ?? member.FrozenAtUtc, HookRuns = hooks };
                    }
                    // The watchdog ended the freeze meanwhile (its deadline): its record says how.
                    var now = store.Load(record.Id, warn);
                    if (now != null && !now.IsHeld) return ThawMember(store, now, now.FindMember(member.Device, member.Identity) ?? member, t, warn);
                    return ThawOutcome.For(member, record.Id, t.Path, null, reply.Error ?? new FsFreezeException(FreezeErrorKind.NotFrozen, t.Path, $"'{member.MountPoint}' is already thawed."));
                }
                catch (Exception e) when (e is SocketException || (e is FsFreezeException f && f.Kind == FreezeErrorKind.WatchdogFailed))
                {
                    var now = store.Load(record.Id, warn);
                    if (now != null && !now.IsHeld) return ThawMember(store, now, now.FindMember(member.Device, member.Identity) ?? member, t, warn);
                    // It does not answer. Stopped (SIGSTOP): it must never thaw later (by then the filesystem may be
                    // another tool's), so end it for sure, then thaw here. Running but silent (still freezing, or hung):
                    // leave it to its deadline, and say how to end it.
                    if (record.Watchdog.IsAlive)
                    {
                        if (!ProcessIdentity.IsStopped(record.Watchdog.Pid))
                        {
                            return ThawOutcome.For(member, record.Id, t.Path, null, new FsFreezeException(FreezeErrorKind.WatchdogFailed, t.Path,
                                $"The watchdog (pid {record.Watchdog.Pid}) that holds '{member.MountPoint}' does not answer ({e.Message}): it may still be freezing, or be hung. It still thaws by its deadline. " +
                                $"To thaw now: 'kill -KILL {record.Watchdog.Pid}', then Invoke-FsThaw again (it then thaws directly).", e));
                        }
                        EndWatchdog(record.Watchdog);
                        warn?.Invoke($"The watchdog (pid {record.Watchdog.Pid}) of freeze {record.Id} was stopped (SIGSTOP) and could not answer; FsFreeze killed it so it can never thaw later, and thaws '{member.MountPoint}' itself.");
                    }
                }
            }
            // Thawed here only if the record proves this freeze holds it: its holder recorded the member frozen, or the
            // freezer still runs (a scope). A record whose holder died before that may name a freeze that never happened,
            // and a FITHAW then could end another tool's.
            if (member.FrozenAtUtc == null && !record.Freezer.IsAlive && !force)
            {
                return ThawOutcome.For(member, record.Id, t.Path, null, new FsFreezeException(FreezeErrorKind.WatchdogFailed, t.Path,
                    $"Freeze {record.Id} of '{member.MountPoint}' ended without recording that it froze it: its {(record.ByWatchdog ? $"watchdog (pid {record.Watchdog.Pid})" : $"freezer (pid {record.Freezer.Pid})")} is gone. Nothing was thawed. " +
                    $"If '{member.MountPoint}' is frozen and no other tool froze it, 'Invoke-FsThaw -LiteralPath {Quote(t.Path)} -Force' thaws it."));
            }
            Filesystem fs;
            try { fs = Resolve(t, member); }
            catch (FsFreezeException e) { return ThawOutcome.For(member, record.Id, t.Path, null, e); }
            return DirectThaw(store, record, fs, record.Id, warn, member);
        }

        /// <summary>The filesystem to thaw a member through: where the target path leads now, which must be that member's filesystem.</summary>
        private static Filesystem Resolve(FreezeTarget t, RecordedMember member)
        {
            try { return t.Resolve(); }
            catch (FsFreezeException e) when (e.Kind == FreezeErrorKind.PathNotFound)
            {
                throw new FsFreezeException(FreezeErrorKind.PathChanged, t.Path,
                    $"'{member.MountPoint}' ({member.FileSystemType} on {member.Source}, device {member.Device}) is no longer mounted at '{t.Path}'. " +
                    $"If it was unmounted while frozen it is still frozen: mount {member.Source} again and run 'Invoke-FsThaw -FreezeId {t.FreezeId ?? "<id>"} -LiteralPath <the new mount point>'. Nothing was thawed.", e);
            }
        }

        /// <summary>FITHAW through a fresh descriptor, on a filesystem that must be the recorded member's; the record is updated after.</summary>
        private static ThawOutcome DirectThaw(RecordStore? store, FreezeRecord? record, Filesystem fs, string id, Action<string>? warn, RecordedMember? member = null)
        {
            if (member != null && !member.Is(fs.Device, fs.Identity))
            {
                return ThawOutcome.For(member, id, fs.RequestedPath, null, new FsFreezeException(FreezeErrorKind.PathChanged, fs.RequestedPath,
                    $"'{fs.RequestedPath}' now leads to {fs}, not to the filesystem freeze {id} froze there ({member.FileSystemType} on {member.Source}, device {member.Device}). " +
                    $"That filesystem is no longer mounted where it was; if it was unmounted while frozen it is still frozen: mount {member.Source} again and run 'Invoke-FsThaw -FreezeId {id} -LiteralPath <the new mount point>'. Nothing was thawed."));
            }
            var r = FreezeSet.Thaw(fs);
            var recorded = member ?? RecordedMember.Of(fs);
            bool thawed = r.Error == null || r.Error.Kind == FreezeErrorKind.NotFrozen;
            var ended = store != null && record != null && member != null && thawed ? RecordThawed(store, record, new[] { (member, r) }, warn) : null;
            var outcome = ThawOutcome.For(recorded, id, fs.RequestedPath, r.ThawedAt, r.Error);
            if (ended == null || ended.Hooks.Count == 0) return outcome;
            // This thaw ended the freeze: its thaw hooks run here, once.
            return outcome with { HookRuns = HookRunsOfEnded(ended, RunPendingThawHooks(store, ended, HookRunner.ReasonThawed, warn)) };
        }

        /// <summary>
        /// The thaw hooks of a freeze this process just ended (whoever ends a freeze runs them, so they run once), in
        /// reverse order; the record then says they ran and keeps what they did.
        /// </summary>
        internal static List<HookRun> RunPendingThawHooks(RecordStore? store, FreezeRecord record, string reason, Action<string>? warn)
        {
            if (!record.ThawHooksPending || record.Hooks.Count == 0) return new List<HookRun>();
            record.ThawHooksPending = false;
            var env = HookRunner.Environment(record.Id, record.Members.Select(m => m.MountPoint), record.TimeoutSec, record.HookTimeoutSec);
            var runs = HookRunner.RunThaw(record.Hooks, env, record.HookTimeoutSec, reason, null, null);
            if (store == null) return runs;
            try
            {
                using var _ = store.Lock();
                var now = store.Load(record.Id, warn) ?? record;
                now.ThawHooksPending = false;
                now.HookRuns.AddRange(runs);
                store.Save(now);
            }
            catch (FsFreezeException e) { warn?.Invoke(e.Message); }
            return runs;
        }

        /// <summary>Asks each live watchdog whether it holds the target's filesystem; the one that does thaws it.</summary>
        private static ThawOutcome? AskLiveWatchdogs(IEnumerable<string> ids, FreezeTarget t, Action<string>? warn)
        {
            var id = FindLiveWatchdog(ids, t);
            if (id == null) return null;
            try
            {
                var status = WatchdogClient.Request(new WatchdogRequest(RequestVerb.Status, id), 0, t.Path);
                var held = status.Members.First(m => m.State == FreezeState.Frozen && (t.Device == null || m.Device == t.Device));
                var reply = WatchdogClient.Request(new WatchdogRequest(RequestVerb.Thaw, id, held.Device), 0, t.Path);
                warn?.Invoke($"FsFreeze has no record of this freeze in its state directory; its watchdog (freeze {id}) answered and thawed it.");
                var m = reply.Members.Count > 0 ? reply.Members[0] : null;
                return new ThawOutcome
                {
                    Path = t.Path, MountPoint = t.Path, Device = held.Device, FreezeId = id,
                    FrozenAtUtc = m?.FrozenAtUtc, ThawedAtUtc = m?.ThawedAtUtc, Error = reply.Error ?? m?.Error, HookRuns = reply.Hooks,
                };
            }
            catch (SocketException) { return null; }
        }

        private static string? FindLiveWatchdog(IEnumerable<string> ids, FreezeTarget t)
        {
            string? device = t.Device, identity = null;
            foreach (var id in ids)
            {
                try
                {
                    if (device == null) { var fs = t.Resolve(); device = fs.Device; identity = fs.Identity; }
                    var status = WatchdogClient.Request(new WatchdogRequest(RequestVerb.Status, id), 0, t.Path);
                    if (status.Members.Any(m => m.State == FreezeState.Frozen && m.Device == device && (identity == null || m.Identity.Length == 0 || identity.Length == 0 || m.Identity == identity))) return id;
                }
                catch (SocketException) { }
                catch (FsFreezeException) { }
            }
            return null;
        }

        /// <summary>SIGKILL, also through SIGSTOP; then wait (bounded) until it is gone and its descriptors are closed.</summary>
        private static void EndWatchdog(ProcessIdentity watchdog)
        {
            if (!watchdog.IsAlive) return;
            Posix.Signal(watchdog.Pid, 9);
            var until = DateTime.UtcNow.AddSeconds(5);
            while (watchdog.IsAlive && DateTime.UtcNow < until) Thread.Sleep(10);
        }
    }
}
