using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using FsFreeze.Native;
using FsFreeze.Watchdog.Native;

namespace FsFreeze.Watchdog
{
    /// <summary>
    /// One freeze with a deadline. The deadline is armed before the first FIFREEZE; a worker thread freezes
    /// (FIFREEZE can block) while this thread keeps time, so a stuck FIFREEZE cannot delay the thaw of what is
    /// already frozen. Afterwards this thread serves reset/thaw requests on a Unix socket until the set is
    /// thawed, by request or by the deadline.
    /// </summary>
    internal sealed class Watchdog
    {
        private readonly WatchdogRequest _request;
        private readonly Handshake _handshake;
        private readonly StateDirectory _dir;
        private readonly object _gate = new object();
        private readonly List<HeldMember> _held = new List<HeldMember>();
        private readonly CancellationTokenSource _cancel = new CancellationTokenSource();
        private readonly ManualResetEventSlim _workerDone = new ManualResetEventSlim();
        private readonly ManualResetEventSlim _stop = new ManualResetEventSlim();
        private IReadOnlyList<Filesystem> _members = Array.Empty<Filesystem>();
        private FreezeSet? _set;
        private Exception? _workerError;
        private bool _timedOut;
        private long _deadline; // Stopwatch timestamp; 0 = no deadline (reset to 0)
        private FreezeRecord _record = new FreezeRecord();
        private Socket? _listener;

        public Watchdog(WatchdogRequest request, Handshake handshake)
        {
            _request = request;
            _handshake = handshake;
            _dir = new StateDirectory(request.StateDir);
        }

        public void RequestStop() => _stop.Set();

        public int Run()
        {
            try
            {
                return RunChecked();
            }
            catch (Exception e)
            {
                // A bug must not leave a filesystem frozen with no timer: thaw everything held, then say why.
                List<ThawResult> results;
                lock (_gate)
                {
                    _timedOut = true;
                    _cancel.Cancel();
                    results = ThawHeldLocked(FreezeState.Thawed);
                }
                _handshake.Send(WatchdogProtocol.ErrorLine(new FsFreezeException(FreezeErrorKind.WatchdogFailed, _request.Members[0].RequestedPath,
                    $"The watchdog failed ({e.GetType().Name}: {e.Message}) and thawed what it held ({Names(results)}).", e)));
                _handshake.Close();
                Syslog.Write(Syslog.Error, $"freeze {_request.Id}: watchdog failed ({e}); thawed {Names(results)}.");
                try { Cleanup(keepRecord: false); } catch (Exception) { }
                return 4;
            }
        }

        private int RunChecked()
        {
            try
            {
                Prepare();
            }
            catch (FsFreezeException e)
            {
                _handshake.Send(WatchdogProtocol.ErrorLine(e));
                Cleanup(keepRecord: false);
                return 2;
            }

            var worker = new Thread(FreezeWorker) { Name = "freeze", IsBackground = false };
            worker.Start();

            // Freezing: wait for the worker, the deadline, or a stop request, whichever comes first.
            while (!_workerDone.IsSet)
            {
                int wait = MillisecondsLeft();
                if (wait == 0 || _stop.IsSet) break;
                WaitHandle.WaitAny(new[] { _workerDone.WaitHandle, _stop.WaitHandle }, wait);
            }
            if (!_workerDone.IsSet)
            {
                return AbandonWhileFreezing(worker);
            }
            if (_workerError != null)
            {
                var error = _workerError as FsFreezeException
                    ?? new FsFreezeException(FreezeErrorKind.IoError, _members[0].RequestedPath, _workerError.Message, _workerError);
                _handshake.Send(WatchdogProtocol.ErrorLine(error));
                Cleanup(keepRecord: false);
                return 1;
            }

            // Frozen: record it, tell the freezer, then serve until thawed.
            lock (_gate)
            {
                foreach (var m in _held)
                {
                    var rm = _record.FindMember(m.Filesystem.Device);
                    if (rm != null) rm.FrozenAtUtc = m.FrozenAt.ToUniversalTime();
                }
            }
            SaveRecord();
            _handshake.Send(LineCodec.Join(WatchdogProtocol.Ok, WatchdogProtocol.Num(ProcessSetup.GetPid()), FreezeRecord.Ticks(_record.DeadlineUtc)));
            _handshake.Close();
            return Serve();
        }

