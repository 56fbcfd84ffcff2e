using System;

namespace FsFreeze
{
    public enum FreezeState { Frozen, Thawed, ThawedByTimeout }

    /// <summary>What Invoke-FsFreeze and Use-FsFreeze emit per filesystem; Invoke-FsThaw takes it back.</summary>
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

        /// <summary>Seconds after which FsFreeze thaws it unless thawed or reset; 0 = no timeout.</summary>
        public int TimeoutSec { get; set; }

        public DateTime? Deadline { get; set; }

        /// <summary>The paths the caller named for it (not "Path", so piping to Invoke-FsThaw binds MountPoint).</summary>
        public string[] RequestedPath { get; set; } = Array.Empty<string>();

        /// <summary>The watchdog freeze that holds it (Get-FsFreezeStatus shows it); empty for -TimeoutSec 0.</summary>
        public string FreezeId { get; set; } = "";

        /// <summary>Not a PowerShell property (internal): the resolved filesystem, for thawing it from this process.</summary>
        internal Filesystem? Filesystem { get; set; }

        public static FrozenFilesystem From(HeldMember m) => From(m.Filesystem, m.FrozenAt, m.FreezeTime);

        public static FrozenFilesystem From(Filesystem fs, DateTime frozenAt, TimeSpan freezeTime) => new FrozenFilesystem
        {
            MountPoint = fs.MountPoint,
            Device = fs.Device,
            FileSystemType = fs.FileSystemType,
            Source = fs.Source,
            FrozenAt = frozenAt,
            FreezeTime = freezeTime,
            RequestedPath = fs.RequestedPaths.ToArray(),
            Filesystem = fs,
        };
    }

    /// <summary>What Invoke-FsThaw (and Use-FsFreeze with -PassThru) emit per filesystem.</summary>
    public sealed class ThawedFilesystem
    {
        public string MountPoint { get; set; } = "";
        public string Device { get; set; } = "";
        public string FileSystemType { get; set; } = "";
        public string Source { get; set; } = "";
        public FreezeState State { get; set; } = FreezeState.Thawed;
        public DateTime? FrozenAt { get; set; }
        public DateTime ThawedAt { get; set; }

        /// <summary>How long writers were held, where the freeze time is known.</summary>
        public TimeSpan? FrozenFor => FrozenAt.HasValue ? ThawedAt - FrozenAt.Value : (TimeSpan?)null;

        public static ThawedFilesystem From(Filesystem fs, DateTime thawedAt, DateTime? frozenAt, FreezeState state = FreezeState.Thawed) => new ThawedFilesystem
        {
            MountPoint = fs.MountPoint,
            Device = fs.Device,
            FileSystemType = fs.FileSystemType,
            Source = fs.Source,
            State = state,
            FrozenAt = frozenAt,
            ThawedAt = thawedAt,
        };
    }

    /// <summary>
    /// Get-FsFreezeStatus: one filesystem FsFreeze holds frozen on this host, from the state directory.
    /// A watchdog freeze is as live as its watchdog (WatchdogAlive). A -TimeoutSec 0 freeze has no watchdog:
    /// its record says what FsFreeze froze and nobody has thawed through FsFreeze since; a thaw by another
    /// tool (fsfreeze -u) or a crash cannot be seen, because the kernel offers no read-only "is it frozen?".
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
        public int FreezerPid { get; set; }
        public bool FreezerAlive { get; set; }
        /// <summary>0: frozen with -TimeoutSec 0, no watchdog.</summary>
        public int WatchdogPid { get; set; }
        public bool WatchdogAlive { get; set; }
        public long TimeoutSec { get; set; }
        public DateTime? Deadline { get; set; }
        public TimeSpan? TimeLeft { get; set; }
        /// <summary>The process that froze it is gone: nobody but the watchdog (if any) will thaw it.</summary>
        public bool Orphaned { get; set; }
    }
}
