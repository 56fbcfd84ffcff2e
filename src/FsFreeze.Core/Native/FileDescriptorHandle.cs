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
        private const int O_RDONLY = 0x0, O_NOCTTY = 0x100, O_NONBLOCK = 0x800, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000, O_PATH = 0x200000;

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
        public static FileDescriptorHandle OpenReadOnly(string path) => Open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

        /// <summary>
        /// O_PATH: names a file without opening it for I/O (no side effect on a device, FIFO or tty), enough for
        /// statx to say which mount it is on. FIFREEZE needs a real open (O_PATH gives EBADF).
        /// </summary>
        public static FileDescriptorHandle OpenLocation(string path) => Open(path, O_PATH | O_CLOEXEC);

        /// <summary>Read-only, refusing a final symlink; a FIFO does not block the open (the caller checks the type).</summary>
        public static FileDescriptorHandle OpenNoFollow(string path) => Open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);

        private static FileDescriptorHandle Open(string path, int flags)
        {
            int fd;
            Errno errno;
            do
            {
                fd = open(path, flags);
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

        [DllImport("libc", EntryPoint = "read", SetLastError = true)]
        private static extern unsafe nint read(int fd, byte* buffer, nuint count);

        /// <summary>Reads to the end, at most <paramref name="max"/> bytes (more is an error: small state files only).</summary>
        public unsafe byte[] ReadAll(int max, string pathForErrors)
        {
            var buffer = new byte[max + 1];
            int got = 0;
            bool added = false;
            try
            {
                DangerousAddRef(ref added);
                fixed (byte* p = buffer)
                {
                    while (got < buffer.Length)
                    {
                        long n = read(Fd, p + got, (nuint)(buffer.Length - got));
                        if (n == 0) break;
                        if (n < 0)
                        {
                            var errno = NativeError.LastErrno();
                            if (errno == Errno.EINTR) continue;
                            throw NativeError.FromErrno(errno, NativeOperation.Open, pathForErrors);
                        }
                        got += (int)n;
                    }
                }
            }
            finally
            {
                if (added) DangerousRelease();
            }
            if (got > max) throw NativeError.FromErrno(Errno.EFBIG, NativeOperation.Open, pathForErrors);
            Array.Resize(ref buffer, got);
            return buffer;
        }

        protected override bool ReleaseHandle() => close(handle.ToInt32()) == 0;
    }
}