        /// <summary>Checks the state directory, re-reads the members, arms the deadline, writes the record: all before any FIFREEZE.</summary>
        private void Prepare()
        {
            // The first DateTime.Now loads the time zone from /etc/localtime: do it now, not in the frozen window.
            _ = DateTime.Now;
            _dir.Ensure();
            var table = MountTable.Read();
            var members = new List<Filesystem>();
            foreach (var (openPath, device, requestedPath) in _request.Members)
            {
                // pwsh planned the set; the mount table may have changed since. Freeze only what it planned.
                string canonical;
                try { canonical = RealPath.Resolve(openPath); }
                catch (NativeException e) { throw ErrorMessages.ForNative(e, requestedPath, null); }
                var mount = table.FindByPath(canonical);
                if (mount == null || mount.Device != device)
                {
                    throw new FsFreezeException(FreezeErrorKind.PathNotFound, requestedPath,
                        $"'{openPath}' is no longer on the filesystem {device} that was planned (the mount table changed). Nothing was frozen; run the freeze again.");
                }
                members.Add(new Filesystem(mount, canonical, requestedPath));
            }
            _dir.CheckNotIn(members, table);
            _members = members;

            ArmDeadline(_request.TimeoutSec);

            _record = new FreezeRecord
            {
                Id = _request.Id,
                State = FreezeState.Frozen,
                Watchdog = ProcessIdentity.Of(ProcessSetup.GetPid()),
                Freezer = ProcessIdentity.Of(_request.FreezerPid),
                TimeoutSec = _request.TimeoutSec,
                DeadlineUtc = DeadlineUtc(),
                CreatedUtc = DateTime.UtcNow,
                File = _dir.RecordPath(_request.Id),
            };
            foreach (var fs in members)
            {
                _record.Members.Add(new RecordedMember { MountPoint = fs.MountPoint, Device = fs.Device, FileSystemType = fs.FileSystemType, Source = fs.Source, Identity = fs.Identity });
            }
            FreezeRegistry.ForgetTombstones(_dir, members);
            try
            {
                Listen();
                SaveRecord();
            }
            catch (Exception e) when (e is IOException || e is SocketException || e is UnauthorizedAccessException || e is NativeException)
            {
                throw new FsFreezeException(FreezeErrorKind.WatchdogFailed, _members[0].RequestedPath,
                    $"The watchdog could not set up its state in '{_dir.Path}': {e.Message}. Nothing was frozen.", e);
            }
        }

        private void FreezeWorker()
        {
            try
            {
                _set = FreezeSet.Freeze(_members, _request.Flush, OnFrozen, _cancel.Token);
            }
            catch (Exception e)
            {
                _workerError = e;
            }
            finally
            {
                _workerDone.Set();
            }
        }

        /// <summary>On the worker thread, right after each FIFREEZE.</summary>
        private void OnFrozen(HeldMember member)
        {
            int index;
            lock (_gate)
            {
                if (_timedOut)
                {
                    // The deadline passed while this FIFREEZE was blocked: undo it at once.
                    member.Thaw();
                    var rm = _record.FindMember(member.Filesystem.Device);
                    if (rm != null) { rm.FrozenAtUtc = member.FrozenAt.ToUniversalTime(); rm.State = FreezeState.ThawedByTimeout; rm.ThawedAtUtc = DateTime.UtcNow; }
                    throw new OperationCanceledException();
                }
                _held.Add(member);
                index = _held.Count - 1;
            }
            _handshake.Send(LineCodec.Join(WatchdogProtocol.Frozen, WatchdogProtocol.Num(index),
                FreezeRecord.Ticks(member.FrozenAt.ToUniversalTime()), WatchdogProtocol.Num(member.FreezeTime.Ticks)));
        }

