using System;
using System.Net.Sockets;

namespace FsFreeze.Native
{
    /// <summary>
    /// SO_PEERCRED: who is at the other end of a Unix socket, as the kernel saw it at connect/listen time. The
    /// watchdog's socket is an abstract name anyone could bind first: a client believes only a root peer with
    /// the watchdog's pid, and the watchdog serves only root.
    /// </summary>
    internal static class PeerCredentials
    {
        private const int SOL_SOCKET = 1, SO_PEERCRED = 17;

        public static (int Pid, uint Uid) Of(Socket socket)
        {
            Span<byte> cred = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
            int n = socket.GetRawSocketOption(SOL_SOCKET, SO_PEERCRED, cred);
            if (n < 12) throw new SocketException((int)SocketError.ProtocolNotSupported);
            return (BitConverter.ToInt32(cred.Slice(0, 4)), BitConverter.ToUInt32(cred.Slice(4, 4)));
        }
    }
}
