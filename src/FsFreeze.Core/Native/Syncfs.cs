using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>syncfs(2), which Mono.Posix lacks: flushes one filesystem while its writers can still run.</summary>
    public static class Syncfs
    {
        [DllImport("libc", EntryPoint = "syncfs", SetLastError = true)]
        private static extern int syncfs(int fd);

        public static void Flush(FileDescriptorHandle fd, string path)
        {
            bool added = false;
            try
            {
                fd.DangerousAddRef(ref added);
                if (syncfs(fd.Fd) < 0)
                {
                    throw NativeError.FromErrno(NativeError.LastErrno(), NativeOperation.Flush, path);
                }
            }
            finally
            {
                if (added) fd.DangerousRelease();
            }
        }
    }
}
