using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using FsFreeze.Native;
using Mono.Unix.Native;

namespace FsFreeze.State
{
    /// <summary>
    /// The one owner of FsFreeze's state directory (/run/fsfreeze, or $FSFREEZE_STATE_DIR): a record per freeze,
    /// written by whoever holds the freeze (the watchdog, or the pwsh of a -TimeoutSec 0 freeze).
    /// <list type="bullet">
    /// <item>Trusted only if every directory on its path is root's and closed to others (a sticky /tmp is fine).</item>
    /// <item>Kept on a filesystem no freeze can hold (tmpfs): a record written while members are frozen can never hang.
    /// Where the directory's own filesystem could be frozen, FsFreeze mounts a small tmpfs on it.</item>
    /// <item>Readable by everyone (0755, records 0644), so Get-FsFreezeStatus works without root; written by root only.</item>
    /// <item>Reads are strictly read-only; a malformed, oversized or non-regular entry is skipped with a warning.</item>
    /// </list>
    /// </summary>
    internal sealed class RecordStore
    {
        public const string DefaultPath = "/run/fsfreeze";
        public const string EnvironmentVariable = "FSFREEZE_STATE_DIR";
        private const int MaxRecordBytes = 256 * 1024;
        private static readonly TimeSpan KeepEnded = TimeSpan.FromDays(1);

        private static readonly (string Ext, FreezeState State)[] Files =
        {
            (".frozen", FreezeState.Frozen), (".thawed", FreezeState.Thawed), (".timeout", FreezeState.ThawedByTimeout),
        };

        public RecordStore(string path) => Path = path.Length > 1 ? path.TrimEnd('/') : path;

        public string Path { get; }

        public static RecordStore Locate()
        {
            var fromEnv = Environment.GetEnvironmentVariable(EnvironmentVariable);
            return new RecordStore(string.IsNullOrEmpty(fromEnv) ? DefaultPath : fromEnv!);
        }

        private string FileOf(string id, FreezeState state) => System.IO.Path.Combine(Path, id + Array.Find(Files, f => f.State == state).Ext);

        /// <summary>Before a freeze: root only; creates the directory if needed, checks its path, puts it on a tmpfs.</summary>
        public void PrepareForWriting()
        {
            if (!Posix.HasSysAdmin())
            {
                throw new FsFreezeException(FreezeErrorKind.PermissionDenied, Path,
                    $"Cannot freeze, thaw or reset: FsFreeze needs root (CAP_SYS_ADMIN in the initial user namespace) to freeze and to write its state in '{Path}'. Run pwsh as root, for example 'sudo pwsh'.");
            }
            try
            {
                if (StatX.NoFollow(Path) == null) Posix.MakeDirectory(Path, 0x1ED /* 0755 */);
                CheckPath(mustExist: true);
                // Under a lock on the directory itself: two first freezes at once must not stack two tmpfs mounts.
                using (FileLock.OnDirectory(Path))
                {
                    var mount = MountIdentity.Of(Path, MountTable.Read());
                    if (mount == null || !FilesystemTypes.IsNeverFrozen(mount.FileSystemType))
                    {
                        // On a filesystem a freeze could hold, a record write could sleep until someone thaws it.
                        MountTmpfs.On(Path);
                    }
                }
                CheckPath(mustExist: true);
            }
            catch (NativeException e)
            {
                throw Unsafe($"{NativeError.Describe(e.Errno)} on '{e.Path}'", e);
            }
        }

        /// <summary>True when the directory exists and is safe to read; false when it does not exist. Throws when it is unsafe.</summary>
        public bool IsReadable()
        {
            try { return CheckPath(mustExist: false); }
            catch (NativeException e) { throw Unsafe($"{NativeError.Describe(e.Errno)} on '{e.Path}'", e); }
        }

        /// <summary>
        /// Every directory from / down: a real directory (never a symlink), owned by root, writable by nobody else
        /// (a sticky directory like /tmp excepted, above the last). Otherwise another user could swap in records that
        /// answer root's thaw.
        /// </summary>
        private bool CheckPath(bool mustExist)
        {
            if (!Path.StartsWith("/", StringComparison.Ordinal)) throw Unsafe("it is not an absolute path");
            var parts = Path.Split('/', StringSplitOptions.RemoveEmptyEntries);
            string current = "/";
            for (int i = -1; i < parts.Length; i++)
            {
                if (i >= 0) current = current.TrimEnd('/') + "/" + parts[i];
                if (parts.Length > 0 && i >= 0 && (parts[i] == "." || parts[i] == "..")) throw Unsafe("it contains '.' or '..'");
                var st = StatX.NoFollow(current);
                if (st is not StatX.Info info)
                {
                    if (!mustExist && i == parts.Length - 1) return false;
                    throw Unsafe($"'{current}' does not exist");
                }
                bool last = i == parts.Length - 1;
                if (info.IsSymlink) throw Unsafe($"'{current}' is a symlink (never followed)");
                if (!info.IsDirectory) throw Unsafe($"'{current}' is not a directory");
                if (info.Uid != 0) throw Unsafe($"'{current}' is owned by uid {info.Uid}, not root");
                bool othersWrite = (info.Mode & 0x12 /* 022 */) != 0, sticky = (info.Mode & 0x200) != 0;
                if (othersWrite && (last || !sticky)) throw Unsafe($"'{current}' has mode {Convert.ToString(info.Mode & 0xFFF, 8)}: group or others can write to it");
            }
            return true;
        }

