using System;
using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>An open file descriptor, closed exactly once.</summary>
    public sealed class FileDescriptorHandle : SafeHandle
    {
        private FileDescriptorHandle() : base(new IntPtr(-1), ownsHandle: true) { }

        public override bool IsInvalid => handle.ToInt64() < 0;

        public int Fd => handle.ToInt32();

        /// <summary>
        /// Opens a path read-only, the way FIFREEZE wants it (O_PATH gives EBADF).
        /// O_NONBLOCK keeps a FIFO from blocking the open; O_NOCTTY keeps a tty from becoming ours.
        /// </summary>
        public static FileDescriptorHandle OpenReadOnly(string path)
        {
            var flags = OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC | OpenFlags.O_NONBLOCK | OpenFlags.O_NOCTTY;
            int fd;
            do { fd = Syscall.open(path, flags); }
            while (fd < 0 && Stdlib.GetLastError() == Errno.EINTR);
            if (fd < 0)
            {
                throw NativeError.FromErrno(Stdlib.GetLastError(), NativeOperation.Open, path);
            }
            var h = new FileDescriptorHandle();
            h.SetHandle(new IntPtr(fd));
            return h;
        }

        protected override bool ReleaseHandle() => Syscall.close(handle.ToInt32()) == 0;
    }
}
