using System;
using System.Collections.Generic;
using System.IO;
using FsFreeze.Native;

namespace FsFreeze
{
    /// <summary>
    /// Where freezes with a timeout keep their sockets, records and tombstones: /run/fsfreeze, or
    /// $FSFREEZE_STATE_DIR (tests). Root-only (0700), never reached through a symlink, and never on a
    /// filesystem in the set being frozen (a state write there would hang).
    /// </summary>
    public sealed class StateDirectory
    {
        public const string DefaultPath = "/run/fsfreeze";
        public const string EnvironmentVariable = "FSFREEZE_STATE_DIR";

        public StateDirectory(string path) => Path = path.Length > 1 ? path.TrimEnd('/') : path;

        public string Path { get; }

        public static StateDirectory Locate()
        {
            var fromEnv = Environment.GetEnvironmentVariable(EnvironmentVariable);
            return new StateDirectory(string.IsNullOrEmpty(fromEnv) ? DefaultPath : fromEnv!);
        }

        public string SocketPath(string id) => System.IO.Path.Combine(Path, id + ".sock");
        public string RecordPath(string id) => System.IO.Path.Combine(Path, id + ".freeze");
        public string TombstonePath(string id) => System.IO.Path.Combine(Path, id + ".tomb");

        /// <summary>Creates the directory (0700) if needed, then refuses it unless it is a real directory owned by root and closed to others.</summary>
        public void Ensure()
        {
            var info = Check(createIfMissing: true);
            if (info == null) throw Unsafe("it could not be created");
        }

        /// <summary>True when the directory exists and is safe to read; false when it does not exist. Throws when it is unsafe.</summary>
        public bool ExistsSafely() => Check(createIfMissing: false) != null;

        private StatX.Info? Check(bool createIfMissing)
        {
            StatX.Info? info;
            try
            {
                info = StatX.NoFollow(Path);
                if (info == null && createIfMissing)
                {
                    Posix.MakeDirectory(Path, 0x1C0 /* 0700 */);
                    info = StatX.NoFollow(Path);
                }
            }
            catch (NativeException e)
            {
                throw Unsafe($"{NativeError.Describe(e.Errno)} on '{e.Path}'");
            }
            if (info == null) return null;
            var i = info.Value;
            if (!i.IsDirectory) throw Unsafe("it is not a directory (a symlink or a file is never followed)");
            if (i.Uid != 0 && i.Uid != Posix.GetEffectiveUid()) throw Unsafe($"it is owned by uid {i.Uid}, not root");
            if ((i.Mode & 0x3F /* 077 */) != 0) throw Unsafe($"its mode is {Convert.ToString(i.Mode & 0xFFF, 8)}: group or others have access (it must be 0700)");
            return i;
        }

        private FsFreezeException Unsafe(string why) => new FsFreezeException(FreezeErrorKind.UnsafeStateDirectory, Path,
            $"Refusing to use FsFreeze's state directory '{Path}': {why}. It holds the sockets that thaw frozen filesystems, so it must be a real directory owned by root with mode 0700. " +
            $"Remove or fix it, or point ${EnvironmentVariable} at another root-only directory on a filesystem that is not frozen (a tmpfs is best).");

        /// <summary>
        /// The filesystem holding the directory, as a mount-table device ("maj:min", the same key members use).
        /// Refuses a set that contains it: the watchdog writes its record and tombstone here.
        /// </summary>
        public void CheckNotIn(IReadOnlyList<Filesystem> members, MountTable table)
        {
            string canonical;
            try { canonical = RealPath.Resolve(Path); }
            catch (NativeException) { return; }
            var mount = table.FindByPath(canonical);
            if (mount == null) return;
            foreach (var fs in members)
            {
                if (fs.Device == mount.Device)
                {
                    throw new FsFreezeException(FreezeErrorKind.SessionFilesystem, fs.RequestedPath,
                        $"Refusing to freeze '{fs.MountPoint}' ({fs.FileSystemType} on {fs.Source}) with a timeout: it holds FsFreeze's state directory '{Path}', where the watchdog keeps the socket, record and tombstone of this freeze, and a write to a frozen filesystem would hang it. " +
                        $"Set ${EnvironmentVariable} to a root-only directory on another filesystem (a tmpfs is best), or freeze with -TimeoutSec 0 (no watchdog, no timeout).");
                }
            }
        }

        /// <summary>Every record and tombstone in the directory (unreadable or half-written files are skipped).</summary>
        public List<FreezeRecord> LoadAll()
        {
            var all = new List<FreezeRecord>();
            if (!ExistsSafely()) return all;
            foreach (var file in Directory.GetFiles(Path))
            {
                if (!file.EndsWith(".freeze", StringComparison.Ordinal) && !file.EndsWith(".tomb", StringComparison.Ordinal)) continue;
                var r = FreezeRecord.TryLoad(file);
                if (r != null) all.Add(r);
            }
            return all;
        }

        /// <summary>Writes a file whole or not at all: readers never see half a record.</summary>
        public void WriteAtomically(string path, string text)
        {
            var temp = path + ".new";
            File.WriteAllText(temp, text);
            Posix.Rename(temp, path);
        }

        public static void DeleteQuietly(string path)
        {
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
