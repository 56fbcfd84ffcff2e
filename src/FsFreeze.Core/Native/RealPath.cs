using System;
using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>realpath(3): the canonical path with every symlink resolved, which the mount table is keyed by.</summary>
    public static class RealPath
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
            try { return Utf8.FromNative(result); }
            finally { free(result); }
        }
    }

    internal static class Utf8
    {
        // netstandard2.0 has no PtrToStringUTF8.
        public static string FromNative(IntPtr p)
        {
            int length = 0;
            while (Marshal.ReadByte(p, length) != 0) length++;
            var bytes = new byte[length];
            Marshal.Copy(p, bytes, 0, length);
            return System.Text.Encoding.UTF8.GetString(bytes);
        }
    }
}
