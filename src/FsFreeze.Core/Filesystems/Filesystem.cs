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

        /// <summary>
        /// The freeze wave this member belongs to (set by <see cref="FilesystemResolver.Plan"/>): members of one wave do not
        /// depend on each other and freeze side by side; wave n+1 freezes only once wave n is frozen, and thaw goes in reverse
        /// waves. 0 for a member that no other member must precede.
        /// </summary>
        public int Wave { get; internal set; }

        private string? _identity;

        /// <summary>The filesystem instance's UUID ("" where the kernel gives none): tells a reused device number apart.</summary>
        public string Identity => _identity ??= Native.FsUuid.Of(OpenPath);

        public override string ToString() => $"{MountPoint} ({FileSystemType} on {Source}, device {Device})";
    }
}
