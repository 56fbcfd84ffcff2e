using System;
using System.Runtime.InteropServices;
using System.Text;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>
    /// One request and one reply over a Unix stream socket, with libc calls: netstandard2.0 has no
    /// UnixDomainSocketEndPoint. Bounded by a send/receive timeout so a stuck peer cannot hang the caller.
    /// </summary>
    public static class UnixSocketClient
    {
        private const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;
        private const int SOL_SOCKET = 1, SO_RCVTIMEO = 20, SO_SNDTIMEO = 21, SHUT_WR = 1;
        private const int SunPathLength = 108;

        [DllImport("libc", EntryPoint = "socket", SetLastError = true)]
        private static extern int socket(int domain, int type, int protocol);

        [DllImport("libc", EntryPoint = "connect", SetLastError = true)]
        private static extern unsafe int connect(int fd, byte* address, uint length);

        [DllImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
        private static extern unsafe int setsockopt(int fd, int level, int name, long* value, uint length);

        [DllImport("libc", EntryPoint = "write", SetLastError = true)]
        private static extern unsafe IntPtr write(int fd, byte* buffer, UIntPtr count);

        [DllImport("libc", EntryPoint = "read", SetLastError = true)]
        private static extern unsafe IntPtr read(int fd, byte* buffer, UIntPtr count);

        [DllImport("libc", EntryPoint = "shutdown", SetLastError = true)]
        private static extern int shutdown(int fd, int how);

        [DllImport("libc", EntryPoint = "close")]
        private static extern int close(int fd);

        /// <summary>Sends one line, then reads the whole reply (the peer closes when done).</summary>
        public static unsafe string Request(string socketPath, string line, int timeoutMs)
        {
            var path = Encoding.UTF8.GetBytes(socketPath);
            if (path.Length >= SunPathLength) throw new ArgumentException($"Socket path too long: '{socketPath}'.");
            int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) throw NativeError.FromErrno(NativeError.LastErrno(), NativeOperation.Connect, socketPath);
            try
            {
                long* tv = stackalloc long[2];
                tv[0] = timeoutMs / 1000;
                tv[1] = (timeoutMs % 1000) * 1000;
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv, 16);

                byte* address = stackalloc byte[2 + SunPathLength];
                for (int i = 0; i < 2 + SunPathLength; i++) address[i] = 0;
                *(ushort*)address = AF_UNIX;
                for (int i = 0; i < path.Length; i++) address[2 + i] = path[i];
                if (connect(fd, address, (uint)(2 + path.Length + 1)) != 0)
                {
                    throw NativeError.FromErrno(NativeError.LastErrno(), NativeOperation.Connect, socketPath);
                }

                var request = Encoding.UTF8.GetBytes(line + "\n");
                fixed (byte* p = request)
                {
                    int sent = 0;
                    while (sent < request.Length)
                    {
                        long n = (long)write(fd, p + sent, (UIntPtr)(request.Length - sent));
                        if (n < 0)
                        {
                            var errno = NativeError.LastErrno();
                            if (errno == Errno.EINTR) continue;
                            throw NativeError.FromErrno(errno, NativeOperation.Connect, socketPath);
                        }
                        sent += (int)n;
                    }
                }
                shutdown(fd, SHUT_WR);

                var reply = new System.IO.MemoryStream();
                byte* chunk = stackalloc byte[4096];
                while (true)
                {
                    long n = (long)read(fd, chunk, (UIntPtr)4096);
                    if (n == 0) break;
                    if (n < 0)
                    {
                        var errno = NativeError.LastErrno();
                        if (errno == Errno.EINTR) continue;
                        throw NativeError.FromErrno(errno, NativeOperation.Connect, socketPath); // EAGAIN: timed out
                    }
                    for (int i = 0; i < n; i++) reply.WriteByte(chunk[i]);
                }
                return Encoding.UTF8.GetString(reply.ToArray());
            }
            finally
            {
                close(fd);
            }
        }
    }
}
