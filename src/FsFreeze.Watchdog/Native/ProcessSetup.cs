using System.IO;
using System.Runtime.InteropServices;

namespace FsFreeze.Watchdog.Native
{
    /// <summary>What makes the watchdog outlive and ignore whatever happens to the process that started it.</summary>
    internal static class ProcessSetup
    {
        private const int O_RDWR = 2, O_CLOEXEC = 0x80000;

        [DllImport("libc", EntryPoint = "setsid", SetLastError = true)]
        private static extern int setsid();

        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", EntryPoint = "dup2", SetLastError = true)]
        private static extern int dup2(int from, int to);

        [DllImport("libc", EntryPoint = "close")]
        private static extern int close(int fd);

        [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
        private static extern int fcntl(int fd, int command, int argument);

        private const int F_GETFD = 1, FD_CLOEXEC = 1;

        /// <summary>
        /// Closes every descriptor above 2 that survived exec: those are exactly the caller's leaks (a descriptor the
        /// runtime opens for itself is close-on-exec, and inherited ones are not, or exec would have closed them).
        /// </summary>
        public static void CloseInherited()
        {
            string[] entries;
            try { entries = Directory.GetFileSystemEntries("/proc/self/fd"); }
            catch (IOException) { return; }
            catch (System.UnauthorizedAccessException) { return; }
            foreach (var entry in entries)
            {
                if (!int.TryParse(Path.GetFileName(entry), out int fd) || fd <= 2) continue;
                int flags = fcntl(fd, F_GETFD, 0);
                if (flags >= 0 && (flags & FD_CLOEXEC) == 0) close(fd);
            }
        }

        /// <summary>
        /// Own session and process group: the freezer's Ctrl+C, its terminal hanging up, or a kill of its
        /// process group does not reach us. Fails only if we already lead a group (never, as a fresh child).
        /// </summary>
        public static bool NewSession() => setsid() >= 0;

        /// <summary>The OOM killer must not pick the one process that will thaw (-1000 = never).</summary>
        public static bool ShieldFromOomKiller()
        {
            try
            {
                File.WriteAllText("/proc/self/oom_score_adj", "-1000");
                return true;
            }
            catch (IOException) { return false; }
            catch (System.UnauthorizedAccessException) { return false; }
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
