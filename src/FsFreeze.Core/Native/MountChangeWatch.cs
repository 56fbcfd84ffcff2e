using System;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>
    /// Tells whether this process's mount table changed since the last look, without reading it. An open
    /// /proc/self/mountinfo polls POLLPRI | POLLERR once after every mount, unmount, move or remount in the
    /// namespace (proc(5)); each poll that reports it also resets it, so every change is seen exactly once.
    /// </summary>
    internal sealed class MountChangeWatch : IDisposable
    {
        private readonly FileDescriptorHandle _fd;
        private readonly Pollfd[] _poll = new Pollfd[1];

        private MountChangeWatch(FileDescriptorHandle fd) => _fd = fd;

        /// <summary>Opens the watch. Changes made before this call are not reported: read the table after opening.</summary>
        public static MountChangeWatch Open(string mountInfoPath) => new MountChangeWatch(FileDescriptorHandle.OpenReadOnly(mountInfoPath));

        /// <summary>True when the table may have changed since Open or the previous call. A failed poll counts as a change: never trust a stale table.</summary>
        public bool Changed()
        {
            bool added = false;
            try
            {
                _fd.DangerousAddRef(ref added);
                _poll[0].fd = _fd.Fd;
                _poll[0].events = PollEvents.POLLPRI;
                _poll[0].revents = 0;
                int rc;
                do { rc = Syscall.poll(_poll, 1, 0); }
                while (rc < 0 && Stdlib.GetLastError() == Errno.EINTR);
                if (rc < 0) return true;
                return (_poll[0].revents & (PollEvents.POLLPRI | PollEvents.POLLERR | PollEvents.POLLNVAL)) != 0;
            }
            finally
            {
                if (added) _fd.DangerousRelease();
            }
        }

        public void Dispose() => _fd.Dispose();
    }
}
