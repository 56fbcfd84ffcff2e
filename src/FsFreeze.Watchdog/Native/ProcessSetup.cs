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

        [DllImport("libc", EntryPoint = "getpid")]
        public static extern int GetPid();

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
