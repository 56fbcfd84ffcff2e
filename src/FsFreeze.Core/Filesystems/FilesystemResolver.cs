using System;
using System.Collections.Generic;
using System.Linq;
using FsFreeze.Native;
using System.IO;
using Mono.Unix.Native;

namespace FsFreeze
{
    /// <summary>Turns the paths a caller names into the set of filesystems to freeze, in freeze order.</summary>
    public static class FilesystemResolver
    {
        /// <summary>
        /// Resolves one absolute path (a mount point, anything inside one, or a block device that is mounted) to
        /// the filesystem it leads to now. The path is opened once (O_PATH, no side effects) and the mount is the one
        /// the kernel says that descriptor is on: a mount hidden under a later mount, or a symlink on the way, cannot
        /// make the answer differ from what an open reaches. The freeze opens it again and checks the same mount id.
        /// </summary>
        public static Filesystem Resolve(string absolutePath, MountTable table)
        {
            FileDescriptorHandle location;
            try
            {
                location = FileDescriptorHandle.OpenLocation(absolutePath);
            }
            catch (NativeException e)
            {
                throw e.Errno == Errno.ENOENT || e.Errno == Errno.ENOTDIR
                    ? new FsFreezeException(FreezeErrorKind.PathNotFound, absolutePath,
                        $"Cannot find path '{absolutePath}': it does not exist. Name a mount point or a file or directory inside the filesystem to freeze.", e)
                    : ErrorMessages.ForNative(e, absolutePath, null);
            }
            using (location)
            {
                StatX.Info info;
                try { info = StatX.Of(location, absolutePath); }
                catch (NativeException e) { throw ErrorMessages.ForNative(e, absolutePath, null); }

                // An fd on a device node would freeze the filesystem holding /dev, not the one on the device:
                // a block device means "the filesystem mounted from it".
                if (info.IsBlockDevice) return ResolveBlockDevice(absolutePath, info.RdevMajor, info.RdevMinor, table);

                var mount = MountIdentity.Of(info, absolutePath, table)
                    ?? throw new FsFreezeException(FreezeErrorKind.PathNotFound, absolutePath,
                        $"No mounted filesystem in /proc/self/mountinfo holds '{absolutePath}' (its mount is not in this process's mount namespace).");
                return new Filesystem(mount, PathOf(location, absolutePath), absolutePath);
            }
        }

        /// <summary>The path the kernel resolved for a descriptor (every symlink followed): what the freeze opens again.</summary>
        private static string PathOf(FileDescriptorHandle location, string fallback)
        {
            try
            {
                var target = new FileInfo($"/proc/self/fd/{location.Fd}").LinkTarget;
                return string.IsNullOrEmpty(target) || target![0] != '/' ? RealPath.Resolve(fallback) : target;
            }
            catch (IOException) { return RealPath.Resolve(fallback); }
        }

        private static Filesystem ResolveBlockDevice(string absolutePath, uint major, uint minor, MountTable table)
        {
            var mounts = MountsOfDevice(table, major, minor);
            if (mounts.Count == 0)
            {
                throw new FsFreezeException(FreezeErrorKind.PathNotFound, absolutePath,
                    $"Block device '{absolutePath}' ({major}:{minor}) has no mounted filesystem. Mount it first, or name the mount point.");
            }
            // The freeze opens the mount point: one that another mount sits on top of would open (and freeze) that other filesystem.
            foreach (var m in mounts)
            {
                if (MountIdentity.Of(m.MountPoint, table)?.MountId == m.MountId) return new Filesystem(m, m.MountPoint, absolutePath);
            }
            throw new FsFreezeException(FreezeErrorKind.PathNotFound, absolutePath,
                $"Block device '{absolutePath}' ({major}:{minor}) is mounted only where another mount hides it ('{mounts[0].MountPoint}'). Unmount what is on top, or bind-mount it somewhere visible and name that path.");
        }

        /// <summary>
        /// The mounts of a block device, in mount order. btrfs shows an anonymous device (0:N) in mountinfo, not the
        /// block device it lives on: then the mounts whose source is a device node with this device number.
        /// </summary>
        private static List<MountEntry> MountsOfDevice(MountTable table, uint major, uint minor)
        {
            var byNumber = new List<MountEntry>();
            var bySource = new List<MountEntry>();
            foreach (var e in table.Entries)
            {
                if (e.Major == major && e.Minor == minor) byNumber.Add(e);
                else if (e.Source.StartsWith("/", StringComparison.Ordinal) && IsBlockDevice(e.Source, major, minor))
                {
                    bySource.Add(e);
                }
            }
            return byNumber.Count > 0 ? byNumber : bySource;
        }

