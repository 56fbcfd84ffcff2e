using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using FsFreeze.Native;
using FsFreeze.Protocol;
using FsFreeze.State;
using FsFreeze.Watchdog.Native;

namespace FsFreeze.Watchdog
{
    /// <summary>
    /// One freeze with a deadline. The deadline is armed before the first FIFREEZE; a worker thread freezes (FIFREEZE
    /// can block; the members of a wave freeze side by side on threads of its own) while this thread keeps time, so a
    /// stuck FIFREEZE cannot delay the thaw of what is already frozen. Afterwards this thread serves thaw/reset/status on
    /// its abstract socket, and for a Use-FsFreeze scope on its control pipe (stdin/stdout), until the set is thawed: by
    /// request, by the deadline, by SIGTERM, or (for a scope) by its freezer's death or the end of its pipe.
    /// Nothing is written inside the frozen window on the way to a thaw: the record's proof that the members froze is
    /// written by the worker thread after "ready", and a thaw never waits for a record write.
    /// </summary>
    internal sealed partial class Watchdog
    {
        /// <summary>How often the serving loop looks at the clock, the stop flag and the freezer, at the least.</summary>
        private const int SliceMs = 200;

        private readonly SpawnRequest _request;
        private readonly Handshake _handshake;
        private readonly PipeEnd? _control;
        private readonly RecordStore _store;
        private readonly object _gate = new object();
        private readonly List<HeldMember> _held = new List<HeldMember>();
        private readonly CancellationTokenSource _cancel = new CancellationTokenSource();
        private readonly ManualResetEventSlim _workerDone = new ManualResetEventSlim();
        private readonly ManualResetEventSlim _ended = new ManualResetEventSlim();

        /// <summary>How long the record waits for its proof (see FreezeWorker).</summary>
        private const int ProofDelayMs = 5;

        /// <summary>The last member's "frozen" line, sent with "ready" (see OnFrozen).</summary>
        private string? _lastFrozen;
        private readonly ManualResetEventSlim _stop;
        private readonly Standby _standby;
        private IReadOnlyList<Filesystem> _members = Array.Empty<Filesystem>();
        private readonly Dictionary<string, int> _indexOf = new Dictionary<string, int>(StringComparer.Ordinal);
        private FreezeSet? _set;
        private Exception? _workerError;
        private bool _timedOut;
        private bool _ready; // "ready" was sent: from then on the deadline is the serving loop's to keep
        private long _deadline; // Stopwatch timestamp; 0 = no deadline (reset to 0)
        private FreezeRecord _record = new FreezeRecord();
        private UnixSocket? _listener;

        // Record writes: taken (a copy, with a version) under _gate, written outside it, never an older one over a newer one.
        private readonly object _writeLock = new object();
        private long _version, _written;

        /// <param name="control">a scope's control pipe (stdin after the request); null otherwise</param>
        /// <param name="standby">the worker thread, socket and stop flag made before the request came</param>
        public Watchdog(SpawnRequest request, Handshake handshake, PipeEnd? control, Standby standby)
        {
            _request = request;
            _handshake = handshake;
            _control = control;
            _standby = standby;
            _stop = standby.Stop;
            _store = new RecordStore(request.StateDir);
        }

        private string FirstPath => _request.Members[0].RequestedPath;

        public int Run()
        {
            try
            {
                return RunChecked();
            }
            catch (Exception e)
            {
                _standby.Start(null); // a worker still waiting for its work ends
                // A bug must not leave a filesystem frozen with no timer: thaw everything held, then say why.
                List<ThawResult> results;
                lock (_gate)
                {
                    _timedOut = true;
                    _cancel.Cancel();
                    results = ThawHeldLocked(FreezeState.Thawed);
                }
                RunThawHooksOnce(HookRunner.ReasonAborted, report: true);
                _handshake.Send(new Failure(new FsFreezeException(FreezeErrorKind.WatchdogFailed, FirstPath,
                    $"The watchdog failed ({e.GetType().Name}: {e.Message}) and thawed what it held ({Names(results)}).", e)).Format());
                _handshake.Close();
                Syslog.Write(Syslog.Error, $"freeze {_request.Id}: watchdog failed ({e}); thawed {Names(results)}.");
                try { End(FreezeState.Thawed); } catch (Exception) { }
                return 4;
            }
        }

