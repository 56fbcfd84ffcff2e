using System;
using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>FIFREEZE and FITHAW. Mono.Posix has no ioctl, so this is a raw libc import.</summary>
    public static class FreezeIoctl
    {
        // _IOWR('X', 119, int) and _IOWR('X', 120, int): larger than int.MaxValue, so the request is unsigned long.
        public const ulong FIFREEZE = 0xC0045877;
        public const ulong FITHAW = 0xC0045878;

        [DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
        private static extern int ioctl(int fd, ulong request, IntPtr argument);

        /// <summary>Freezes the filesystem holding <paramref name="fd"/>. The argument is ignored by the kernel: 0.</summary>
        public static void Freeze(FileDescriptorHandle fd, string path) => Call(fd, FIFREEZE, NativeOperation.Freeze, path);

        public static void Thaw(FileDescriptorHandle fd, string path) => Call(fd, FITHAW, NativeOperation.Thaw, path);

        private static void Call(FileDescriptorHandle fd, ulong request, NativeOperation operation, string path)
        {
            bool added = false;
            try
            {
                fd.DangerousAddRef(ref added);
                int rc;
                Errno errno;
                // FIFREEZE may sleep in the kernel; a signal would surface as EINTR, so retry.
                do
                {
                    rc = ioctl(fd.Fd, request, IntPtr.Zero);
                    errno = rc < 0 ? NativeError.LastErrno() : 0;
                }
                while (rc < 0 && errno == Errno.EINTR);
                if (rc < 0)
                {
                    throw NativeError.FromErrno(errno, operation, path);
                }
            }
            finally
            {
                if (added) fd.DangerousRelease();
            }
        }
    }
}
