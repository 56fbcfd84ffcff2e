using System;
using System.Runtime.InteropServices;

namespace FsFreeze.Native
{
    /// <summary>
    /// FS_IOC_GETFSUUID (Linux 6.5+): the UUID of the filesystem instance behind a descriptor. A device number
    /// is reused (a loop device gets a new filesystem every test), a filesystem's UUID is not: records of past
    /// freezes are matched by both. It reads the superblock in memory and writes nothing, also when frozen.
    /// </summary>
    internal static class FsUuid
    {
        // _IOR(0x15, 0, struct fsuuid2 { __u8 len; __u8 uuid[16]; })
        private const ulong FS_IOC_GETFSUUID = 0x80111500;

        [DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
        private static extern unsafe int ioctl(int fd, ulong request, byte* argument);

        /// <summary>The UUID as hex, or "" where the kernel or the filesystem type has none to give.</summary>
        public static unsafe string Of(string path)
        {
            try
            {
                using var fd = FileDescriptorHandle.OpenReadOnly(path);
                byte* buffer = stackalloc byte[17];
                bool added = false;
                try
                {
                    fd.DangerousAddRef(ref added);
                    if (ioctl(fd.Fd, FS_IOC_GETFSUUID, buffer) != 0) return "";
                }
                finally
                {
                    if (added) fd.DangerousRelease();
                }
                int length = Math.Min((int)buffer[0], 16);
                var hex = new System.Text.StringBuilder(length * 2);
                for (int i = 1; i <= length; i++) hex.Append(buffer[i].ToString("x2"));
                return hex.ToString();
            }
            catch (NativeException)
            {
                return "";
            }
        }
    }
}
