using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>A new file written whole, and rename(2): the record store's writes, without FileStream's locking and seeking.</summary>
    internal static class RawFile
    {
        private const int O_WRONLY = 1, O_CREAT = 0x40, O_EXCL = 0x80, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000;

        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        private static extern int open(string path, int flags, uint mode);

        [DllImport("libc", EntryPoint = "write", SetLastError = true)]
        private static extern unsafe nint write(int fd, byte* buffer, nuint count);

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        private static extern int close(int fd);

        [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
        private static extern int rename(string from, string to);

        /// <summary>Creates <paramref name="path"/> (it must not exist; a symlink there is refused) and writes all of it.</summary>
        public static void WriteNew(string path, byte[] bytes, uint mode)
        {
            int fd;
            do { fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode); }
            while (fd < 0 && NativeError.LastErrno() == Errno.EINTR);
            if (fd < 0) throw NativeError.FromErrno(NativeError.LastErrno(), NativeOperation.Open, path);
            try
            {
                var errno = WriteAll(fd, bytes);
                if (errno != 0) throw NativeError.FromErrno(errno, NativeOperation.Open, path);
            }
            finally
            {
                close(fd);
            }
        }

        /// <summary>write(2) until all of it is written (a short write goes on, EINTR retries); 0, or the errno that stopped it.</summary>
        public static unsafe Errno WriteAll(int fd, byte[] bytes)
        {
            int done = 0;
            fixed (byte* p = bytes)
            {
                while (done < bytes.Length)
                {
                    nint n = write(fd, p + done, (nuint)(bytes.Length - done));
                    if (n >= 0) { done += (int)n; continue; }
                    var errno = NativeError.LastErrno();
                    if (errno != Errno.EINTR) return errno;
                }
            }
            return 0;
        }

        /// <summary>Creates or empties a file (its modification time becomes now); a symlink there is refused.</summary>
        public static void Touch(string path)
        {
            const int O_TRUNC = 0x200;
            int fd;
            do { fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0x1A4); }
            while (fd < 0 && NativeError.LastErrno() == Errno.EINTR);
            if (fd < 0) throw NativeError.FromErrno(NativeError.LastErrno(), NativeOperation.Open, path);
            close(fd);
        }

        public static void Rename(string from, string to)
        {
            if (rename(from, to) != 0) throw NativeError.FromErrno(NativeError.LastErrno(), NativeOperation.Open, to);
        }
    }
}
