using System;
using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>poll(2) as a raw libc import (Mono.Posix's needs its native helper, which the NativeAOT watchdog never loads).</summary>
    public static class Poll
    {
        public const short POLLIN = 0x1, POLLPRI = 0x2, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;

        [StructLayout(LayoutKind.Sequential)]
        public struct Fd
        {
            public int Descriptor;
            public short Events;
            public short Returned;
        }

        [DllImport("libc", EntryPoint = "poll", SetLastError = true)]
        private static extern unsafe int poll(Fd* fds, ulong count, int timeoutMs);

        /// <summary>Waits until one of the descriptors is ready or the time is up (-1: no limit). Returns how many are ready; -1 with errno on failure. EINTR is retried with the same timeout.</summary>
        public static unsafe int Wait(Span<Fd> fds, int timeoutMs)
        {
            int rc;
            fixed (Fd* p = fds)
            {
                do { rc = poll(p, (ulong)fds.Length, timeoutMs); }
                while (rc < 0 && NativeError.LastErrno() == Errno.EINTR);
            }
            return rc;
        }
    }
}
