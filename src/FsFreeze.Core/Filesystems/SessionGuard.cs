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
    internal static class SessionGuard
    {
        public static void Check(IReadOnlyList<Filesystem> members, MountTable table, IEnumerable<(string Path, string Why)> extra)
        {
            foreach (var (fs, why) in Find(members, table, extra))
            {
                throw new FsFreezeException(FreezeErrorKind.SessionFilesystem, fs.RequestedPath,
                    $"Refusing to freeze '{fs.MountPoint}' ({fs.FileSystemType} on {fs.Source}): it holds {why}. " +
                    "A shell that writes its history or a temp file, or loads an assembly, from a frozen filesystem sleeps uninterruptibly and cannot be killed until someone else thaws it. " +
                    "Freeze it from a process that lives on another filesystem, or add -Force (with -TimeoutSec as a safety net) if you are sure nothing here touches it while frozen.");
            }
        }

        /// <summary>The members that hold something this process needs, and what (for -All, which freezes them knowingly).</summary>
        public static List<(Filesystem Member, string Why)> Find(IReadOnlyList<Filesystem> members, MountTable table, IEnumerable<(string Path, string Why)> extra)
        {
            var protectedBy = new Dictionary<string, string>(StringComparer.Ordinal);
            // The runtime and the module cannot move while the process runs: their canonical paths are resolved once.
            // Which filesystem holds them is looked up in the current table every time, so a new mount is still seen.
            // The root filesystem first: when it also holds the runtime, "the root filesystem" is the reason people recognise.
            Protect(protectedBy, table, "/", "the root filesystem", "/");
            Protect(protectedBy, table, RuntimeExecutable.Value, "the running .NET runtime", "/proc/self/exe");
            Protect(protectedBy, table, ModuleDirectory.Value, "the FsFreeze module", ModuleDirectory.Value);
            foreach (var (path, why) in Defaults(extra))
            {
                if (string.IsNullOrEmpty(path)) continue;
                try
                {
                    Protect(protectedBy, table, RealPath.Resolve(path), why, path);
                }
                catch (NativeException) { /* a location that does not exist cannot hang us */ }
            }
            var found = new List<(Filesystem, string)>();
            foreach (var fs in members)
            {
                if (protectedBy.TryGetValue(fs.Device, out var why)) found.Add((fs, why));
            }
            return found;
        }

        // realpath of /proc/self/exe walks procfs (about 0.1 ms, measured; an idle freeze+thaw pair is ~0.5 ms): once per process.
        private static readonly Lazy<string?> RuntimeExecutable = new Lazy<string?>(() => TryRealPath("/proc/self/exe"));
        private static readonly Lazy<string?> ModuleDirectory = new Lazy<string?>(() => TryRealPath(Path.GetDirectoryName(typeof(SessionGuard).Assembly.Location) ?? ""));

        private static string? TryRealPath(string path)
        {
            if (string.IsNullOrEmpty(path)) return null;
            try { return RealPath.Resolve(path); }
            catch (NativeException) { return null; }
        }

        private static void Protect(Dictionary<string, string> protectedBy, MountTable table, string? canonicalPath, string why, string? shownPath)
        {
            if (canonicalPath == null) return;
            var mount = MountIdentity.Of(canonicalPath, table);
            if (mount != null && !protectedBy.ContainsKey(mount.Device)) protectedBy[mount.Device] = $"{why} ({shownPath})";
        }

        private static IEnumerable<(string, string)> Defaults(IEnumerable<(string, string)> extra)
        {
            yield return (Environment.CurrentDirectory, "this process's working directory");
            yield return (Path.GetTempPath(), "the temp directory");
            yield return (Environment.GetEnvironmentVariable("HOME") ?? "", "your home directory");
            foreach (var e in extra) yield return e;
        }
    }
}
