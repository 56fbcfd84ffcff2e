using System.Runtime.InteropServices;

namespace FsFreeze.Watchdog.Native
{
    /// <summary>
    /// libc syslog(3), facility daemon, tag "fsfreeze": where an admin looks (journal, /var/log/syslog).
    /// Called only after the thaw: never log while a filesystem is frozen.
    /// </summary>
    internal static class Syslog
    {
        private const int LOG_PID = 0x01, LOG_DAEMON = 3 << 3;
        public const int Warning = 4, Error = 3, Notice = 5;

        [DllImport("libc", EntryPoint = "openlog")]
        private static extern void openlog(nint ident, int option, int facility);

        // Variadic in C; called with exactly one "%s" argument so the message is never a format string.
        [DllImport("libc", EntryPoint = "syslog")]
        private static extern void syslog(int priority, [MarshalAs(UnmanagedType.LPUTF8Str)] string format, [MarshalAs(UnmanagedType.LPUTF8Str)] string message);

        // openlog keeps the pointer: the tag must live as long as the process.
        private static readonly nint Tag = Marshal.StringToCoTaskMemUTF8("fsfreeze");

        public static void Write(int priority, string message)
        {
            openlog(Tag, LOG_PID, LOG_DAEMON);
            syslog(priority | LOG_DAEMON, "%s", message);
        }
    }
}
