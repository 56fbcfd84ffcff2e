using System.Runtime.InteropServices;

namespace FsFreeze.Native
{
    /// <summary>mount(2) of a small tmpfs: FsFreeze's state must live where no freeze can ever hold a write.</summary>
    internal static class MountTmpfs
    {
        private const ulong MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8;

        [DllImport("libc", EntryPoint = "mount", SetLastError = true)]
        private static extern int mount(string source, string target, string type, ulong flags, string data);

        public static void On(string directory)
        {
            if (mount("fsfreeze", directory, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=16m,nr_inodes=4096") != 0)
            {
                throw NativeError.FromErrno(NativeError.LastErrno(), NativeOperation.Open, directory);
            }
        }
    }
}