        /// <summary>The deadline (or a stop request) came while a FIFREEZE was still blocked.</summary>
        private int AbandonWhileFreezing(Thread worker)
        {
            bool byTimeout = !_stop.IsSet;
            List<ThawResult> thawed;
            string stuck;
            lock (_gate)
            {
                _timedOut = true;
                _cancel.Cancel();
                thawed = ThawHeldLocked(byTimeout ? FreezeState.ThawedByTimeout : FreezeState.Thawed);
                stuck = _held.Count < _members.Count ? _members[_held.Count].ToString() : "the next member";
            }
            var what = thawed.Count > 0 ? $" It thawed what was already frozen ({Names(thawed)})." : " Nothing else was frozen yet.";
            var message = (byTimeout
                ? $"The freeze timed out after {_request.TimeoutSec} s while FIFREEZE on {stuck} was still blocked (slow storage, or a loop device whose backing filesystem is frozen)."
                : $"The watchdog was told to stop while FIFREEZE on {stuck} was still blocked.")
                + what + " The blocked member is thawed as soon as its FIFREEZE returns.";
            _handshake.Send(WatchdogProtocol.ErrorLine(new FsFreezeException(FreezeErrorKind.ThawedByTimeout, _members[0].RequestedPath, message)));
            _handshake.Close();
            if (byTimeout) WriteTombstone();
            Syslog.Write(Syslog.Warning, $"freeze {_request.Id}: {message}");
            worker.Join(); // may take as long as the stuck FIFREEZE: then OnFrozen thaws it
            if (byTimeout) WriteTombstone();
            Cleanup(keepRecord: byTimeout);
            return 3;
        }

        private int Serve()
        {
            while (true)
            {
                if (_stop.IsSet)
                {
                    List<ThawResult> results;
                    lock (_gate) { results = ThawHeldLocked(FreezeState.Thawed); }
                    Syslog.Write(Syslog.Notice, $"freeze {_request.Id}: stopped by a signal; thawed {Names(results)}.");
                    Cleanup(keepRecord: false);
                    return 0;
                }
                if (AllThawed())
                {
                    Cleanup(keepRecord: false);
                    return 0;
                }
                int left = MillisecondsLeft();
                if (left == 0)
                {
                    return FireTimeout();
                }
                int slice = Math.Min(left, 250); // also notices a stop request promptly
                if (_listener!.Poll(slice * 1000, SelectMode.SelectRead))
                {
                    Socket client;
                    try { client = _listener.Accept(); }
                    catch (SocketException) { continue; }
                    using (client) Handle(client);
                }
            }
        }

        private int FireTimeout()
        {
            List<ThawResult> results;
            lock (_gate)
            {
                _timedOut = true;
                results = ThawHeldLocked(FreezeState.ThawedByTimeout);
            }
            // Only now, with everything thawed, write anything or log.
            WriteTombstone();
            var failed = results.FindAll(r => r.Error != null);
            var message = $"freeze {_request.Id}: timeout of {_request.TimeoutSec} s (no thaw or reset) passed; thawed {Names(results.FindAll(r => r.Error == null))}"
                + (failed.Count > 0 ? $"; could not thaw: {string.Join("; ", failed.ConvertAll(f => f.Error!.Message))}" : "")
                + $". Freezer pid {_request.FreezerPid}{(_record.Freezer.IsAlive ? " is still running (stuck?)" : " is gone")}.";
            Syslog.Write(failed.Count > 0 ? Syslog.Error : Syslog.Warning, message);
            Cleanup(keepRecord: true);
            return 3;
        }

