using System;
using System.Collections.Generic;
using FsFreeze.Native;
using Mono.Unix.Native;

namespace FsFreeze
{
    /// <summary>Turns the paths a caller names into the set of filesystems to freeze, in freeze order.</summary>
    public static class FilesystemResolver
    {
        /// <summary>Resolves one absolute path (a mount point, anything inside one, or a block device that is mounted).</summary>
        public static Filesystem Resolve(string absolutePath, MountTable table)
        {
            if (Syscall.stat(absolutePath, out var st) != 0)
            {
                var errno = Stdlib.GetLastError();
                throw errno == Errno.ENOENT || errno == Errno.ENOTDIR
                    ? new FsFreezeException(FreezeErrorKind.PathNotFound, absolutePath,
                        $"Cannot find path '{absolutePath}': it does not exist. Name a mount point or a file or directory inside the filesystem to freeze.",
                        new NativeException(errno, NativeOperation.Stat, absolutePath))
                    : ErrorMessages.ForNative(new NativeException(errno, NativeOperation.Stat, absolutePath), absolutePath, null);
            }

            // An fd on a device node would freeze the filesystem holding /dev, not the one on the device:
            // a block device means "the filesystem mounted from it".
            if ((st.st_mode & FilePermissions.S_IFMT) == FilePermissions.S_IFBLK)
            {
                var (major, minor) = DeviceNumber.Split(st.st_rdev);
                var mounted = table.FindByDevice(major, minor)
                    ?? FindBySourceDevice(table, st.st_rdev)
                    ?? throw new FsFreezeException(FreezeErrorKind.PathNotFound, absolutePath,
                        $"Block device '{absolutePath}' ({major}:{minor}) has no mounted filesystem. Mount it first, or name the mount point.");
                return new Filesystem(mounted, mounted.MountPoint, absolutePath);
            }

            string canonical;
            try { canonical = RealPath.Resolve(absolutePath); }
            catch (NativeException e) { throw ErrorMessages.ForNative(e, absolutePath, null); }

            var mount = table.FindByPath(canonical)
                ?? throw new FsFreezeException(FreezeErrorKind.PathNotFound, absolutePath,
                    $"No mounted filesystem holds '{absolutePath}' (resolved to '{canonical}') in /proc/self/mountinfo.");
            return new Filesystem(mount, canonical, absolutePath);
        }

        /// <summary>
        /// btrfs shows an anonymous device (0:N) in mountinfo, not the block device it lives on: find the mount
        /// whose source is a device node with this device number instead.
        /// </summary>
        private static MountEntry? FindBySourceDevice(MountTable table, ulong rdev)
        {
            foreach (var e in table.Entries)
            {
                if (!e.Source.StartsWith("/", StringComparison.Ordinal)) continue;
                if (Syscall.stat(e.Source, out var st) == 0
                    && (st.st_mode & FilePermissions.S_IFMT) == FilePermissions.S_IFBLK && st.st_rdev == rdev)
                {
                    return e;
                }
            }
            return null;
        }

        /// <summary>
        /// Dedupes by superblock (two paths or a bind mount of one filesystem make one member) and orders
        /// nested mounts before their parents: the reverse of mount order, like the QEMU guest agent.
        /// Thaw goes the other way.
        /// </summary>
        public static IReadOnlyList<Filesystem> Plan(IEnumerable<Filesystem> resolved)
        {
            var byDevice = new Dictionary<string, Filesystem>(StringComparer.Ordinal);
            var members = new List<Filesystem>();
            foreach (var fs in resolved)
            {
                if (byDevice.TryGetValue(fs.Device, out var existing))
                {
                    existing.RequestedPaths.AddRange(fs.RequestedPaths);
                    continue;
                }
                byDevice.Add(fs.Device, fs);
                members.Add(fs);
            }
            // Stable sort: deeper mount points first, then the later mount (higher id) first.
            var order = new List<(Filesystem fs, int index)>();
            for (int i = 0; i < members.Count; i++) order.Add((members[i], i));
            order.Sort((a, b) =>
            {
                int byDepth = Depth(b.fs.MountPoint).CompareTo(Depth(a.fs.MountPoint));
                if (byDepth != 0) return byDepth;
                int byId = b.fs.Mount.MountId.CompareTo(a.fs.Mount.MountId);
                return byId != 0 ? byId : a.index.CompareTo(b.index);
            });
            return order.ConvertAll(o => o.fs);
        }

        private static int Depth(string mountPoint)
        {
            if (mountPoint == "/") return 0;
            int depth = 0;
            foreach (var c in mountPoint) if (c == '/') depth++;
            return depth;
        }
    }

    public static class DeviceNumber
    {
        /// <summary>glibc's gnu_dev_major / gnu_dev_minor.</summary>
        public static (uint Major, uint Minor) Split(ulong dev)
        {
            uint major = (uint)(((dev >> 8) & 0xfff) | ((dev >> 32) & 0xfffff000));
            uint minor = (uint)((dev & 0xff) | ((dev >> 12) & 0xffffff00));
            return (major, minor);
        }
    }
}