        private FsFreezeException Unsafe(string why, Exception? inner = null) => new FsFreezeException(FreezeErrorKind.UnsafeStateDirectory, Path,
            $"Refusing to use FsFreeze's state directory '{Path}': {why}. It records which freezes FsFreeze holds, so every directory on its path must be a real directory owned by root that nobody else can write to. " +
            $"Fix it, or point ${EnvironmentVariable} at another such directory (under /run is best).", inner);

        /// <summary>Serializes read-modify-write among processes (the lock file is on the tmpfs: taking it never hangs).</summary>
        public IDisposable Lock()
        {
            try { return FileLock.Acquire(System.IO.Path.Combine(Path, ".lock")); }
            catch (NativeException e) { throw Failed("lock", e); }
        }

        /// <summary>Every record, whatever its state. Read-only; entries that cannot be read are reported and skipped.</summary>
        public List<FreezeRecord> LoadAll(Action<string>? warn) => LoadAll(warn, null, null);

        /// <param name="byState">when given, a record is looked at only if it says yes to its state (from the file's name)</param>
        /// <param name="worthReading">when given, a record is read only if it says yes to its state and its file's statx</param>
        private List<FreezeRecord> LoadAll(Action<string>? warn, Func<FreezeState, bool>? byState, Func<FreezeState, StatX.Info, bool>? worthReading)
        {
            var all = new List<FreezeRecord>();
            if (!IsReadable()) return all;
            IEnumerable<string> names;
            try { names = Directory.EnumerateFiles(Path); }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException) { throw Failed("list", e); }
            foreach (var file in names)
            {
                var name = System.IO.Path.GetFileName(file);
                foreach (var (ext, state) in Files)
                {
                    if (!name.EndsWith(ext, StringComparison.Ordinal) || name.StartsWith(".", StringComparison.Ordinal)) continue;
                    if (byState != null && !byState(state)) continue;
                    if (worthReading != null)
                    {
                        StatX.Info? info = null;
                        try { info = StatX.NoFollow(file); } catch (NativeException) { } // TryRead reports it
                        if (info is StatX.Info i && !worthReading(state, i)) continue;
                    }
                    var r = TryRead(file, name.Substring(0, name.Length - ext.Length), state, warn);
                    if (r != null) all.Add(r);
                }
            }
            return all;
        }

        /// <summary>The record of one freeze, whatever its state; null when there is none.</summary>
        public FreezeRecord? Load(string id, Action<string>? warn)
        {
            if (!Protocol.WatchdogProtocol.IsValidId(id) || !IsReadable()) return null;
            foreach (var (_, state) in Files)
            {
                var file = FileOf(id, state);
                if (StatX.NoFollow(file) == null) continue;
                var r = TryRead(file, id, state, warn);
                if (r != null) return r;
            }
            return null;
        }

        private static FreezeRecord? TryRead(string file, string id, FreezeState state, Action<string>? warn)
        {
            try
            {
                // No symlink, no FIFO (O_NONBLOCK keeps the open from waiting for a writer), nothing huge.
                using var fd = FileDescriptorHandle.OpenNoFollow(file);
                var info = StatX.Of(fd, file);
                if (!info.IsRegularFile) throw new FormatException("not a regular file");
                if (info.Size > MaxRecordBytes) throw NativeError.FromErrno(Errno.EFBIG, NativeOperation.Open, file);
                // A buffer of the file's size (a record is a few hundred bytes), not of the limit: a status lists every record.
                var r = FreezeRecord.Parse(Encoding.UTF8.GetString(fd.ReadAll((int)info.Size + 1, file)), state);
                if (r.Id != id) throw new FormatException($"it holds freeze '{r.Id}'");
                return r;
            }
            catch (NativeException e) when (e.Errno == Errno.ENOENT)
            {
                return null; // renamed or removed meanwhile
            }
            catch (Exception e) when (e is NativeException || e is FormatException)
            {
                warn?.Invoke($"Skipping '{file}' in FsFreeze's state directory: {e.Message}. Remove it if no freeze of FsFreeze is held.");
                return null;
            }
        }

