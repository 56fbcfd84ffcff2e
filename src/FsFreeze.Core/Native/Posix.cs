using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>Small libc calls the state directory and the process checks need.</summary>
    public static class Posix
    {
        [DllImport("libc", EntryPoint = "mkdir", SetLastError = true)]
        private static extern int mkdir(string path, uint mode);

        [DllImport("libc", EntryPoint = "chmod", SetLastError = true)]
        private static extern int chmod(string path, uint mode);

        [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
        private static extern int rename(string from, string to);

        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static extern int kill(int pid, int signal);

        [DllImport("libc", EntryPoint = "geteuid")]
        public static extern uint GetEffectiveUid();

        /// <summary>mkdir; false when it already exists.</summary>
        public static bool MakeDirectory(string path, uint mode)
        {
            if (mkdir(path, mode) == 0) return true;
            var errno = NativeError.LastErrno();
            if (errno == Errno.EEXIST) return false;
            throw NativeError.FromErrno(errno, NativeOperation.Open, path);
        }

        public static void ChangeMode(string path, uint mode)
        {
            if (chmod(path, mode) != 0) throw NativeError.FromErrno(NativeError.LastErrno(), NativeOperation.Open, path);
        }

        /// <summary>rename(2): replaces the target atomically (netstandard2.0's File.Move cannot overwrite).</summary>
        public static void Rename(string from, string to)
        {
            if (rename(from, to) != 0) throw NativeError.FromErrno(NativeError.LastErrno(), NativeOperation.Open, to);
        }

        /// <summary>Sends a signal; false when the process does not exist.</summary>
        public static bool Signal(int pid, int signal) => pid > 0 && kill(pid, signal) == 0;
    }
}
