using System;
using System.Collections.Generic;
using System.Threading;
using FsFreeze.State;

namespace FsFreeze
{
    /// <summary>How a freeze is to be made.</summary>
    internal sealed class FreezeOptions
    {
        /// <summary>0: no timeout, frozen in this process; 2 or more: held by a watchdog that thaws at the deadline.</summary>
        public long TimeoutSec { get; init; }
        public bool Flush { get; init; } = true;
        /// <summary>Use-FsFreeze: the freeze ends with its scope, and with its process whatever kills it.</summary>
        public bool Scope { get; init; }
        public CancellationToken Cancel { get; init; }
        public Action<string>? Warn { get; init; }
        /// <summary>Hooks to run with "freeze" before the flush and the first FIFREEZE, and with "thaw" after the thaw.</summary>
        public HookPlan Hooks { get; init; } = HookPlan.None;
        /// <summary>Every hook run of this freeze, as it ends (also when the freeze fails): the cmdlet reports them after the thaw.</summary>
        public List<HookRun> HookRuns { get; init; } = new List<HookRun>();
        /// <summary>A watchdog started before planning (see WatchdogClient.Prestart); a freeze with a timeout takes it.</summary>
        public WatchdogClient.WatchdogLaunch? Launch { get; init; }
    }

    /// <summary>The one result of thawing one member, however it was thawed: by its handle, its watchdog, or a fresh descriptor.</summary>
    internal sealed record ThawOutcome
    {
        public string Path { get; init; } = "";
        public string MountPoint { get; init; } = "";
        public string Device { get; init; } = "";
        public string FileSystemType { get; init; } = "";
        public string Source { get; init; } = "";
        public string FreezeId { get; init; } = "";
        public DateTime? FrozenAtUtc { get; init; }
        public DateTime? ThawedAtUtc { get; init; }
        public FsFreezeException? Error { get; init; }

        /// <summary>The hooks of the freeze this thaw ended (its freeze runs, then the thaw runs it caused); empty otherwise.</summary>
        public IReadOnlyList<HookRun> HookRuns { get; init; } = Array.Empty<HookRun>();

        /// <summary>The freeze had already been ended by a thaw request (a scope that thawed its own set): nothing left to do, no error.</summary>
        public bool AlreadyThawed { get; init; }

        public static ThawOutcome For(RecordedMember m, string freezeId, string path, DateTime? thawedAtUtc, FsFreezeException? error, bool alreadyThawed = false) => new ThawOutcome
        {
            Path = path, MountPoint = m.MountPoint, Device = m.Device, FileSystemType = m.FileSystemType, Source = m.Source,
            FreezeId = freezeId, FrozenAtUtc = m.FrozenAtUtc, ThawedAtUtc = thawedAtUtc, Error = error, AlreadyThawed = alreadyThawed,
        };

        public static ThawOutcome Failed(string path, FsFreezeException error, string freezeId = "") => new ThawOutcome
        {
            Path = path, MountPoint = path, FreezeId = freezeId, Error = error,
        };

        public ThawedFilesystem ToThawed(DateTime? frozenAtOverride) => new ThawedFilesystem
        {
            MountPoint = MountPoint, Device = Device, FileSystemType = FileSystemType, Source = Source, State = FreezeState.Thawed,
            FrozenAt = frozenAtOverride ?? FrozenAtUtc?.ToLocalTime(), ThawedAt = (ThawedAtUtc ?? DateTime.UtcNow).ToLocalTime(), FreezeId = FreezeId,
        };
    }
}
