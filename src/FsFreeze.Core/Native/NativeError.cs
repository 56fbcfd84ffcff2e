using System;
using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    public enum NativeOperation { Open, Stat, Freeze, Thaw, Flush, Connect }

    /// <summary>A failed system call: which call, on which path, and the errno it gave.</summary>
    public sealed class NativeException : Exception
    {
        public NativeException(Errno errno, NativeOperation operation, string path)
            : base($"{operation} '{path}': {NativeError.Describe(errno)}")
        {
            Errno = errno;
            Operation = operation;
            Path = path;
        }

        public Errno Errno { get; }
        public NativeOperation Operation { get; }
        public string Path { get; }
    }

    /// <summary>
    /// errno handling that needs no native helper: Mono.Posix's Errno enum carries Linux's numbers, so the
    /// value from a SetLastError import casts straight to it, and strerror comes from libc itself.
    /// </summary>
    public static class NativeError
    {
        [DllImport("libc", EntryPoint = "strerror")]
        private static extern IntPtr strerror(int errnum);

        private static readonly object StrerrorGate = new object(); // strerror's buffer is shared

        public static NativeException FromErrno(Errno errno, NativeOperation operation, string path)
            => new NativeException(errno, operation, path);

        /// <summary>errno of the last SetLastError import on this thread.</summary>
        public static Errno LastErrno() => (Errno)Marshal.GetLastWin32Error();

        /// <summary>"EBUSY (Device or resource busy)": the name admins grep for and the libc text.</summary>
        public static string Describe(Errno errno)
        {
            string text;
            lock (StrerrorGate) { text = Marshal.PtrToStringUTF8(strerror((int)errno)) ?? ""; }
            return $"{errno} ({text})";
        }
    }
}
