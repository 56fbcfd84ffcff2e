using System;
using System.IO;

namespace FsFreeze.Native
{
    /// <summary>What sysfs says of a loop device: the file behind it.</summary>
    public static class LoopDevice
    {
        /// <summary>
        /// The backing file of a mount source like "/dev/loop3", from /sys/block/loop3/loop/backing_file,
        /// or null when the source is not a loop device (or has none attached).
        /// </summary>
        public static string? BackingFile(string source)
        {
            const string prefix = "/dev/loop";
            if (!source.StartsWith(prefix, StringComparison.Ordinal) || source.Length == prefix.Length) return null;
            var name = source.Substring("/dev/".Length);
            try
            {
                var text = File.ReadAllText($"/sys/block/{name}/loop/backing_file").TrimEnd('\n');
                // A deleted image still lives on the filesystem that held it: the path still names that filesystem.
                const string deleted = " (deleted)";
                return text.EndsWith(deleted, StringComparison.Ordinal) ? text.Substring(0, text.Length - deleted.Length) : text;
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                return null;
            }
        }
    }
}
