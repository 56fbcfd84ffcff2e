using System;
using System.Collections.Generic;

namespace FsFreeze
{
    /// <summary>Why a filesystem type can or cannot be frozen, for people and for the code that chooses members.</summary>
    public enum FilesystemClass
    {
        /// <summary>Known to freeze (ext2/3/4, XFS, btrfs, f2fs, ...).</summary>
        Freezable,
        /// <summary>Not on any list: FIFREEZE decides (a block filesystem we have not heard of may well support it).</summary>
        Unknown,
        /// <summary>tmpfs, ramfs: memory only, nothing to make consistent; the kernel refuses (EOPNOTSUPP).</summary>
        Memory,
        /// <summary>Views of kernel state (proc, sysfs, cgroup, ...): no storage.</summary>
        Pseudo,
        /// <summary>nfs, cifs, ...: the storage is another host's; freeze it there.</summary>
        Network,
        /// <summary>FUSE: the kernel cannot freeze a userspace filesystem.</summary>
        Fuse,
        /// <summary>overlay and other unions: freeze the filesystems below them.</summary>
        Overlay,
        /// <summary>A disk filesystem whose kernel driver has no freeze support (vfat, exfat, iso9660, squashfs, ...).</summary>
        NoFreezeSupport,
    }

    /// <summary>
    /// The one list of filesystem types and whether FIFREEZE works on them (measured on Linux 6.18, FACTS.md).
    /// The completer, the error messages, the state directory's placement and discovery all ask here.
    /// </summary>
    public static class FilesystemTypes
    {
        private static readonly Dictionary<string, FilesystemClass> Known = Build();

        private static Dictionary<string, FilesystemClass> Build()
        {
            var d = new Dictionary<string, FilesystemClass>(StringComparer.Ordinal);
            void Add(FilesystemClass c, params string[] types) { foreach (var t in types) d[t] = c; }
            Add(FilesystemClass.Freezable, "ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "jfs", "reiserfs", "nilfs2", "gfs2", "ocfs2", "bcachefs");
            Add(FilesystemClass.Memory, "tmpfs", "ramfs");
            Add(FilesystemClass.Pseudo, "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "securityfs", "debugfs", "tracefs",
                "pstore", "bpf", "mqueue", "hugetlbfs", "configfs", "fusectl", "binfmt_misc", "autofs", "efivarfs", "nsfs",
                "selinuxfs", "rpc_pipefs", "nfsd");
            Add(FilesystemClass.Network, "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "9p", "afs", "lustre", "virtiofs", "davfs");
            Add(FilesystemClass.Overlay, "overlay", "aufs", "unionfs");
            Add(FilesystemClass.Fuse, "fuse", "fuseblk");
            Add(FilesystemClass.NoFreezeSupport, "vfat", "msdos", "exfat", "iso9660", "squashfs", "udf", "erofs", "cramfs", "romfs", "ntfs3");
            return d;
        }

        public static FilesystemClass Classify(string type)
        {
            if (Known.TryGetValue(type, out var c)) return c;
            return type.StartsWith("fuse.", StringComparison.Ordinal) ? FilesystemClass.Fuse : FilesystemClass.Unknown;
        }

        /// <summary>Worth offering and trying: known to freeze, or not known not to.</summary>
        public static bool MayFreeze(string type) => Classify(type) is FilesystemClass.Freezable or FilesystemClass.Unknown;

        /// <summary>A filesystem no freeze can ever hold: a write to it never waits on a freeze (where FsFreeze keeps its state).</summary>
        public static bool IsNeverFrozen(string type) => Classify(type) == FilesystemClass.Memory;

        /// <summary>Why a type cannot be frozen, in words an admin acts on; null when it may be.</summary>
        public static string? WhyNot(string type) => Classify(type) switch
        {
            FilesystemClass.Memory => $"{type} lives in memory only: there is nothing on disk to make consistent",
            FilesystemClass.Pseudo => $"{type} is a view of kernel state, not storage",
            FilesystemClass.Network => $"{type} is a network filesystem: its storage belongs to the server, freeze it there",
            FilesystemClass.Fuse => $"{type} is a FUSE filesystem, which the kernel cannot freeze: freeze the filesystem holding its data",
            FilesystemClass.Overlay => $"{type} is a union of other filesystems: freeze the filesystems below it",
            FilesystemClass.NoFreezeSupport => $"the kernel's {type} driver has no freeze support",
            _ => null,
        };
    }
}
