using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Threading;
using FsFreeze.Native;

namespace FsFreeze
{
    /// <summary>
    /// Freezes a planned set all or nothing, wave by wave (see <see cref="FilesystemResolver.Plan"/>): the members of a
    /// wave are flushed side by side, then frozen side by side, so a member's writers wait for its own FIFREEZE and not
    /// for every other member's sync. Thaw goes in reverse waves, side by side within a wave.
    /// The descriptors stay open while the set is held, so the thaw needs no open() and the
    /// filesystems cannot be unmounted frozen underneath us.
    /// </summary>
    internal sealed class FreezeSet : IDisposable
    {
        private readonly List<HeldMember> _held = new List<HeldMember>();
        private readonly Crew _crew = new Crew();

        private FreezeSet() { }

        /// <summary>Members frozen so far, in plan order.</summary>
        public IReadOnlyList<HeldMember> Members => _held;

        /// <summary>The threads that froze the set, parked: the thaw uses them again instead of starting new ones in the window.</summary>
        internal Crew Crew => _crew;

        /// <param name="members">in plan order, each with its wave (see <see cref="FilesystemResolver.Plan"/>)</param>
        /// <param name="flush">syncfs each member first, while its writers can still run, so FIFREEZE has little left to write (see <see cref="FlushPolicy"/>)</param>
        /// <param name="onFrozen">called right after each FIFREEZE succeeds (the watchdog reports progress through it), from the
        /// thread that froze that member: members of one wave call it from several threads at once</param>
        /// <param name="cancel">checked before each member's flush pass and FIFREEZE: a FIFREEZE already entered runs to its end,
        /// then what froze is thawed again</param>
        public static FreezeSet Freeze(IReadOnlyList<Filesystem> members, bool flush,
            Action<HeldMember>? onFrozen = null, CancellationToken cancel = default)
        {
            var set = new FreezeSet();
            var fds = new FileDescriptorHandle?[members.Count];
            var held = new HeldMember?[members.Count];
            Filesystem? current = null;
            try
            {
                for (int i = 0; i < members.Count; i++)
                {
                    current = members[i];
                    // The descriptor must be on the planned mount, or the path was swapped since it was checked.
                    fds[i] = MountIdentity.OpenVerified(members[i]);
                }
                var waves = WavesOf(members);
                if (flush)
                {
                    // Wave by wave too: a loop filesystem's flush writes into its image, on a member of a later wave.
                    foreach (var wave in waves)
                    {
                        var errors = set._crew.Run(wave.Count, k =>
                        {
                            int i = wave[k];
                            int passes = 0;
                            TimeSpan pass;
                            do
                            {
                                cancel.ThrowIfCancellationRequested();
                                long start = Stopwatch.GetTimestamp();
                                Syncfs.Flush(fds[i]!, members[i].OpenPath);
                                pass = Elapsed(start);
                                passes++;
                            }
                            while (FlushPolicy.FlushAgain(passes, pass));
                        });
                        ThrowFirst(errors, wave, members, ref current);
                    }
                }
                foreach (var wave in waves)
                {
                    cancel.ThrowIfCancellationRequested();
                    var errors = set._crew.Run(wave.Count, k =>
                    {
                        int i = wave[k];
                        cancel.ThrowIfCancellationRequested();
                        long start = Stopwatch.GetTimestamp();
                        FreezeIoctl.Freeze(fds[i]!, members[i].OpenPath);
                        var member = new HeldMember(members[i], fds[i]!, DateTime.UtcNow, Elapsed(start), i);
                        fds[i] = null; // owned by the member now
                        held[i] = member;
                        onFrozen?.Invoke(member);
                    });
                    // Held in plan order, whichever thread froze first.
                    foreach (var i in wave) if (held[i] != null) set._held.Add(held[i]!);
                    ThrowFirst(errors, wave, members, ref current);
                }
                return set;
            }
            catch (Exception e)
            {
                foreach (var fd in fds) fd?.Dispose();
                // Whatever went wrong (an error, Ctrl+C, the watchdog's deadline, a bug): thaw what froze, in reverse waves.
                var rollback = set.ThawAll();
                set.Dispose();
                if (e is NativeException || e is FsFreezeException || e is OperationCanceledException) throw RolledBack(e, current, rollback);
                ExceptionDispatchInfo.Capture(e).Throw();
                throw;
            }
        }

        /// <summary>The members' indices grouped by wave, lowest wave first, plan order within a wave.</summary>
        internal static List<List<int>> WavesOf(IReadOnlyList<Filesystem> members)
        {
            var byWave = new SortedDictionary<int, List<int>>();
            for (int i = 0; i < members.Count; i++)
            {
                if (!byWave.TryGetValue(members[i].Wave, out var list)) byWave[members[i].Wave] = list = new List<int>();
                list.Add(i);
            }
            return byWave.Values.ToList();
        }

