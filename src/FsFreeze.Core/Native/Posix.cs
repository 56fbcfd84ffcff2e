using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>Small libc calls the state directory and the process checks need.</summary>
    internal static class Posix
    {
        [DllImport("libc", EntryPoint = "mkdir", SetLastError = true)]
        private static extern int mkdir(string path, uint mode);

        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static extern int kill(int pid, int signal);

        [DllImport("libc", EntryPoint = "geteuid")]
        public static extern uint GetEffectiveUid();

        /// <summary>
        /// CAP_SYS_ADMIN in this process's effective set (/proc/self/status CapEff, bit 21): what FIFREEZE checks
        /// first. A uid 0 with its capabilities dropped lacks it; a user namespace's "root" has it only there, and the
        /// ioctls still say EPERM (FACTS.md), which is then reported as PermissionDenied all the same.
        /// </summary>
        public static bool HasSysAdmin()
        {
            // Once seen it stays: a process gains it only by exec, and one that drops it later gets EPERM from the ioctls
            // themselves (reported as PermissionDenied all the same). Each thaw asked this: a /proc read saved per call.
            if (_sysAdmin) return true;
            return _sysAdmin = ReadSysAdmin();
        }

        private static volatile bool _sysAdmin;

        private static bool ReadSysAdmin()
        {
            try
            {
                foreach (var line in System.IO.File.ReadLines("/proc/self/status"))
                {
                    if (!line.StartsWith("CapEff:", System.StringComparison.Ordinal)) continue;
                    var caps = ulong.Parse(line.Substring(7).Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
                    return (caps & (1UL << 21)) != 0;
                }
            }
            catch (System.Exception e) when (e is System.IO.IOException || e is System.FormatException) { }
            return GetEffectiveUid() == 0;
        }

        /// <summary>mkdir; false when it already exists.</summary>
        public static bool MakeDirectory(string path, uint mode)
        {
            if (mkdir(path, mode) == 0) return true;
            var errno = NativeError.LastErrno();
            if (errno == Errno.EEXIST) return false;
            throw NativeError.FromErrno(errno, NativeOperation.Open, path);
        }

        /// <summary>Sends a signal; false when the process does not exist.</summary>
        public static bool Signal(int pid, int signal) => pid > 0 && kill(pid, signal) == 0;
    }
}
