using System;
using System.Collections.Generic;
using System.IO;

namespace FsFreeze
{
    /// <summary>
    /// The interface the 2008 freeze-timeout patches proposed, as they wrote it, over FsFreeze's user-space
    /// timer: FIFREEZE with a timeout argument (0 and 1 = none), FIFREEZE_RESET_TIMEOUT with a new period
    /// (EINVAL, here NotFrozen, once already thawed), and FITHAW. The cmdlets sit on the same core, with
    /// stricter argument rules (they refuse 1).
    /// </summary>
    public static class SeedApi
    {
        /// <summary>Freezes the filesystem holding <paramref name="path"/>; with a timeout of 2 s or more a watchdog thaws it if nobody thaws or resets it in time.</summary>
        public static IReadOnlyList<FrozenFilesystem> Freeze(string path, long timeoutSec)
        {
            if (timeoutSec < 0) FreezeTimeout.Validate(timeoutSec, path);
            var table = MountTable.Read();
            var members = FilesystemResolver.Plan(new[] { FilesystemResolver.Resolve(Path.GetFullPath(path), table) });
            var dir = StateDirectory.Locate();
            long seconds = FreezeTimeout.FromSeed(timeoutSec);
            if (seconds == 0)
            {
                using var set = InProcessFreeze.Freeze(members, flush: true, dir, table, out _);
                var frozen = new List<FrozenFilesystem>();
                foreach (var m in set.Members) frozen.Add(FrozenFilesystem.From(m));
                return frozen; // disposing the set closes the descriptors; the freeze stays until a thaw
            }
            return WatchdogLauncher.Freeze(members, seconds, flush: true, dir, table).Members;
        }

        /// <summary>A new period from now (0 or 1: no timeout any more). Throws NotFrozen when the filesystem is already thawed, saying when if the timeout did it.</summary>
        public static DateTime? ResetTimeout(string path, long timeoutSec)
        {
            if (timeoutSec < 0) FreezeTimeout.Validate(timeoutSec, path);
            var fs = FilesystemResolver.Resolve(Path.GetFullPath(path), MountTable.Read());
            return FreezeRegistry.Reset(StateDirectory.Locate(), fs, FreezeTimeout.FromSeed(timeoutSec));
        }

        public static void Thaw(string path)
        {
            var fs = FilesystemResolver.Resolve(Path.GetFullPath(path), MountTable.Read());
            var r = FreezeRegistry.Thaw(StateDirectory.Locate(), fs);
            if (r.Error != null) throw r.Error;
        }
    }

    /// <summary>The -TimeoutSec 0 path: FIFREEZE in this process (the fast path), with a record for Get-FsFreezeStatus written before it.</summary>
    public static class InProcessFreeze
    {
        public static FreezeSet Freeze(IReadOnlyList<Filesystem> members, bool flush, StateDirectory dir, MountTable table,
            out FreezeRecord? record, System.Threading.CancellationToken cancel = default, Action<string>? warn = null)
        {
            try
            {
                record = FreezeRegistry.RecordInProcess(dir, members, table);
            }
            catch (Exception e) when (e is FsFreezeException || e is IOException || e is UnauthorizedAccessException || e is Native.NativeException)
            {
                // The freeze needs no state; only Get-FsFreezeStatus will not list it.
                record = null;
                warn?.Invoke($"Get-FsFreezeStatus will not list this freeze: {e.Message}");
            }
            try
            {
                return FreezeSet.Freeze(members, flush, cancel: cancel);
            }
            catch
            {
                if (record != null) StateDirectory.DeleteQuietly(record.File);
                throw;
            }
        }
    }
}
