using System.Runtime.InteropServices;

namespace FsFreeze.Watchdog.Native
{
    /// <summary>What makes the watchdog outlive and ignore whatever happens to the process that started it.</summary>
    internal static class ProcessSetup
    {
        private const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_DIRECTORY = 0x10000, O_CLOEXEC = 0x80000;

        [DllImport("libc", EntryPoint = "setsid", SetLastError = true)]
        private static extern int setsid();

        [DllImport("libc", EntryPoint = "chdir", SetLastError = true)]
        private static extern int chdir([MarshalAs(UnmanagedType.LPUTF8Str)] string path);

        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", EntryPoint = "write", SetLastError = true)]
        private static extern unsafe nint write(int fd, byte* buffer, nuint count);

        [DllImport("libc", EntryPoint = "dup2", SetLastError = true)]
        private static extern int dup2(int from, int to);

        [DllImport("libc", EntryPoint = "close")]
        private static extern int close(int fd);

        [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
        private static extern int fcntl(int fd, int command, int argument);

        [DllImport("libc", EntryPoint = "getdents64", SetLastError = true)]
        private static extern unsafe nint getdents64(int fd, byte* buffer, nuint count);

        private const int F_GETFD = 1, FD_CLOEXEC = 1;

        /// <summary>
        /// Closes every descriptor above 2 that survived exec: those are exactly the caller's leaks (a descriptor the
        /// runtime opens for itself is close-on-exec, and inherited ones are not, or exec would have closed them).
        /// One getdents64 of /proc/self/fd, no per-entry stat.
        /// </summary>
        public static unsafe void CloseInherited()
        {
            int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dir < 0) return;
            var leaked = new System.Collections.Generic.List<int>();
            byte* buffer = stackalloc byte[8192];
            while (true)
            {
                nint n = getdents64(dir, buffer, 8192);
                if (n <= 0) break;
                for (nint offset = 0; offset < n;)
                {
                    // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
                    ushort length = *(ushort*)(buffer + offset + 16);
                    byte* name = buffer + offset + 19;
                    int fd = 0;
                    bool isNumber = *name != 0;
                    for (byte* c = name; *c != 0; c++)
                    {
                        if (*c < (byte)'0' || *c > (byte)'9') { isNumber = false; break; }
                        fd = fd * 10 + (*c - '0');
                    }
                    if (isNumber && fd > 2 && fd != dir) leaked.Add(fd);
                    offset += length;
                }
            }
            close(dir);
            foreach (var fd in leaked)
            {
                int flags = fcntl(fd, F_GETFD, 0);
                if (flags >= 0 && (flags & FD_CLOEXEC) == 0) close(fd);
            }
        }

        /// <summary>
        /// Own session and process group: the freezer's Ctrl+C, its terminal hanging up, or a kill of its
        /// process group does not reach us. Fails only if we already lead a session (FsFreeze spawns it as one).
        /// </summary>
        public static bool NewSession() => setsid() >= 0;

        /// <summary>The working directory may be on a member: it must not pin that mount, nor be anything we depend on.</summary>
        public static void LeaveWorkingDirectory() => chdir("/");

        /// <summary>The OOM killer must not pick the one process that will thaw (-1000 = never).</summary>
        public static unsafe bool ShieldFromOomKiller()
        {
            int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
            if (fd < 0) return false;
            byte* text = stackalloc byte[5] { (byte)'-', (byte)'1', (byte)'0', (byte)'0', (byte)'0' };
            bool ok = write(fd, text, 5) == 5;
            close(fd);
            return ok;
        }

        /// <summary>Points stdin/stdout/stderr at /dev/null once the freezer's pipe is done with.</summary>
        public static void ToDevNull(params int[] fds)
        {
            int devNull = open("/dev/null", O_RDWR | O_CLOEXEC);
            if (devNull < 0) return;
            foreach (var fd in fds) dup2(devNull, fd);
            close(devNull);
        }
    }
}
