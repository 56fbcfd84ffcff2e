using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using FsFreeze.Native;

namespace FsFreeze
{
    /// <summary>
    /// Freezes a planned set all or nothing, and thaws it in reverse order.
    /// The descriptors stay open while the set is held, so the thaw needs no open() and the
    /// filesystems cannot be unmounted frozen underneath us.
    /// </summary>
    internal sealed class FreezeSet : IDisposable
    {
        private readonly List<HeldMember> _held = new List<HeldMember>();

        private FreezeSet() { }

        /// <summary>Members frozen so far, in freeze order.</summary>
        public IReadOnlyList<HeldMember> Members => _held;

        /// <param name="members">in freeze order (see <see cref="FilesystemResolver.Plan"/>)</param>
        /// <param name="flush">syncfs each member first, while its writers can still run, so FIFREEZE has little left to write (see <see cref="FlushPolicy"/>)</param>
        /// <param name="onFrozen">called right after each FIFREEZE succeeds (the watchdog reports progress through it)</param>
        public static FreezeSet Freeze(IReadOnlyList<Filesystem> members, bool flush,
            Action<HeldMember>? onFrozen = null, CancellationToken cancel = default)
        {
            var set = new FreezeSet();
            var fds = new List<FileDescriptorHandle>(members.Count);
            Filesystem? current = null;
            try
            {
                foreach (var fs in members)
                {
                    current = fs;
                    // The descriptor must be on the planned mount, or the path was swapped since it was checked.
                    fds.Add(MountIdentity.OpenVerified(fs));
                }
                if (flush)
                {
                    for (int i = 0; i < members.Count; i++)
                    {
                        current = members[i];
                        int passes = 0;
                        TimeSpan pass;
                        do
                        {
                            cancel.ThrowIfCancellationRequested();
                            long start = Stopwatch.GetTimestamp();
                            Syncfs.Flush(fds[i], members[i].OpenPath);
                            pass = Elapsed(start);
                            passes++;
                        }
                        while (FlushPolicy.FlushAgain(passes, pass));
                    }
                }
                for (int i = 0; i < members.Count; i++)
                {
                    cancel.ThrowIfCancellationRequested();
                    current = members[i];
                    long start = Stopwatch.GetTimestamp();
                    FreezeIoctl.Freeze(fds[i], members[i].OpenPath);
                    var member = new HeldMember(members[i], fds[i], DateTime.Now, Elapsed(start));
                    fds[i] = null!; // owned by the member now
                    set._held.Add(member);
                    onFrozen?.Invoke(member);
                }
                return set;
            }
            catch (Exception e) when (e is NativeException || e is FsFreezeException || e is OperationCanceledException)
            {
                foreach (var fd in fds) fd?.Dispose();
                var rollback = set.ThawAll();
                set.Dispose();
                throw RolledBack(e, current, rollback);
            }
        }

        /// <summary>Thaws every held member, last frozen first; one failure does not stop the others.</summary>
        public IReadOnlyList<ThawResult> ThawAll() => ThawInReverse(_held);

        /// <summary>
        /// The one reverse-order thaw (this set's, the watchdog's, a scope's): last frozen first, so a parent thaws before
        /// what is nested in it and an image's host before the loop filesystem on it. Members already thawed (or let go)
        /// are skipped; with a device, only that member. One failure does not stop the others.
        /// </summary>
        public static List<ThawResult> ThawInReverse(IReadOnlyList<HeldMember> held, string device = "")
        {
            var results = new List<ThawResult>(held.Count);
            for (int i = held.Count - 1; i >= 0; i--)
            {
                var m = held[i];
                if (m.IsThawed || (device.Length > 0 && m.Filesystem.Device != device)) continue;
                results.Add(m.Thaw());
            }
            return results;
        }

        public void Dispose()
        {
            foreach (var m in _held) m.Dispose();
        }

        /// <summary>Thaws one filesystem through a fresh descriptor that must reach the same mount (the freeze was made elsewhere).</summary>
        public static ThawResult Thaw(Filesystem fs)
        {
            try
            {
                using var fd = MountIdentity.OpenVerified(fs);
                FreezeIoctl.Thaw(fd, fs.OpenPath);
                return new ThawResult(fs, DateTime.Now, null);
            }
            catch (NativeException e)
            {
                return new ThawResult(fs, null, ErrorMessages.ForNative(e, fs.RequestedPath, fs));
            }
            catch (FsFreezeException e)
            {
                return new ThawResult(fs, null, e);
            }
        }