        /// <summary>
        /// The error that fails the set, once every step of the wave has returned: the first real error in plan order; a
        /// cancellation only when nothing else went wrong (a watchdog that timed out cancels the members still freezing).
        /// </summary>
        private static void ThrowFirst(Exception?[] errors, List<int> wave, IReadOnlyList<Filesystem> members, ref Filesystem? current)
        {
            int chosen = -1;
            for (int k = 0; k < errors.Length; k++)
            {
                if (errors[k] == null) continue;
                if (chosen < 0 || (errors[chosen] is OperationCanceledException && errors[k] is not OperationCanceledException)) chosen = k;
            }
            if (chosen < 0) return;
            current = members[wave[chosen]];
            ExceptionDispatchInfo.Capture(errors[chosen]!).Throw();
        }

        /// <summary>Thaws every held member: reverse waves, side by side within a wave; one failure does not stop the others.</summary>
        public IReadOnlyList<ThawResult> ThawAll() => ThawInReverse(_held, crew: _crew);

        /// <summary>
        /// The one reverse-order thaw (this set's, the watchdog's, a scope's): the last wave first, its members side by
        /// side, so a parent thaws before what is nested in it and an image's host before the loop filesystem on it.
        /// Members already thawed (or let go) are skipped; with a device, only that member; with devices, only those.
        /// One failure does not stop the others. Results come last wave first, in reverse plan order within a wave.
        /// </summary>
        public static List<ThawResult> ThawInReverse(IReadOnlyList<HeldMember> held, string device = "", Crew? crew = null,
            ICollection<string>? devices = null)
        {
            var byWave = new SortedDictionary<int, List<HeldMember>>(Comparer<int>.Create((a, b) => b.CompareTo(a)));
            for (int i = held.Count - 1; i >= 0; i--)
            {
                var m = held[i];
                if (m.IsThawed || (device.Length > 0 && m.Filesystem.Device != device) || (devices != null && !devices.Contains(m.Filesystem.Device))) continue;
                if (!byWave.TryGetValue(m.Wave, out var list)) byWave[m.Wave] = list = new List<HeldMember>();
                list.Add(m);
            }
            var results = new List<ThawResult>(held.Count);
            Crew? own = null;
            try
            {
                foreach (var wave in byWave.Values)
                {
                    var done = new ThawResult?[wave.Count];
                    if (wave.Count > 1) crew ??= own = new Crew();
                    var errors = (crew ?? NoCrew).Run(wave.Count, k => done[k] = wave[k].Thaw());
                    for (int k = 0; k < wave.Count; k++)
                    {
                        // HeldMember.Thaw reports every kernel error in its result; anything else is a bug: report it, never skip the member.
                        results.Add(done[k] ?? new ThawResult(wave[k].Filesystem, null, new FsFreezeException(FreezeErrorKind.IoError,
                            wave[k].Filesystem.RequestedPath, $"Thawing '{wave[k].Filesystem.MountPoint}' failed: {errors[k]?.Message}", errors[k])));
                    }
                }
            }
            finally
            {
                own?.Dispose();
            }
            return results;
        }

        private static readonly Crew NoCrew = new Crew(); // only ever runs jobs of one step, on the caller's thread

        public void Dispose()
        {
            _crew.Dispose();
            foreach (var m in _held) m.Dispose();
        }

        /// <summary>Thaws one filesystem through a fresh descriptor that must reach the same mount (the freeze was made elsewhere).</summary>
        public static ThawResult Thaw(Filesystem fs)
        {
            try
            {
                using var fd = MountIdentity.OpenVerified(fs);
                FreezeIoctl.Thaw(fd, fs.OpenPath);
                return new ThawResult(fs, DateTime.UtcNow, null);
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

        internal HeldMember(Filesystem fs, FileDescriptorHandle fd, DateTime frozenAt, TimeSpan freezeTime, int index)
        {
            Filesystem = fs;
            Index = index;
            _fd = fd;
            FrozenAt = frozenAt;
            FreezeTime = freezeTime;
        }

        public Filesystem Filesystem { get; }
        public DateTime FrozenAt { get; }

        /// <summary>Its place in the plan the set was frozen from.</summary>
        public int Index { get; }

        /// <summary>Its freeze wave: thawed with the others of its wave, after every later wave.</summary>
        public int Wave => Filesystem.Wave;

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
                    ThawedAt = DateTime.UtcNow;
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
