using System;
using System.Collections.Generic;
using System.Linq;
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
            store.Save(record);

            FreezeSet set;
            try
            {
                set = FreezeSet.Freeze(members, o.Flush, cancel: o.Cancel);
            }
            catch (Exception e) when (e is FsFreezeException || e is OperationCanceledException)
            {
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

            var frozen = set.Members.Select(m => FrozenFilesystem.From(m.Filesystem, m.FrozenAt, m.FreezeTime, record.Id, 0, null)).ToList();
            if (!o.Scope)
            {
                // Invoke-FsFreeze's process may end while frozen: status and a later thaw need the times. A tmpfs write.
                foreach (var m in set.Members) record.FindMember(m.Filesystem.Device)!.FrozenAtUtc = m.FrozenAt.ToUniversalTime();
                try { store.Save(record); }
                catch (FsFreezeException e) { o.Warn?.Invoke(e.Message); }
            }
            return new InProcessFreeze(set, record, store, frozen);
        }

        protected override IReadOnlyList<ThawOutcome> ThawAllOnce(Action<string>? warn)
        {
            var results = _set.ThawAll();
            // Only now, after the thaw, the record says how it ended. Another process may have thawed a member
            // through it meanwhile: update the stored record under the lock, not this process's copy.
            try
            {
                using var _ = _store.Lock();
                var record = _store.Load(Id, warn) is { IsHeld: true } stored ? stored : _record;
                var outcomes = new List<ThawOutcome>();
                foreach (var r in results)
                {
                    var rm = record.FindMember(r.Filesystem.Device) ?? RecordedMember.Of(r.Filesystem);
                    rm.FrozenAtUtc ??= _set.Members.First(h => h.Filesystem.Device == r.Filesystem.Device).FrozenAt.ToUniversalTime();
                    if (r.Error == null) { rm.State = FreezeState.Thawed; rm.ThawedAtUtc = r.ThawedAt!.Value.ToUniversalTime(); }
                    else if (r.Error.Kind == FreezeErrorKind.NotFrozen) rm.State = FreezeState.Thawed; // thawed by someone else: never ours again
                    outcomes.Add(ThawOutcome.For(rm, Id, r.Filesystem.RequestedPath, rm.ThawedAtUtc, r.Error));
                }
                if (record.Members.TrueForAll(m => m.State != FreezeState.Frozen)) _store.End(record, FreezeState.Thawed, warn);
                else _store.Save(record);
                return outcomes;
            }
            catch (FsFreezeException e)
            {
                // The thaw itself is done; only its record could not be written.
                warn?.Invoke(e.Message);
                return results.Select(r => ThawOutcome.For(RecordedMember.Of(r.Filesystem), Id, r.Filesystem.RequestedPath,
                    r.ThawedAt?.ToUniversalTime(), r.Error)).ToList();
            }
        }

        public override void Dispose() => _set.Dispose();
    }
}