        internal static TimeSpan Elapsed(long startTimestamp)
            => TimeSpan.FromTicks((long)((Stopwatch.GetTimestamp() - startTimestamp) * (double)TimeSpan.TicksPerSecond / Stopwatch.Frequency));

        private static Exception RolledBack(Exception e, Filesystem? failed, IReadOnlyList<ThawResult> rollback)
        {
            if (e is OperationCanceledException) return e;
            var error = e is NativeException n && failed != null ? ErrorMessages.ForNative(n, failed.RequestedPath, failed)
                : e as FsFreezeException
                ?? new FsFreezeException(FreezeErrorKind.IoError, failed?.RequestedPath ?? "", e.Message, e);
            if (rollback.Count == 0)
            {
                return new FsFreezeException(error.Kind, error.Path, error.Message + " Nothing was frozen.", error.InnerException);
            }
            var thawed = new List<string>();
            var stuck = new List<string>();
            foreach (var r in rollback)
            {
                if (r.Error == null) thawed.Add(r.Filesystem.MountPoint);
                else stuck.Add($"'{r.Filesystem.MountPoint}' ({r.Error.Message})");
            }
            string tail = thawed.Count > 0 ? $" FsFreeze thawed again what this call had frozen ('{string.Join("', '", thawed)}'), so nothing is left frozen." : "";
            if (stuck.Count > 0)
            {
                tail += $" It could NOT thaw {string.Join("; ", stuck)}: those are still frozen, run Invoke-FsThaw on them.";
            }
            return new FsFreezeException(error.Kind, error.Path, error.Message + tail, error.InnerException)
            {
                StillFrozen = rollback.Where(r => r.Error != null).Select(r => r.Filesystem.Device).ToList(),
            };
        }
    }

    /// <summary>A member this process froze and still holds a descriptor on.</summary>
    internal sealed class HeldMember : IDisposable
    {
        private readonly object _gate = new object();
        private FileDescriptorHandle? _fd;

        internal HeldMember(Filesystem fs, FileDescriptorHandle fd, DateTime frozenAt, TimeSpan freezeTime)
        {
            Filesystem = fs;
            _fd = fd;
            FrozenAt = frozenAt;
            FreezeTime = freezeTime;
        }

        public Filesystem Filesystem { get; }
        public DateTime FrozenAt { get; }

        /// <summary>How long FIFREEZE itself took: the stall it added for writers of this filesystem.</summary>
        public TimeSpan FreezeTime { get; }

        public bool IsThawed { get; private set; }

        /// <summary>
        /// Thaws once. Safe to call from two threads (the watchdog's timer and its freezing worker): the
        /// second caller gets a no-op instead of a second FITHAW, which could thaw a freeze another tool
        /// made in between.
        /// </summary>
        public ThawResult Thaw()
        {
            lock (_gate)
            {
                if (IsThawed || _fd == null) return new ThawResult(Filesystem, null, null);
                try
                {
                    FreezeIoctl.Thaw(_fd, Filesystem.OpenPath);
                    IsThawed = true;
                    ThawedAt = DateTime.Now;
                    return new ThawResult(Filesystem, ThawedAt, null);
                }
                catch (NativeException e)
                {
                    // EINVAL: no longer frozen (someone thawed our freeze, e.g. fsfreeze -u). Never FITHAW it again:
                    // by then a new freeze on it would be another tool's.
                    if (e.Errno == Mono.Unix.Native.Errno.EINVAL) IsThawed = true;
                    return new ThawResult(Filesystem, null, ErrorMessages.ForNative(e, Filesystem.RequestedPath, Filesystem));
                }
            }
        }

        public DateTime? ThawedAt { get; private set; }

        /// <summary>Thawed elsewhere through FsFreeze (Invoke-FsThaw of this freeze): never FITHAW it again from here.</summary>
        public void Release()
        {
            lock (_gate) { IsThawed = true; }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _fd?.Dispose();
                _fd = null;
            }
        }
    }

    internal sealed class ThawResult
    {
        public ThawResult(Filesystem fs, DateTime? thawedAt, FsFreezeException? error)
        {
            Filesystem = fs;
            ThawedAt = thawedAt;
            Error = error;
        }

        public Filesystem Filesystem { get; }
        public DateTime? ThawedAt { get; }
        public FsFreezeException? Error { get; }
    }
}
