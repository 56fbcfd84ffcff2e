using System;
using System.Collections.Generic;

namespace FsFreeze
{
    /// <summary>
    /// A freeze this process made and still answers for: its id, its members, and one way out (ThawAll). Thread-safe
    /// and idempotent: Use-FsFreeze's finally and a termination signal may both call ThawAll; the second gets the
    /// first one's outcome and thaws nothing again. Disposing closes what the process holds; the freeze stays.
    /// </summary>
    internal abstract class FreezeHandle : IDisposable
    {
        private readonly object _gate = new object();
        private IReadOnlyList<ThawOutcome>? _outcome;

        public string Id { get; protected init; } = "";
        public IReadOnlyList<FrozenFilesystem> Members { get; protected init; } = Array.Empty<FrozenFilesystem>();
        public long TimeoutSec { get; protected init; }
        public int WatchdogPid { get; protected init; }
        public DateTime? DeadlineUtc { get; protected init; }

        /// <summary>Every hook run of this freeze: the freeze runs, then (after ThawAll) the thaw runs this handle's thaw caused.</summary>
        public List<HookRun> HookRuns { get; protected init; } = new List<HookRun>();

        public IReadOnlyList<ThawOutcome> ThawAll(Action<string>? warn)
        {
            lock (_gate)
            {
                return _outcome ??= ThawAllOnce(warn);
            }
        }

        protected abstract IReadOnlyList<ThawOutcome> ThawAllOnce(Action<string>? warn);

        public virtual void Dispose() { }
    }
}
