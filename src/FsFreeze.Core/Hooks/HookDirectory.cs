using System;
using System.Collections.Generic;
using System.IO;
using FsFreeze.Native;

namespace FsFreeze
{
    /// <summary>
    /// Reads a hook directory the way qemu-ga's fsfreeze-hook reads fsfreeze-hook.d: every executable regular file (a
    /// symlink to one counts), in byte order of the names, skipping names that start with '.' (the shell's '*' does) or
    /// end in '~', '.sample', '.rpmnew', '.rpmorig', '.rpmsave' or hold '.dpkg-'. Hooks run as root, so the directory,
    /// every directory above it and every hook must be root's and writable by nobody else; otherwise nothing runs.
    /// </summary>
    public static class HookDirectory
    {
        private static readonly string[] SkippedEndings = { "~", ".sample", ".rpmnew", ".rpmorig", ".rpmsave" };

        /// <summary>Why a name is not run by name alone (null: it may be).</summary>
        public static string? SkippedByName(string name)
        {
            if (name.StartsWith(".", StringComparison.Ordinal)) return "a hidden name (starts with '.')";
            foreach (var e in SkippedEndings)
            {
                if (name.EndsWith(e, StringComparison.Ordinal)) return $"a name ending in '{e}' (a backup or an example, skipped like qemu-ga does)";
            }
            if (name.Contains(".dpkg-", StringComparison.Ordinal)) return "a dpkg leftover ('.dpkg-' in its name)";
            return null;
        }

        /// <summary>
        /// The hooks of a directory. <paramref name="directory"/> "" or null: none. A missing directory is no hooks when it
        /// is the default one, and an error (FsFreeze.HookFailed, nothing frozen) when the caller named it: a mistyped
        /// directory must not silently leave an application unquiesced.
        /// </summary>
        public static HookPlan Read(string? directory, bool named, int timeoutSec, string pathForErrors)
        {
            if (string.IsNullOrEmpty(directory)) return HookPlan.None;
            if (timeoutSec < 1) throw new FsFreezeException(FreezeErrorKind.InvalidTimeout, pathForErrors, $"-HookTimeoutSec {timeoutSec}: a hook needs at least 1 second.");
            if (!directory.StartsWith("/", StringComparison.Ordinal)) directory = Path.GetFullPath(directory);
            var st = StatX.NoFollow(directory);
            if (st == null)
            {
                if (!named) return new HookPlan(directory, Array.Empty<HookSpec>(), Array.Empty<(string, string)>(), timeoutSec);
                throw Failed(pathForErrors, $"The hook directory '{directory}' does not exist. Nothing was frozen. Name an existing directory, or pass -NoHooks (or -HookDirectory '') to freeze without hooks.");
            }
            string real;
            try { real = RealPath.Resolve(directory); }
            catch (NativeException e) { throw Failed(pathForErrors, $"Cannot read the hook directory '{directory}': {NativeError.Describe(e.Errno)}. Nothing was frozen.", e); }
            CheckTrusted(real, isDirectory: true, pathForErrors, directory);

            var hooks = new List<HookSpec>();
            var skipped = new List<(string, string)>();
            var names = new List<string>();
            try
            {
                foreach (var entry in Directory.EnumerateFileSystemEntries(real)) names.Add(Path.GetFileName(entry));
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                throw Failed(pathForErrors, $"Cannot list the hook directory '{directory}': {e.Message}. Nothing was frozen.", e);
            }
            names.Sort(StringComparer.Ordinal);
            foreach (var name in names)
            {
                var path = real.TrimEnd('/') + "/" + name;
                if (SkippedByName(name) is string why) { skipped.Add((name, why)); continue; }
                string target;
                try { target = RealPath.Resolve(path); }
                catch (NativeException) { skipped.Add((name, "a dangling symlink")); continue; }
                var info = StatX.NoFollow(target);
                if (info is not StatX.Info i || !i.IsRegularFile) { skipped.Add((name, "not a regular file")); continue; }
                if ((i.Mode & 0x49 /* 0111 */) == 0) { skipped.Add((name, "not executable")); continue; }
                CheckTrusted(target, isDirectory: false, pathForErrors, path);
                hooks.Add(new HookSpec(name, path));
            }
            return new HookPlan(directory, hooks, skipped, timeoutSec);
        }

        /// <summary>The path and every directory above it: root's, not writable by group or others (a sticky directory above the last is fine).</summary>
        private static void CheckTrusted(string canonical, bool isDirectory, string pathForErrors, string shown)
        {
            var parts = canonical.Split('/', StringSplitOptions.RemoveEmptyEntries);
            string current = "/";
            for (int i = -1; i < parts.Length; i++)
            {
                if (i >= 0) current = current.TrimEnd('/') + "/" + parts[i];
                bool last = i == parts.Length - 1;
                if (StatX.NoFollow(current) is not StatX.Info info) throw Failed(pathForErrors, $"'{current}' vanished while the hooks were read. Nothing was frozen.");
                bool othersWrite = (info.Mode & 0x12 /* 022 */) != 0, sticky = (info.Mode & 0x200) != 0;
                string? problem = info.Uid != 0 ? $"'{current}' is owned by uid {info.Uid}, not root"
                    : othersWrite && (last || !sticky) ? $"'{current}' has mode {Convert.ToString(info.Mode & 0xFFF, 8)}: group or others can write to it"
                    : null;
                if (problem != null)
                {
                    throw Failed(pathForErrors, $"Refusing to run the hooks in '{shown}': {problem}. Hooks run as root, so a hook, its directory and every directory above them must be root's and writable by nobody else. Nothing was run or frozen.");
                }
                if (last && isDirectory && !info.IsDirectory) throw Failed(pathForErrors, $"The hook directory '{shown}' is not a directory. Nothing was frozen.");
            }
        }

        private static FsFreezeException Failed(string path, string message, Exception? inner = null)
            => new FsFreezeException(FreezeErrorKind.HookFailed, path, message, inner);
    }
}
