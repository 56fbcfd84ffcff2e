using System;
using System.Collections.Generic;
using System.IO;

namespace FsFreeze
{
    /// <summary>
    /// The interface the 2008 freeze-timeout patches proposed, as they wrote it, over FsFreeze's user-space
    /// timer: FIFREEZE with a timeout argument (0 and 1 = none), FIFREEZE_RESET_TIMEOUT with a new period
    /// (EINVAL, here NotFrozen, once already thawed), and FITHAW. A thin layer over the same engine as the
    /// cmdlets, with the seed's argument rules (the cmdlets refuse 1).
    /// </summary>
    public static class SeedApi
    {
        /// <summary>Freezes the filesystem holding <paramref name="path"/>; with a timeout of 2 s or more a watchdog thaws it if nobody thaws or resets it in time.</summary>
        public static IReadOnlyList<FrozenFilesystem> Freeze(string path, long timeoutSec)
        {
            if (timeoutSec < 0) FreezeTimeout.Validate(timeoutSec, path);
            var table = MountTable.Read();
            var members = FreezeEngine.Plan(new[] { FilesystemResolver.Resolve(Path.GetFullPath(path), table) }, table, force: true, Array.Empty<(string, string)>());
            using var handle = FreezeEngine.Freeze(members, new FreezeOptions { TimeoutSec = FreezeTimeout.FromSeed(timeoutSec) });
            return handle.Members; // disposing closes this process's descriptors; the freeze stays until a thaw
        }

        /// <summary>A new period from now (0 or 1: no timeout any more). Throws NotFrozen when the filesystem is already thawed, saying when if the timeout did it.</summary>
        public static DateTime? ResetTimeout(string path, long timeoutSec)
        {
            if (timeoutSec < 0) FreezeTimeout.Validate(timeoutSec, path);
            return FreezeEngine.Reset(new FreezeTarget(Path.GetFullPath(path)), FreezeTimeout.FromSeed(timeoutSec), warn: null);
        }

        /// <summary>FITHAW of the freeze FsFreeze holds on the filesystem holding <paramref name="path"/>.</summary>
        public static void Thaw(string path)
        {
            var r = FreezeEngine.Thaw(new FreezeTarget(Path.GetFullPath(path)), force: false, warn: null);
            if (r.Error != null) throw r.Error;
        }
    }
}
