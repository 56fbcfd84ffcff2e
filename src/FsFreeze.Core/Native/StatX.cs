using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>
    /// statx(2) without following a final symlink. Its struct has one layout on every architecture (unlike
    /// struct stat), so a raw import reads it safely, also in the NativeAOT watchdog.
    /// </summary>
    public static class StatX
    {
        private const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, STATX_BASIC_STATS = 0x7ff;
        public const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFSOCK = 0xC000;

        [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
        private static extern unsafe int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

        public readonly struct Info
        {
            public Info(uint mode, uint uid, uint devMajor, uint devMinor) { Mode = mode; Uid = uid; DevMajor = devMajor; DevMinor = devMinor; }
            public uint Mode { get; }
            public uint Uid { get; }
            public uint DevMajor { get; }
            public uint DevMinor { get; }
            public bool IsDirectory => (Mode & S_IFMT) == S_IFDIR;
        }

        /// <summary>lstat-like: a symlink is reported as itself. Null when the path does not exist.</summary>
        public static unsafe Info? NoFollow(string path)
        {
            byte* buffer = stackalloc byte[256];
            if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buffer) != 0)
            {
                var errno = NativeError.LastErrno();
                if (errno == Errno.ENOENT) return null;
                throw NativeError.FromErrno(errno, NativeOperation.Stat, path);
            }
            // Offsets from linux/stat.h struct statx.
            uint uid = *(uint*)(buffer + 20);
            uint mode = *(ushort*)(buffer + 28);
            uint devMajor = *(uint*)(buffer + 136);
            uint devMinor = *(uint*)(buffer + 140);
            return new Info(mode, uid, devMajor, devMinor);
        }
    }
}
