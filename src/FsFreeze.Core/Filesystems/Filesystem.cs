using System.Collections.Generic;

namespace FsFreeze
{
    /// <summary>A mounted filesystem that a freeze names: one per superblock, however many paths named it.</summary>
    public sealed class Filesystem
    {
        public Filesystem(MountEntry mount, string openPath, string requestedPath)
        {
            Mount = mount;
            OpenPath = openPath;
            RequestedPaths.Add(requestedPath);
        }

        public MountEntry Mount { get; }

        public string Device => Mount.Device;
        public string MountPoint => Mount.MountPoint;
        public string FileSystemType => Mount.FileSystemType;
        public string Source => Mount.Source;

        /// <summary>What we open for the ioctl: a canonical path on this filesystem (the mount point may be hidden by another mount).</summary>
        public string OpenPath { get; }

        /// <summary>The paths the caller named that led here, in the order given.</summary>
        public List<string> RequestedPaths { get; } = new List<string>();

        public string RequestedPath => RequestedPaths[0];

        private string? _identity;

        /// <summary>The filesystem instance's UUID ("" where the kernel gives none): tells a reused device number apart.</summary>
        public string Identity => _identity ??= Native.FsUuid.Of(OpenPath);

        public override string ToString() => $"{MountPoint} ({FileSystemType} on {Source}, device {Device})";
    }
}