        /// <summary>
        /// Dedupes by superblock (two paths or a bind mount of one filesystem make one member) and puts the set in freeze
        /// order, in waves: a member that another must precede goes in a later wave. Two orders matter. A nested mount
        /// before its parent: the reverse of mount order, like the QEMU guest agent. And, with a mount table, a loop
        /// filesystem before the member holding its image: frozen first, the host would hold the loop filesystem's own
        /// FIFREEZE forever (its flush writes to the image). Members of one wave are independent and freeze side by side
        /// (<see cref="FreezeSet"/>); within a wave the order is deeper mount points first, then the later mount. The list
        /// returned is in wave order, so freezing it one by one is a valid order too. Thaw goes the other way.
        /// </summary>
        /// <param name="table">when given, loop filesystems and the members holding their images are ordered.</param>
        /// <param name="backingFile">the backing file of a mount source (tests substitute it); default: sysfs.</param>
        public static IReadOnlyList<Filesystem> Plan(IEnumerable<Filesystem> resolved, MountTable? table = null,
            Func<string, string?>? backingFile = null)
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
            var sorted = order.ConvertAll(o => o.fs);

            var loopEdges = table == null ? new List<(int, int)>() : LoopEdges(sorted, table, backingFile ?? LoopDevice.BackingFile);
            var nestedEdges = NestedEdges(sorted);
            // Both orders at once; if they contradict each other (a loop filesystem mounted above the member holding its
            // image: only contrived setups do that), the loop order wins: it is the one the kernel enforces.
            var waves = Waves(sorted.Count, loopEdges.Concat(nestedEdges))
                ?? Waves(sorted.Count, loopEdges)
                ?? Enumerable.Range(0, sorted.Count).ToArray(); // a cycle of images: one member a wave, in depth order
            for (int i = 0; i < sorted.Count; i++) sorted[i].Wave = waves[i];
            var planned = Enumerable.Range(0, sorted.Count).OrderBy(i => waves[i]).ThenBy(i => i).Select(i => sorted[i]).ToList();
            return planned;
        }

        /// <summary>(before, after): each loop filesystem of the set before the member that holds its image.</summary>
        private static List<(int Before, int After)> LoopEdges(List<Filesystem> members, MountTable table, Func<string, string?> backingFile)
        {
            var index = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < members.Count; i++) index[members[i].Device] = i;
            var edges = new List<(int, int)>();
            for (int i = 0; i < members.Count; i++)
            {
                var image = backingFile(members[i].Source);
                var host = image == null ? null : table.FindByPath(image);
                if (host == null || host.Device == members[i].Device || !index.TryGetValue(host.Device, out var h)) continue;
                edges.Add((i, h));
            }
            return edges;
        }

        /// <summary>(before, after): each member mounted below another member's mount point before that member.</summary>
        private static List<(int Before, int After)> NestedEdges(List<Filesystem> members)
        {
            var edges = new List<(int, int)>();
            for (int i = 0; i < members.Count; i++)
            {
                for (int j = 0; j < members.Count; j++)
                {
                    if (i != j && IsBelow(members[i].MountPoint, members[j].MountPoint)) edges.Add((i, j));
                }
            }
            return edges;
        }

        /// <summary>True when <paramref name="path"/> is strictly below the mount point <paramref name="parent"/>.</summary>
        internal static bool IsBelow(string path, string parent)
        {
            if (path == parent) return false;
            if (parent == "/") return path.StartsWith("/", StringComparison.Ordinal);
            return path.Length > parent.Length && path[parent.Length] == '/' && path.StartsWith(parent, StringComparison.Ordinal);
        }

        /// <summary>
        /// Longest-path layering of a dependency graph: a node's wave is one more than the highest wave of the nodes that
        /// must precede it, 0 for a node with none. Null when the edges have a cycle.
        /// </summary>
        internal static int[]? Waves(int count, IEnumerable<(int Before, int After)> edges)
        {
            var next = new List<int>[count];
            var pending = new int[count];
            for (int i = 0; i < count; i++) next[i] = new List<int>();
            foreach (var (before, after) in edges.Distinct())
            {
                next[before].Add(after);
                pending[after]++;
            }
            var wave = new int[count];
            var ready = new Queue<int>();
            for (int i = 0; i < count; i++) if (pending[i] == 0) ready.Enqueue(i);
            int done = 0;
            while (ready.Count > 0)
            {
                int n = ready.Dequeue();
                done++;
                foreach (var m in next[n])
                {
                    wave[m] = Math.Max(wave[m], wave[n] + 1);
                    if (--pending[m] == 0) ready.Enqueue(m);
                }
            }
            return done == count ? wave : null;
        }

        private static bool IsBlockDevice(string path, uint major, uint minor)
        {
            try
            {
                var st = StatX.NoFollow(path);
                if (st is not StatX.Info i) return false;
                if (i.IsSymlink) st = StatX.NoFollow(RealPath.Resolve(path));
                return st is StatX.Info b && b.IsBlockDevice && b.RdevMajor == major && b.RdevMinor == minor;
            }
            catch (NativeException) { return false; }
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