        private int RunChecked()
        {
            if (!RunFreezeHooks()) return 1;
            try
            {
                Prepare();
            }
            catch (FsFreezeException e)
            {
                // The record goes before the answer: once the freezer hears "failed", no record of this freeze may remain.
                _store.Delete(_request.Id);
                RunThawHooksOnce(HookRunner.ReasonAborted, report: true);
                _handshake.Send(new Failure(e).Format());
                _standby.Start(null);
                return 2;
            }

            var worker = _standby.Worker;
            _standby.Start(FreezeWorker);

            // Freezing: wait for the worker, the deadline, or a stop request, whichever comes first.
            while (!_workerDone.IsSet)
            {
                int wait = MillisecondsLeft();
                if (wait == 0 || _stop.IsSet) break;
                WaitHandle.WaitAny(new[] { _workerDone.WaitHandle, _stop.WaitHandle }, wait);
            }
            if (!_workerDone.IsSet && AbandonWhileFreezing(worker) is int code)
            {
                return code;
            }
            _workerDone.Wait(); // "ready" was sent just now: the worker is about to finish
            if (_workerError != null)
            {
                var error = _workerError as FsFreezeException
                    ?? new FsFreezeException(FreezeErrorKind.IoError, FirstPath, _workerError.Message, _workerError);
                // All or nothing. What a failed rollback left frozen stays recorded, so it can be thawed as this freeze's;
                // anything else of this freeze is gone from the store before the freezer hears that it failed.
                if (error.StillFrozen.Count == 0) _store.Delete(_request.Id);
                else
                {
                    lock (_gate)
                    {
                        _record.Members.RemoveAll(m => !error.StillFrozen.Contains(m.Device));
                        foreach (var m in _record.Members) m.FrozenAtUtc ??= DateTime.UtcNow;
                    }
                    TrySave();
                }
                RunThawHooksOnce(HookRunner.ReasonAborted, report: true);
                _handshake.Send(new Failure(error).Format());
                return 1;
            }

            // Frozen: the worker has sent "ready" (see FreezeWorker). A scope keeps stdout for the replies on its control
            // pipe; otherwise the freezer sees end of stream now.
            if (_control == null) _handshake.Close();
            else _handshake.CloseErrors();
            return Serve();
        }

        /// <summary>Checks the state directory, finds the planned mounts, arms the deadline, listens, writes the record: all before any FIFREEZE.</summary>
        private void Prepare()
        {
            _store.PrepareForWriting();
            var table = MountTable.Read();
            var members = new List<Filesystem>();
            foreach (var m in _request.Members)
            {
                // pwsh planned the set; the mount table may have changed since. Freeze only what it planned: the same
                // mount (id) of the same filesystem (device). The open is checked against that mount id again.
                var mount = table.FindById(m.MountId);
                if (mount == null || mount.Device != m.Device)
                {
                    throw new FsFreezeException(FreezeErrorKind.PathChanged, m.RequestedPath,
                        $"'{m.RequestedPath}' is no longer on the filesystem {m.Device} that was planned (the mount table changed). Nothing was frozen; run the freeze again.");
                }
                members.Add(new Filesystem(mount, m.OpenPath, m.RequestedPath) { Wave = m.Wave });
            }
            _members = members;
            for (int i = 0; i < members.Count; i++) _indexOf[members[i].Device] = i;

            ArmDeadline(_request.TimeoutSec);
            _record = new FreezeRecord
            {
                Id = _request.Id,
                Watchdog = ProcessIdentity.Of(Environment.ProcessId),
                Freezer = _request.Freezer,
                Scope = _request.Scope,
                TimeoutSec = _request.TimeoutSec,
                DeadlineUtc = DeadlineUtc(),
                CreatedUtc = DateTime.UtcNow,
            };
            foreach (var fs in members) _record.Members.Add(RecordedMember.Of(fs));
            AttachHooks(_record);
            try
            {
                Listen();
            }
            catch (IOException e)
            {
                throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, FirstPath,
                    $"The watchdog could not listen on its socket: {e.Message}. Nothing was frozen.", e);
            }
            _store.Save(_record);
        }

