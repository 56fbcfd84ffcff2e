using System;
using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>realpath(3): the canonical path with every symlink resolved, which the mount table is keyed by.</summary>
    internal static class RealPath
    {
        [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
        private static extern IntPtr realpath(string path /* LPStr is UTF-8 on Unix in .NET Core */, IntPtr resolved);

        [DllImport("libc", EntryPoint = "free")]
        private static extern void free(IntPtr pointer);

        public static string Resolve(string path)
        {
            IntPtr result = realpath(path, IntPtr.Zero);
            if (result == IntPtr.Zero)
            {
                throw NativeError.FromErrno(NativeError.LastErrno(), NativeOperation.Stat, path);
            }
            try { return Marshal.PtrToStringUTF8(result)!; }
            finally { free(result); }
        }
    }
}
