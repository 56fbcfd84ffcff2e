using System;

namespace FsFreeze
{
    /// <summary>A failure of one filesystem, with a message that names it and says what to do.</summary>
    public sealed class FsFreezeException : Exception
    {
        public FsFreezeException(FreezeErrorKind kind, string path, string message, Exception? inner = null)
            : base(message, inner)
        {
            Kind = kind;
            Path = path;
        }

        public FreezeErrorKind Kind { get; }

        /// <summary>The path the caller named (the error's target).</summary>
        public string Path { get; }

        /// <summary>Devices a failed freeze could not thaw again (its rollback failed): they are still frozen.</summary>
        public System.Collections.Generic.IReadOnlyList<string> StillFrozen { get; internal set; } = System.Array.Empty<string>();

        /// <summary>The errno behind it, when a system call failed.</summary>
        public int? Errno => InnerException is Native.NativeException n ? (int)n.Errno : (int?)null;
    }
}
