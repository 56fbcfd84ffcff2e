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

        public static FrozenFilesystem From(HeldMember m) => new FrozenFilesystem
        {
            MountPoint = m.Filesystem.MountPoint,
            Device = m.Filesystem.Device,
            FileSystemType = m.Filesystem.FileSystemType,
            Source = m.Filesystem.Source,
            FrozenAt = m.FrozenAt,
            FreezeTime = m.FreezeTime,
            RequestedPath = m.Filesystem.RequestedPaths.ToArray(),
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
}