        private void FreezeWorker()
        {
            bool ready = false;
            try
            {
                _set = FreezeSet.Freeze(_members, _request.Flush, OnFrozen, _cancel.Token);
                // Straight from here, the moment the last FIFREEZE returned: no hand-off to the main thread in the window.
                // Not once the deadline (or a stop) has taken over: then the main thread answers, with what it thawed.
                lock (_gate)
                {
                    if (!_timedOut)
                    {
                        foreach (var m in _held)
                        {
                            var rm = _record.FindMember(m.Filesystem.Device);
                            if (rm != null) rm.FrozenAtUtc = m.FrozenAt;
                        }
                        var readyLine = new Ready(WatchdogProtocol.Version, Environment.ProcessId, _record.DeadlineUtc).Format();
                        var last = Interlocked.Exchange(ref _lastFrozen, null);
                        _handshake.Send(last != null ? last + "\n" + readyLine : readyLine);
                        _ready = ready = true;
                    }
                }
            }
            catch (Exception e)
            {
                _workerError = e;
            }
            finally
            {
                // A member that froze is always reported (the freezer thaws what it heard of should this process die).
                if (Interlocked.Exchange(ref _lastFrozen, null) is string last) _handshake.Send(last);
                _workerDone.Set();
            }
            if (!ready) return;
            // The proof that every member froze (FrozenAtUtc): needed for a direct thaw should this process die. Its freezer
            // is alive meanwhile (it has just heard "ready", and returns or runs its scope), which proves the freeze as well
            // (FreezeEngine.ThawMember); so the proof waits a little: a short freeze ends first, and nothing is written next
            // to its window. A thaw never waits for it.
            _ended.Wait(ProofDelayMs);
            TrySave();
        }

        /// <summary>On a freezing thread, right after each FIFREEZE: members of a wave report from several threads at once.</summary>
        private void OnFrozen(HeldMember member)
        {
            int index;
            lock (_gate)
            {
                if (_timedOut)
                {
                    // The deadline (or a stop) came while this FIFREEZE was blocked: undo it at once.
                    member.Thaw();
                    var rm = _record.FindMember(member.Filesystem.Device);
                    if (rm != null) { rm.FrozenAtUtc = member.FrozenAt; rm.State = FreezeState.ThawedByTimeout; rm.ThawedAtUtc = DateTime.UtcNow; }
                    throw new OperationCanceledException();
                }
                _held.Add(member);
                index = _indexOf[member.Filesystem.Device];
                if (_held.Count == _members.Count)
                {
                    // The last member: its line goes out with "ready", in one write (one wake-up of the freezer, not two).
                    _lastFrozen = new MemberFrozen(index, member.FrozenAt, member.FreezeTime).Format();
                    return;
                }
            }
            _handshake.Send(new MemberFrozen(index, member.FrozenAt, member.FreezeTime).Format());
        }

        /// <summary>The deadline (or a stop request) came while a FIFREEZE was still blocked. Null when the set froze meanwhile ("ready" was sent).</summary>
        private int? AbandonWhileFreezing(Thread worker)
        {
            bool byTimeout = !_stop.IsSet;
            List<ThawResult> thawed;
            string stuck;
            lock (_gate)
            {
                if (_ready) return null;
                _timedOut = true;
                _cancel.Cancel();
                thawed = ThawHeldLocked(byTimeout ? FreezeState.ThawedByTimeout : FreezeState.Thawed);
                stuck = Stuck();
            }
            var what = thawed.Count > 0 ? $" It thawed what was already frozen ({Names(thawed)})." : " Nothing else was frozen yet.";
            var message = (byTimeout
                ? $"The freeze timed out after {_request.TimeoutSec} s while FIFREEZE on {stuck} was still blocked (slow storage, or a loop device whose backing filesystem is frozen)."
                : $"The watchdog was told to stop while FIFREEZE on {stuck} was still blocked.")
                + what + " The blocked member is thawed as soon as its FIFREEZE returns.";
            RunThawHooksOnce(HookRunner.ReasonAborted, report: true);
            _handshake.Send(new Failure(new FsFreezeException(FreezeErrorKind.ThawedByTimeout, FirstPath, message)).Format());
            _handshake.Close();
            Syslog.Write(Syslog.Warning, $"freeze {_request.Id}: {message}");
            worker.Join(); // may take as long as the stuck FIFREEZE: then OnFrozen thaws it
            End(byTimeout ? FreezeState.ThawedByTimeout : FreezeState.Thawed);
            return 3;
        }

