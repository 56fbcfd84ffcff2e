using System;
using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>
    /// An open file descriptor, closed exactly once. open/close are raw libc imports, not Mono.Posix:
    /// under NativeAOT (the watchdog) Mono.Posix's errno read back 0 ("Success") for a failed open, and it
    /// needs libMonoPosixHelper.so found at run time. A process that holds freezes must not depend on either.
    /// </summary>
    public sealed class FileDescriptorHandle : SafeHandle
    {
        // Linux x86-64 / aarch64 values (asm-generic/fcntl.h).
        private const int O_RDONLY = 0x0, O_NOCTTY = 0x100, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;

        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        private static extern int open(string path, int flags);

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        private static extern int close(int fd);

        private FileDescriptorHandle() : base(new IntPtr(-1), ownsHandle: true) { }

        public override bool IsInvalid => handle.ToInt64() < 0;

        public int Fd => handle.ToInt32();

        /// <summary>
        /// Opens a path read-only, the way FIFREEZE wants it (O_PATH gives EBADF).
        /// O_NONBLOCK keeps a FIFO from blocking the open; O_NOCTTY keeps a tty from becoming ours.
        /// </summary>
        public static FileDescriptorHandle OpenReadOnly(string path)
        {
            int fd;
            Errno errno;
            do
            {
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
                errno = fd < 0 ? NativeError.LastErrno() : 0;
            }
            while (fd < 0 && errno == Errno.EINTR);
            if (fd < 0)
            {
                throw NativeError.FromErrno(errno, NativeOperation.Open, path);
            }
            var h = new FileDescriptorHandle();
            h.SetHandle(new IntPtr(fd));
            return h;
        }

        protected override bool ReleaseHandle() => close(handle.ToInt32()) == 0;
    }
}
