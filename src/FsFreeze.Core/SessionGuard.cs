using System;
using System.Collections.Generic;
using System.IO;
using FsFreeze.Native;

namespace FsFreeze
{
    /// <summary>
    /// Finds members that hold what the calling shell itself needs (/, its working directory, temp, home,
    /// its own runtime). Freezing one of those can hang the shell in uninterruptible sleep on its next
    /// history write, temp file or assembly load, with nobody left to thaw.
    /// </summary>
    public static class SessionGuard
    {
        public static void Check(IReadOnlyList<Filesystem> members, MountTable table, IEnumerable<(string Path, string Why)> extra)
        {
            var protectedBy = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (path, why) in Defaults(extra))
            {
                if (string.IsNullOrEmpty(path)) continue;
                try
                {
                    var mount = table.FindByPath(RealPath.Resolve(path));
                    if (mount != null && !protectedBy.ContainsKey(mount.Device)) protectedBy[mount.Device] = $"{why} ({path})";
                }
                catch (NativeException) { /* a location that does not exist cannot hang us */ }
            }
            foreach (var fs in members)
            {
                if (protectedBy.TryGetValue(fs.Device, out var why))
                {
                    throw new FsFreezeException(FreezeErrorKind.SessionFilesystem, fs.RequestedPath,
                        $"Refusing to freeze '{fs.MountPoint}' ({fs.FileSystemType} on {fs.Source}): it holds {why}. " +
                        "A shell that writes its history or a temp file, or loads an assembly, from a frozen filesystem sleeps uninterruptibly and cannot be killed until someone else thaws it. " +
                        "Freeze it from a process that lives on another filesystem, or add -Force (with -TimeoutSec as a safety net) if you are sure nothing here touches it while frozen.");
                }
            }
        }

        private static IEnumerable<(string, string)> Defaults(IEnumerable<(string, string)> extra)
        {
            yield return ("/", "the root filesystem");
            yield return ("/proc/self/exe", "the running .NET runtime");
            yield return (Path.GetDirectoryName(typeof(SessionGuard).Assembly.Location) ?? "", "the FsFreeze module");
            yield return (Environment.CurrentDirectory, "this process's working directory");
            yield return (Path.GetTempPath(), "the temp directory");
            yield return (Environment.GetEnvironmentVariable("HOME") ?? "", "your home directory");
            foreach (var e in extra) yield return e;
        }
    }
}
