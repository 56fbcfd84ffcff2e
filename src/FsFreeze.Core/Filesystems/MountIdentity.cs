using FsFreeze.Native;

namespace FsFreeze
{
    /// <summary>
    /// Which mount a path or a descriptor really is on, from the kernel (statx STATX_MNT_ID on the descriptor),
    /// never from matching path strings against the mount table: a path can be swapped for a symlink after it was
    /// checked, and a mount can hide another one, but an open descriptor stays on the mount it opened.
    /// </summary>
    internal static class MountIdentity
    {
        /// <summary>The mount a path leads to now (following symlinks), or null when it does not exist.</summary>
        public static MountEntry? Of(string path, MountTable table)
        {
            FileDescriptorHandle location;
            try { location = FileDescriptorHandle.OpenLocation(path); }
            catch (NativeException) { return null; }
            using (location) return Of(StatX.Of(location, path), path, table);
        }

        /// <summary>The mount entry of what a statx of a descriptor reported; re-reads the table once if the mount is newer than it.</summary>
        public static MountEntry? Of(StatX.Info info, string path, MountTable table)
        {
            if (info.MountId is not long id)
            {
                // Before Linux 5.8 statx has no mount id: fall back to the path (the best a path can do).
                try { return table.FindByPath(RealPath.Resolve(path)); }
                catch (NativeException) { return null; }
            }
            return table.FindById(id) ?? MountTable.Read().FindById(id);
        }

        /// <summary>
        /// Opens a planned member read-only for the ioctls and checks the descriptor is on the planned mount.
        /// Throws PathChanged (and closes it) when the path now leads elsewhere: nothing is frozen through it.
        /// </summary>
        public static FileDescriptorHandle OpenVerified(Filesystem fs)
        {
            var fd = FileDescriptorHandle.OpenReadOnly(fs.OpenPath);
            try
            {
                var info = StatX.Of(fd, fs.OpenPath);
                if (info.MountId is long id && id != fs.Mount.MountId)
                {
                    throw new FsFreezeException(FreezeErrorKind.PathChanged, fs.RequestedPath,
                        $"'{fs.RequestedPath}' changed after it was checked: it was planned as {fs}, but opening '{fs.OpenPath}' now reaches mount {id}, another filesystem or mount " +
                        "(a directory on the path was replaced, for example by a symlink, or a mount was added or removed). Nothing was frozen through it. " +
                        "Check who can write to the directories on that path, then run the command again.");
                }
                return fd;
            }
            catch
            {
                fd.Dispose();
                throw;
            }
        }
    }
}