        /// <summary>Writes a record whole (unique temporary name, then rename): readers never see half of one.</summary>
        public void Save(FreezeRecord r)
        {
            var target = FileOf(r.Id, r.State);
            var temp = System.IO.Path.Combine(Path, $".{r.Id}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
            try
            {
                // Raw calls: a record may be written while members are frozen (a tmpfs write, but still inside the window).
                RawFile.WriteNew(temp, Encoding.UTF8.GetBytes(r.Serialize()), 0x1A4 /* 0644 */);
                RawFile.Rename(temp, target);
            }
            catch (NativeException e)
            {
                TryDelete(temp);
                throw Failed("write", e);
            }
        }

        /// <summary>
        /// Ends a held record: its file is renamed to the outcome first (a rename needs no space, so the outcome is
        /// kept even in a full directory), then rewritten with the members' thaw times when it can be.
        /// </summary>
        public void End(FreezeRecord r, FreezeState how, Action<string>? warn = null)
        {
            r.State = how;
            r.EndedUtc ??= DateTime.UtcNow;
            try
            {
                File.Move(FileOf(r.Id, FreezeState.Frozen), FileOf(r.Id, how), overwrite: true);
            }
            catch (FileNotFoundException) { }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                warn?.Invoke($"Could not mark freeze {r.Id} as ended in '{Path}': {e.Message}");
            }
            try { Save(r); }
            catch (FsFreezeException e) { warn?.Invoke(e.Message); }
        }

        public void Delete(string id)
        {
            foreach (var (_, state) in Files) TryDelete(FileOf(id, state));
        }

        /// <summary>
        /// Before a new freeze (never while one is frozen): ended records older than a day go, and so do held
        /// -TimeoutSec 0 records whose every member's device now carries another filesystem (a reused loop device).
        /// </summary>
        public void Prune(MountTable table, Action<string>? warn)
        {
            using var _ = Lock();
            // Held records are few and always looked at. Ended ones are kept a day; a busy host keeps hundreds of them, and
            // looking at each on every freeze made every freeze slower: they are swept once an hour, and then only those
            // whose file (its last write is the freeze's end) is older than a day are read.
            bool sweep = EndedSweepDue();
            long keepAfter = DateTimeOffset.UtcNow.Add(-KeepEnded).ToUnixTimeSeconds();
            foreach (var r in LoadAll(warn, state => state == FreezeState.Frozen || sweep,
                (state, info) => state == FreezeState.Frozen || info.ModifiedUnixSeconds < keepAfter))
            {
                bool stale = r.IsHeld
                    ? !r.ByWatchdog && r.Members.TrueForAll(m => m.State != FreezeState.Frozen || IsReplaced(m, table))
                    : DateTime.UtcNow - (r.EndedUtc ?? r.CreatedUtc) > KeepEnded;
                if (stale) Delete(r.Id);
            }
            if (sweep)
            {
                try { RawFile.Touch(System.IO.Path.Combine(Path, SweptMarker)); }
                catch (NativeException) { } // then the next freeze sweeps again
            }
        }

        /// <summary>Its modification time says when ended records were last swept (a dot file: never read as a record).</summary>
        private const string SweptMarker = ".swept";
        private static readonly TimeSpan SweepEvery = TimeSpan.FromHours(1);

        private bool EndedSweepDue()
        {
            try
            {
                return StatX.NoFollow(System.IO.Path.Combine(Path, SweptMarker)) is not StatX.Info info
                    || DateTimeOffset.UtcNow.ToUnixTimeSeconds() - info.ModifiedUnixSeconds > (long)SweepEvery.TotalSeconds
                    || info.ModifiedUnixSeconds > DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 60; // a clock set back
            }
            catch (NativeException) { return true; }
        }

        /// <summary>A member whose device now carries another filesystem. A device with nothing mounted is kept: a filesystem unmounted while frozen stays frozen, invisibly.</summary>
        public static bool IsReplaced(RecordedMember m, MountTable table)
        {
            if (m.Identity.Length == 0) return false;
            var parts = m.Device.Split(':');
            if (parts.Length != 2 || !uint.TryParse(parts[0], out var major) || !uint.TryParse(parts[1], out var minor)) return false;
            var mount = table.FindByDevice(major, minor);
            if (mount == null) return false;
            var now = FsUuid.Of(mount.MountPoint);
            return now.Length > 0 && now != m.Identity;
        }

        private FsFreezeException Failed(string what, Exception e)
        {
            bool denied = e is UnauthorizedAccessException || (e is NativeException n && (n.Errno == Errno.EACCES || n.Errno == Errno.EPERM));
            return denied
                ? new FsFreezeException(FreezeErrorKind.PermissionDenied, Path,
                    $"Cannot {what} FsFreeze's state in '{Path}': permission denied. Freezing, thawing and resetting need root; run pwsh as root, for example 'sudo pwsh'.", e)
                : new FsFreezeException(FreezeErrorKind.IoError, Path,
                    $"Cannot {what} FsFreeze's state in '{Path}': {e.Message}. Check that the directory is writable and not full.", e);
        }

        private static void TryDelete(string path)
        {
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
