using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using FsFreeze.State;

namespace FsFreeze
{
    /// <summary>
    /// The -TimeoutSec 0 freeze: FIFREEZE in this process, no timer. Its record is written before the first FIFREEZE
    /// (Get-FsFreezeStatus lists it, a thaw from another process finds it) and ended after the thaw; the store is on
    /// a tmpfs, so no record write can wait on a frozen filesystem.
    /// </summary>
    internal sealed class InProcessFreeze : FreezeHandle
    {
        private readonly FreezeSet _set;
        private readonly FreezeRecord _record;
        private readonly RecordStore _store;

        private InProcessFreeze(FreezeSet set, FreezeRecord record, RecordStore store, IReadOnlyList<FrozenFilesystem> members)
        {
            _set = set;
            _record = record;
            _store = store;
            Id = record.Id;
            Members = members;
        }

        public static InProcessFreeze Start(IReadOnlyList<Filesystem> members, FreezeOptions o, RecordStore store)
        {
            var record = new FreezeRecord
            {
                Id = FreezeRecord.NewId(),
                Freezer = ProcessIdentity.Of(Environment.ProcessId),
                Scope = o.Scope,
                CreatedUtc = DateTime.UtcNow,
            };
            foreach (var fs in members) record.Members.Add(RecordedMember.Of(fs));

            // The freeze hooks first, before the record, the flush and the first FIFREEZE: one that fails aborts the freeze.
            var hookEnv = HookRunner.Environment(record.Id, members.Select(m => m.MountPoint), 0, o.Hooks.TimeoutSec);
            var ran = new List<HookSpec>();
            if (!o.Hooks.IsEmpty)
            {
                var failed = HookRunner.RunFreeze(o.Hooks, hookEnv, ran, o.HookRuns.Add, () => o.Cancel.IsCancellationRequested, members[0].RequestedPath);
                if (failed != null) throw failed;
                o.Cancel.ThrowIfCancellationRequested();
                record.Hooks.AddRange(ran);
                record.HookTimeoutSec = o.Hooks.TimeoutSec;
                record.ThawHooksPending = true;
                foreach (var r in o.HookRuns) record.HookRuns.Add(r);
            }
            try
            {
                store.Save(record);
            }
            catch (FsFreezeException)
            {
                AbortHooks(ran, hookEnv, o);
                throw;
            }

            FreezeSet set;
            try
            {
                set = FreezeSet.Freeze(members, o.Flush, cancel: o.Cancel);
            }
            catch (Exception e) when (e is FsFreezeException || e is OperationCanceledException)
            {
                AbortHooks(ran, hookEnv, o);
                var stuck = (e as FsFreezeException)?.StillFrozen ?? Array.Empty<string>();
                if (stuck.Count == 0)
                {
                    store.Delete(record.Id); // all or nothing: nothing of this freeze is left
                }
                else
                {
                    // A rollback that failed leaves members frozen: keep the record of exactly those, so they can be thawed as ours.
                    record.Members.RemoveAll(m => !stuck.Contains(m.Device));
                    store.Save(record);
                }
                throw;
            }

            var frozen = set.Members.Select(m => FrozenFilesystem.From(m.Filesystem, m.FrozenAt.ToLocalTime(), m.FreezeTime, record.Id, 0, null)).ToList();
            if (!o.Scope)
            {
                // Invoke-FsFreeze's process may end while frozen: status and a later thaw need the times. A tmpfs write.
                foreach (var m in set.Members) record.FindMember(m.Filesystem.Device)!.FrozenAtUtc = m.FrozenAt.ToUniversalTime();
                try { store.Save(record); }
                catch (FsFreezeException e) { o.Warn?.Invoke(e.Message); }
            }
            return new InProcessFreeze(set, record, store, frozen) { HookRuns = o.HookRuns };
        }

        /// <summary>A freeze that did not happen: the hooks that ran "freeze" run "thaw" (reason "aborted").</summary>
        private static void AbortHooks(List<HookSpec> ran, Dictionary<string, string> env, FreezeOptions o)
        {
            if (ran.Count > 0) HookRunner.RunThaw(ran, env, o.Hooks.TimeoutSec, HookRunner.ReasonAborted, o.HookRuns.Add, null);
        }

        protected override IReadOnlyList<ThawOutcome> ThawAllOnce(Action<string>? warn)
        {
            // Under the store's lock, with the record as stored: a member another process (or this scope itself) already
            // thawed through FsFreeze is let go, never thawed again (a new freeze of it by then would be someone else's).
            IDisposable? held = null;
            FreezeRecord record = _record;
            try
            {
                held = _store.Lock();
                if (_store.Load(Id, warn) is FreezeRecord stored) record = stored;
            }
            catch (FsFreezeException e) { warn?.Invoke(e.Message); }
            var outcomes = new List<ThawOutcome>();
            bool ended = false;
            using (held)
            {
                foreach (var hm in _set.Members)
                {
                    var rm = record.FindMember(hm.Filesystem.Device);
                    if (rm != null && (!record.IsHeld || rm.State != FreezeState.Frozen))
                    {
                        hm.Release();
                        outcomes.Add(ThawOutcome.For(rm, Id, hm.Filesystem.RequestedPath, rm.ThawedAtUtc, null, alreadyThawed: true));
                    }
                }
                foreach (var r in _set.ThawAll())
                {
                    var hm = _set.Members.First(m => m.Filesystem.Device == r.Filesystem.Device);
                    var rm = record.FindMember(hm.Filesystem.Device) ?? RecordedMember.Of(hm.Filesystem);
                    rm.FrozenAtUtc ??= hm.FrozenAt.ToUniversalTime();
                    if (r.Error == null) { rm.State = FreezeState.Thawed; rm.ThawedAtUtc = r.ThawedAt!.Value.ToUniversalTime(); }
                    else if (r.Error.Kind == FreezeErrorKind.NotFrozen) rm.State = FreezeState.Thawed; // thawed by another tool: never ours again
                    outcomes.Add(ThawOutcome.For(rm, Id, hm.Filesystem.RequestedPath, rm.ThawedAtUtc, r.Error));
                }
                // Only now, after the thaw, the record says how it ended.
                ended = record.IsHeld && record.Members.TrueForAll(m => m.State != FreezeState.Frozen);
                try
                {
                    if (ended) _store.End(record, FreezeState.Thawed, warn);
                    else if (record.IsHeld) _store.Save(record);
                }
                catch (FsFreezeException e) { warn?.Invoke(e.Message); }
            }
            // This process ended the freeze, so it runs the thaw hooks (after the store's lock: they may take a while).
            // A freeze another process ended (Invoke-FsThaw in the scope) had its thaw hooks run there.
            if (ended) HookRuns.AddRange(FreezeEngine.RunPendingThawHooks(_store, record, HookRunner.ReasonThawed, warn));
            return outcomes;
        }

        public override void Dispose() => _set.Dispose();
    }
}
