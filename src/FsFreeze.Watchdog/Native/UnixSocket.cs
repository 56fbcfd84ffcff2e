using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using FsFreeze.Native;
using Mono.Unix.Native;

namespace FsFreeze.Watchdog.Native
{
    /// <summary>
    /// The watchdog's abstract Unix socket, by raw system calls: .NET's Socket class sets itself up at first use (it probes
    /// the address families it may need), which cost the watchdog about a millisecond of CPU at every start, for a socket
    /// that only ever listens on one abstract name and answers one line. Every call here is bounded by poll timeouts.
    /// </summary>
    internal sealed class UnixSocket : IDisposable
    {
        private const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, SOCK_NONBLOCK = 0x800;
        private const int SOL_SOCKET = 1, SO_PEERCRED = 17, MSG_NOSIGNAL = 0x4000;

        [DllImport("libc", EntryPoint = "socket", SetLastError = true)] private static extern int socket(int domain, int type, int protocol);
        [DllImport("libc", EntryPoint = "bind", SetLastError = true)] private static extern unsafe int bind(int fd, byte* address, uint length);
        [DllImport("libc", EntryPoint = "listen", SetLastError = true)] private static extern int listen(int fd, int backlog);
        [DllImport("libc", EntryPoint = "accept4", SetLastError = true)] private static extern int accept4(int fd, IntPtr address, IntPtr length, int flags);
        [DllImport("libc", EntryPoint = "getsockopt", SetLastError = true)] private static extern unsafe int getsockopt(int fd, int level, int name, byte* value, uint* length);
        [DllImport("libc", EntryPoint = "recv", SetLastError = true)] private static extern unsafe nint recv(int fd, byte* buffer, nuint length, int flags);
        [DllImport("libc", EntryPoint = "send", SetLastError = true)] private static extern unsafe nint send(int fd, byte* buffer, nuint length, int flags);
        [DllImport("libc", EntryPoint = "close")] private static extern int close(int fd);

        private int _fd;

        private UnixSocket(int fd) => _fd = fd;

        public int Fd => _fd;

        /// <summary>An unbound stream socket (made ahead, while the request is on its way).</summary>
        public static UnixSocket Create()
        {
            int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) throw new IOException($"socket: {NativeError.Describe(NativeError.LastErrno())}");
            return new UnixSocket(fd);
        }

        /// <summary>Binds the abstract name (given with its leading NUL, as WatchdogProtocol.SocketName makes it) and listens.</summary>
        public unsafe void Listen(string abstractName, int backlog)
        {
            var name = Encoding.UTF8.GetBytes(abstractName);
            if (name.Length > 107) throw new IOException("The socket name is too long.");
            byte* address = stackalloc byte[110];
            *(ushort*)address = AF_UNIX;
            for (int i = 0; i < name.Length; i++) address[2 + i] = name[i];
            // An abstract address's length counts its bytes exactly: no terminating NUL.
            if (bind(_fd, address, (uint)(2 + name.Length)) != 0) throw new IOException($"bind: {NativeError.Describe(NativeError.LastErrno())}");
            if (listen(_fd, backlog) != 0) throw new IOException($"listen: {NativeError.Describe(NativeError.LastErrno())}");
        }

        /// <summary>A waiting connection (non-blocking, close-on-exec), or null when there is none after all.</summary>
        public UnixSocket? Accept()
        {
            int fd = accept4(_fd, IntPtr.Zero, IntPtr.Zero, SOCK_CLOEXEC | SOCK_NONBLOCK);
            return fd < 0 ? null : new UnixSocket(fd);
        }

        /// <summary>SO_PEERCRED: the peer as the kernel saw it when it connected.</summary>
        public unsafe (int Pid, uint Uid) Peer()
        {
            byte* cred = stackalloc byte[12];
            uint length = 12;
            if (getsockopt(_fd, SOL_SOCKET, SO_PEERCRED, cred, &length) != 0 || length < 12) throw new IOException("SO_PEERCRED failed.");
            return (*(int*)cred, *(uint*)(cred + 4));
        }

        /// <summary>One line (up to '\n' or the peer's end), at most 64 KB, within the time given for the whole of it.</summary>
        public unsafe string ReadLine(int timeoutMs)
        {
            var got = new MemoryStream();
            var buffer = new byte[4096];
            long until = Environment.TickCount64 + timeoutMs;
            Span<Poll.Fd> fds = stackalloc Poll.Fd[1];
            while (got.Length < 65536)
            {
                fds[0] = new Poll.Fd { Descriptor = _fd, Events = Poll.POLLIN };
                int left = (int)Math.Max(0, until - Environment.TickCount64);
                if (Poll.Wait(fds, left) <= 0) throw new IOException("The client sent no whole request in time.");
                nint n;
                fixed (byte* p = buffer) n = recv(_fd, p, (nuint)buffer.Length, 0);
                if (n < 0)
                {
                    var errno = NativeError.LastErrno();
                    if (errno == Errno.EAGAIN || errno == Errno.EINTR) continue;
                    throw new IOException($"recv: {NativeError.Describe(errno)}");
                }
                if (n == 0) break;
                int nl = Array.IndexOf(buffer, (byte)'\n', 0, (int)n);
                got.Write(buffer, 0, nl >= 0 ? nl : (int)n);
                if (nl >= 0) break;
            }
            return Encoding.UTF8.GetString(got.ToArray());
        }

        /// <summary>All of it, within the time given; a peer that went away is not an error of ours (MSG_NOSIGNAL: no SIGPIPE).</summary>
        public unsafe void Send(byte[] bytes, int timeoutMs)
        {
            long until = Environment.TickCount64 + timeoutMs;
            Span<Poll.Fd> fds = stackalloc Poll.Fd[1];
            int done = 0;
            fixed (byte* p = bytes)
            {
                while (done < bytes.Length)
                {
                    nint n = send(_fd, p + done, (nuint)(bytes.Length - done), MSG_NOSIGNAL);
                    if (n >= 0) { done += (int)n; continue; }
                    var errno = NativeError.LastErrno();
                    if (errno == Errno.EINTR) continue;
                    if (errno != Errno.EAGAIN) return;
                    fds[0] = new Poll.Fd { Descriptor = _fd, Events = 0x4 /* POLLOUT */ };
                    if (Poll.Wait(fds, (int)Math.Max(0, until - Environment.TickCount64)) <= 0) return;
                }
            }
        }

        public void Dispose()
        {
            if (_fd >= 0) close(_fd);
            _fd = -1;
        }
    }
}
