using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>
    /// statx(2). Its struct has one layout on every architecture (unlike struct stat), so a raw import reads it
    /// safely, also in the NativeAOT watchdog. On a descriptor it tells which mount the descriptor really opened
    /// (STATX_MNT_ID): the one fact a path cannot change after the open.
    /// </summary>
    internal static class StatX
    {
        private const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_EMPTY_PATH = 0x1000;
        private const uint STATX_BASIC_STATS = 0x7ff, STATX_MNT_ID = 0x1000;
        public const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFSOCK = 0xC000, S_IFBLK = 0x6000, S_IFREG = 0x8000, S_IFLNK = 0xA000;

        [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
        private static extern unsafe int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

        public readonly struct Info
        {
            public Info(uint mode, uint uid, uint devMajor, uint devMinor, uint rdevMajor, uint rdevMinor, long? mountId, ulong size)
            {
                Mode = mode; Uid = uid; DevMajor = devMajor; DevMinor = devMinor;
                RdevMajor = rdevMajor; RdevMinor = rdevMinor; MountId = mountId; Size = size;
            }
            public uint Mode { get; }
            public uint Uid { get; }
            public uint DevMajor { get; }
            public uint DevMinor { get; }
            public uint RdevMajor { get; }
            public uint RdevMinor { get; }
            /// <summary>The mount id (mountinfo's first field); null on kernels before 5.8.</summary>
            public long? MountId { get; }
            public ulong Size { get; }
            /// <summary>Last modification, seconds since the epoch (stx_mtime.tv_sec).</summary>
            public long ModifiedUnixSeconds { get; init; }
            public uint Type => Mode & S_IFMT;
            public bool IsDirectory => Type == S_IFDIR;
            public bool IsRegularFile => Type == S_IFREG;
            public bool IsBlockDevice => Type == S_IFBLK;
            public bool IsSymlink => Type == S_IFLNK;
        }

        /// <summary>lstat-like: a symlink is reported as itself. Null when the path does not exist.</summary>
        public static unsafe Info? NoFollow(string path)
        {
            byte* buffer = stackalloc byte[256];
            if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_MNT_ID, buffer) != 0)
            {
                var errno = NativeError.LastErrno();
                if (errno == Errno.ENOENT) return null;
                throw NativeError.FromErrno(errno, NativeOperation.Stat, path);
            }
            return Read(buffer);
        }

        /// <summary>What a descriptor refers to (also an O_PATH one), without any path lookup.</summary>
        public static unsafe Info Of(FileDescriptorHandle fd, string pathForErrors)
        {
            byte* buffer = stackalloc byte[256];
            bool added = false;
            try
            {
                fd.DangerousAddRef(ref added);
                if (statx(fd.Fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_MNT_ID, buffer) != 0)
                {
                    throw NativeError.FromErrno(NativeError.LastErrno(), NativeOperation.Stat, pathForErrors);
                }
            }
            finally
            {
                if (added) fd.DangerousRelease();
            }
            return Read(buffer);
        }

        // Offsets from linux/stat.h struct statx.
        private static unsafe Info Read(byte* b)
        {
            uint mask = *(uint*)b;
            return new Info(*(ushort*)(b + 28), *(uint*)(b + 20), *(uint*)(b + 136), *(uint*)(b + 140),
                *(uint*)(b + 128), *(uint*)(b + 132), (mask & STATX_MNT_ID) != 0 ? (long)*(ulong*)(b + 144) : null, *(ulong*)(b + 40))
            {
                ModifiedUnixSeconds = *(long*)(b + 112),
            };
        }
    }
}
