using System;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    public enum NativeOperation { Open, Stat, Freeze, Thaw, Flush }

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

    public static class NativeError
    {
        public static NativeException FromErrno(Errno errno, NativeOperation operation, string path)
            => new NativeException(errno, operation, path);

        /// <summary>"EBUSY (Device or resource busy)": the name admins grep for and the libc text.</summary>
        public static string Describe(Errno errno) => $"{errno} ({Stdlib.strerror(errno)})";
    }
}
