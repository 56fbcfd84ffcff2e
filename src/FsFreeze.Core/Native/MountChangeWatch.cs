using System;

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
                Span<Poll.Fd> fds = stackalloc Poll.Fd[1];
                fds[0] = new Poll.Fd { Descriptor = _fd.Fd, Events = Poll.POLLPRI };
                if (Poll.Wait(fds, 0) < 0) return true;
                return (fds[0].Returned & (Poll.POLLPRI | Poll.POLLERR | Poll.POLLNVAL)) != 0;
            }
            finally
            {
                if (added) _fd.DangerousRelease();
            }
        }

        public void Dispose() => _fd.Dispose();
    }
}
