using System;

namespace FsFreeze
{
    public enum FreezeState { Frozen, Thawed, ThawedByTimeout }

    /// <summary>What Invoke-FsFreeze and Use-FsFreeze emit per filesystem; Invoke-FsThaw takes it back (also after a JSON round trip).</summary>
    public sealed class FrozenFilesystem
    {
        public string MountPoint { get; set; } = "";
        public string Device { get; set; } = "";
        public string FileSystemType { get; set; } = "";
        public string Source { get; set; } = "";
        public FreezeState State { get; set; } = FreezeState.Frozen;
        public DateTime FrozenAt { get; set; }

        /// <summary>How long FIFREEZE took: the stall it added for this filesystem's writers.</summary>
        public TimeSpan FreezeTime { get; set; }

        /// <summary>FreezeTime in milliseconds: a plain number in JSON (a TimeSpan serializes as an object).</summary>
        public double FreezeTimeMs => Math.Round(FreezeTime.TotalMilliseconds, 3);

        /// <summary>Seconds after which FsFreeze thaws it unless thawed or reset; 0 = no timeout.</summary>
        public int TimeoutSec { get; set; }

        public DateTime? Deadline { get; set; }

        /// <summary>The paths the caller named for it (not "Path", so piping to Invoke-FsThaw binds MountPoint).</summary>
        public string[] RequestedPath { get; set; } = Array.Empty<string>();

        /// <summary>The freeze that holds it. Invoke-FsThaw thaws this freeze and no other: a newer freeze of the same filesystem is left alone.</summary>
        public string FreezeId { get; set; } = "";

        /// <summary>Not a PowerShell property (internal): the resolved filesystem.</summary>
        internal Filesystem? Filesystem { get; set; }

        internal static FrozenFilesystem From(Filesystem fs, DateTime frozenAt, TimeSpan freezeTime, string freezeId, long timeoutSec, DateTime? deadlineUtc) => new FrozenFilesystem
        {
            MountPoint = fs.MountPoint,
            Device = fs.Device,
            FileSystemType = fs.FileSystemType,
            Source = fs.Source,
            FrozenAt = frozenAt,
            FreezeTime = freezeTime,
            RequestedPath = fs.RequestedPaths.ToArray(),
            FreezeId = freezeId,
            TimeoutSec = (int)timeoutSec,
            Deadline = deadlineUtc?.ToLocalTime(),
            Filesystem = fs,
        };
    }

    /// <summary>What Invoke-FsThaw emits per filesystem.</summary>
    public sealed class ThawedFilesystem
    {
        public string MountPoint { get; set; } = "";
        public string Device { get; set; } = "";
        public string FileSystemType { get; set; } = "";
        public string Source { get; set; } = "";
        public FreezeState State { get; set; } = FreezeState.Thawed;
        public DateTime? FrozenAt { get; set; }
        public DateTime ThawedAt { get; set; }
        public string FreezeId { get; set; } = "";

        /// <summary>How long writers were held, where the freeze time is known.</summary>
        public TimeSpan? FrozenFor => FrozenAt.HasValue ? ThawedAt - FrozenAt.Value : (TimeSpan?)null;

        /// <summary>FrozenFor in milliseconds: a plain number in JSON.</summary>
        public double? FrozenForMs => FrozenFor.HasValue ? Math.Round(FrozenFor.Value.TotalMilliseconds, 3) : null;
    }

    /// <summary>
    /// Get-FsFreezeStatus: one filesystem FsFreeze holds frozen on this host, from the record store.
    /// A -TimeoutSec 0 freeze has no watchdog: its record says what FsFreeze froze and nobody has thawed through
    /// FsFreeze since; a thaw by another tool cannot be seen, because the kernel offers no read-only "is it frozen?".
    /// </summary>
    public sealed class FreezeStatus
    {
        public string MountPoint { get; set; } = "";
        public string Device { get; set; } = "";
        public string FileSystemType { get; set; } = "";
        public string Source { get; set; } = "";
        public FreezeState State { get; set; } = FreezeState.Frozen;
        public DateTime? FrozenAt { get; set; }
        public string FreezeId { get; set; } = "";
        /// <summary>Made by Use-FsFreeze: it ends with its scriptblock, or when its process dies.</summary>
        public bool Scope { get; set; }
        public int FreezerPid { get; set; }
        public bool FreezerAlive { get; set; }
        /// <summary>0: frozen with -TimeoutSec 0, no watchdog.</summary>
        public int WatchdogPid { get; set; }
        public bool WatchdogAlive { get; set; }
        public long TimeoutSec { get; set; }
        public DateTime? Deadline { get; set; }
        public TimeSpan? TimeLeft { get; set; }

        /// <summary>
        /// Nothing will ever thaw it by itself: no live watchdog with a deadline, and no live Use-FsFreeze scope that
        /// thaws on its way out. Only Invoke-FsThaw ends an orphaned freeze.
        /// </summary>
        public bool Orphaned { get; set; }
    }
}