        /// <summary>Thaws every member still held, last frozen first, and records each outcome. Caller holds _gate.</summary>
        private List<ThawResult> ThawHeldLocked(FreezeState how)
        {
            var results = new List<ThawResult>();
            for (int i = _held.Count - 1; i >= 0; i--)
            {
                var m = _held[i];
                if (m.IsThawed) continue;
                var r = m.Thaw();
                results.Add(r);
                var rm = _record.FindMember(m.Filesystem.Device);
                if (rm != null && r.Error == null) { rm.State = how; rm.ThawedAtUtc = r.ThawedAt!.Value.ToUniversalTime(); }
            }
            return results;
        }

        private bool AllThawed()
        {
            lock (_gate) { return _held.TrueForAll(m => m.IsThawed); }
        }

        private void Handle(Socket client)
        {
            string reply;
            try
            {
                client.ReceiveTimeout = 2000;
                client.SendTimeout = 2000;
                var line = ReadLine(client);
                var f = LineCodec.Split(line);
                reply = f[0] switch
                {
                    WatchdogProtocol.Reset when f.Length > 1 => Reset(f[1]),
                    WatchdogProtocol.Thaw => Thaw(f.Length > 1 ? f[1] : ""),
                    _ => WatchdogProtocol.ErrorLine(new FsFreezeException(FreezeErrorKind.WatchdogFailed, "", $"Unknown request '{line}'.")),
                };
            }
            catch (FsFreezeException e)
            {
                reply = WatchdogProtocol.ErrorLine(e);
            }
            catch (Exception e) when (e is SocketException || e is ObjectDisposedException)
            {
                return; // a broken client: keep serving
            }
            catch (Exception e) when (e is IOException || e is FormatException || e is OverflowException || e is UnauthorizedAccessException)
            {
                reply = WatchdogProtocol.ErrorLine(new FsFreezeException(FreezeErrorKind.WatchdogFailed, "", $"The watchdog could not serve the request: {e.Message}", e));
            }
            try { client.Send(Encoding.UTF8.GetBytes(reply + "\n")); }
            catch (SocketException) { }
        }

        private string Reset(string secondsText)
        {
            long seconds = long.Parse(secondsText, System.Globalization.CultureInfo.InvariantCulture);
            FreezeTimeout.Validate(seconds, _members[0].MountPoint);
            if (AllThawed()) throw new FsFreezeException(FreezeErrorKind.NotFrozen, _members[0].MountPoint, "This freeze is already thawed.");
            ArmDeadline(seconds);
            _record.TimeoutSec = seconds;
            _record.DeadlineUtc = DeadlineUtc();
            SaveRecord();
            return LineCodec.Join(WatchdogProtocol.Ok, FreezeRecord.Ticks(_record.DeadlineUtc));
        }

        /// <summary>Thaws one member (by device) or, with no device, all of them in reverse freeze order. A thaw cancels the timer for what it thaws.</summary>
        private string Thaw(string device)
        {
            var lines = new StringBuilder(WatchdogProtocol.Ok);
            lock (_gate)
            {
                for (int i = _held.Count - 1; i >= 0; i--)
                {
                    var m = _held[i];
                    if (device.Length > 0 && m.Filesystem.Device != device) continue;
                    if (m.IsThawed)
                    {
                        if (device.Length > 0) throw new FsFreezeException(FreezeErrorKind.NotFrozen, m.Filesystem.MountPoint, $"'{m.Filesystem.MountPoint}' is already thawed.");
                        continue;
                    }
                    var r = m.Thaw();
                    var rm = _record.FindMember(m.Filesystem.Device);
                    lines.Append('\n');
                    if (r.Error != null)
                    {
                        lines.Append(LineCodec.Join(WatchdogProtocol.Failed, m.Filesystem.Device, r.Error.Kind.ToString(), r.Error.Message));
                        continue;
                    }
                    if (rm != null) { rm.State = FreezeState.Thawed; rm.ThawedAtUtc = r.ThawedAt!.Value.ToUniversalTime(); }
                    lines.Append(LineCodec.Join(WatchdogProtocol.Thawed, m.Filesystem.Device,
                        FreezeRecord.Ticks(r.ThawedAt!.Value.ToUniversalTime()), FreezeRecord.Ticks(m.FrozenAt.ToUniversalTime())));
                }
            }
            if (device.Length > 0 && !_held.Exists(m => m.Filesystem.Device == device))
            {
                throw new FsFreezeException(FreezeErrorKind.NotFrozen, device, $"Freeze {_request.Id} does not hold device {device}.");
            }
            // Before the reply: whoever asked may list the status next, and must not see this freeze any more.
            if (AllThawed()) StateDirectory.DeleteQuietly(_dir.RecordPath(_request.Id));
            else SaveRecord();
            return lines.ToString();
        }

