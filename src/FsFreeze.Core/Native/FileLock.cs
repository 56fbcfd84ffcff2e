using System;
using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>flock(2) on a lock file: read-modify-write of the state directory by several processes, one at a time.</summary>
    internal sealed class FileLock : IDisposable
    {
        private const int O_RDWR = 2, O_CREAT = 0x40, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000, LOCK_EX = 2;

        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        private static extern int open(string path, int flags, uint mode);

        [DllImport("libc", EntryPoint = "flock", SetLastError = true)]
        private static extern int flock(int fd, int operation);

        [DllImport("libc", EntryPoint = "close")]
        private static extern int close(int fd);

        private int _fd;

        private FileLock(int fd) => _fd = fd;

        /// <summary>Blocks until the lock is ours. The file lives on a tmpfs (the state directory), so opening it never hangs.</summary>
        public static FileLock Acquire(string path) => Take(open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0x1A4 /* 0644 */), path);

        private const int O_RDONLY = 0, O_DIRECTORY = 0x10000;

        /// <summary>An exclusive lock on a directory (no file created): serializes who may mount on it.</summary>
        public static FileLock OnDirectory(string path) => Take(open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0), path);

        private static FileLock Take(int fd, string path)
        {
            if (fd < 0) throw NativeError.FromErrno(NativeError.LastErrno(), NativeOperation.Open, path);
            while (flock(fd, LOCK_EX) != 0)
            {
                var errno = NativeError.LastErrno();
                if (errno == Errno.EINTR) continue;
                close(fd);
                throw NativeError.FromErrno(errno, NativeOperation.Open, path);
            }
            return new FileLock(fd);
        }

        public void Dispose()
        {
            if (_fd >= 0) close(_fd); // closing releases the lock
            _fd = -1;
        }
    }
}