        /// <summary>The members whose FIFREEZE has not returned: the unheld ones of the first wave not wholly held. Caller holds _gate.</summary>
        private string Stuck()
        {
            var held = new HashSet<string>(_held.Select(m => m.Filesystem.Device), StringComparer.Ordinal);
            foreach (var wave in FreezeSet.WavesOf(_members))
            {
                var missing = wave.Where(i => !held.Contains(_members[i].Device)).Select(i => _members[i].ToString()).ToList();
                if (missing.Count > 0) return string.Join(", ", missing);
            }
            return "the next member";
        }

        private void ArmDeadline(long seconds)
        {
            _deadline = seconds == 0 ? 0 : Stopwatch.GetTimestamp() + seconds * Stopwatch.Frequency;
        }

        private DateTime? DeadlineUtc()
            => _deadline == 0 ? null : DateTime.UtcNow.AddTicks((long)((_deadline - Stopwatch.GetTimestamp()) * (double)TimeSpan.TicksPerSecond / Stopwatch.Frequency));

        /// <summary>Time to the deadline in ms (0 = passed); Timeout.Infinite with no deadline.</summary>
        private int MillisecondsLeft()
        {
            if (_deadline == 0) return Timeout.Infinite;
            long left = _deadline - Stopwatch.GetTimestamp();
            if (left <= 0) return 0;
            return (int)Math.Max(1, Math.Min(int.MaxValue, left * 1000 / Stopwatch.Frequency));
        }

        /// <summary>An abstract socket: nothing in the state directory to delete or plant; gone when this process is.</summary>
        private void Listen()
        {
            _listener = _standby.Listener;
            _listener.Listen(WatchdogProtocol.SocketName(_request.Id), 16);
        }

        /// <summary>
        /// Writes the record as it is now: copied under _gate, written outside it (a thaw never waits for a write), and
        /// never an older copy over a newer one. With <paramref name="end"/>, the freeze ends (renamed to its outcome first).
        /// A held record is written only while it is held: once it has ended, only its end writes it.
        /// </summary>
        private void Persist(FreezeState? end)
        {
            FreezeRecord copy;
            long version;
            lock (_gate)
            {
                if (end is FreezeState how) { _record.State = how; _record.EndedUtc ??= DateTime.UtcNow; }
                else if (!_record.IsHeld) return;
                copy = _record.Clone();
                version = ++_version;
            }
            lock (_writeLock)
            {
                // A newer copy already written holds every change this one holds (versions are taken in _gate's order).
                if (version <= _written) return;
                if (end is FreezeState h) _store.End(copy, h, w => Syslog.Write(Syslog.Error, $"freeze {_request.Id}: {w}"));
                else _store.Save(copy); // throws: the written version stays the older one
                _written = version;
            }
        }

        private void TrySave()
        {
            try { Persist(end: null); }
            catch (FsFreezeException e) { Syslog.Write(Syslog.Error, $"freeze {_request.Id}: {e.Message}"); }
        }

        /// <summary>The record says how the freeze ended (a rename first: that works even in a full directory). Then let go of everything.</summary>
        private void End(FreezeState how)
        {
            Persist(how);
            _ended.Set();
            Cleanup();
        }

        private void Cleanup()
        {
            _listener?.Dispose();
            _listener = null;
            _set?.Dispose();
            _control?.Dispose();
        }

        private static string Names(List<ThawResult> results)
            => results.Count == 0 ? "nothing" : string.Join(", ", results.ConvertAll(r => r.Filesystem.MountPoint));
    }
}