        private static string ReadLine(Socket client)
        {
            var buffer = new byte[4096];
            var got = new MemoryStream();
            while (got.Length < 65536)
            {
                int n = client.Receive(buffer);
                if (n == 0) break;
                int nl = Array.IndexOf(buffer, (byte)'\n', 0, n);
                got.Write(buffer, 0, nl >= 0 ? nl : n);
                if (nl >= 0) break;
            }
            return Encoding.UTF8.GetString(got.ToArray());
        }

        private void ArmDeadline(long seconds)
        {
            _deadline = seconds == 0 ? 0 : Stopwatch.GetTimestamp() + seconds * Stopwatch.Frequency;
        }

        private DateTime? DeadlineUtc()
            => _deadline == 0 ? (DateTime?)null : DateTime.UtcNow.AddTicks((long)((_deadline - Stopwatch.GetTimestamp()) * (double)TimeSpan.TicksPerSecond / Stopwatch.Frequency));

        /// <summary>Time to the deadline in ms (0 = passed); Timeout.Infinite with no deadline.</summary>
        private int MillisecondsLeft()
        {
            if (_deadline == 0) return Timeout.Infinite;
            long left = _deadline - Stopwatch.GetTimestamp();
            if (left <= 0) return 0;
            return (int)Math.Max(1, Math.Min(int.MaxValue, left * 1000 / Stopwatch.Frequency));
        }

        private void Listen()
        {
            var path = _dir.SocketPath(_request.Id);
            StateDirectory.DeleteQuietly(path);
            _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            _listener.Bind(new UnixDomainSocketEndPoint(path));
            Posix.ChangeMode(path, 0x180 /* 0600 */);
            _listener.Listen(16);
        }

        private void SaveRecord()
        {
            lock (_gate) { _dir.WriteAtomically(_dir.RecordPath(_request.Id), _record.Serialize()); }
        }

        /// <summary>The tombstone: which devices the timeout thawed, and when, for later Invoke-FsThaw / Reset / Use-FsFreeze.</summary>
        private void WriteTombstone()
        {
            try
            {
                lock (_gate)
                {
                    _record.State = FreezeState.ThawedByTimeout;
                    _record.ThawedUtc ??= DateTime.UtcNow;
                    _dir.WriteAtomically(_dir.TombstonePath(_request.Id), _record.Serialize());
                }
                StateDirectory.DeleteQuietly(_dir.RecordPath(_request.Id));
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is NativeException)
            {
                Syslog.Write(Syslog.Error, $"freeze {_request.Id}: could not write the tombstone: {e.Message}");
            }
        }

        private void Cleanup(bool keepRecord)
        {
            try { _listener?.Dispose(); } catch (SocketException) { }
            StateDirectory.DeleteQuietly(_dir.SocketPath(_request.Id));
            if (!keepRecord) StateDirectory.DeleteQuietly(_dir.RecordPath(_request.Id));
            _set?.Dispose();
        }

        private static string Names(List<ThawResult> results)
            => results.Count == 0 ? "nothing" : string.Join(", ", results.ConvertAll(r => r.Filesystem.MountPoint));
    }
}
