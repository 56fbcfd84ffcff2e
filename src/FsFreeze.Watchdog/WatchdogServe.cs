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
    /// The serving half of a watchdog, once its set is frozen: thaw, reset and status requests on its abstract socket
    /// and (a scope) on its control pipe, the deadline, SIGTERM, and the end of its freezer, until nothing is held.
    /// </summary>
    internal sealed partial class Watchdog
    {
        private int Serve()
        {
            Span<Poll.Fd> fds = stackalloc Poll.Fd[2];
            while (true)
            {
                if (_stop.IsSet) return ThawAndExit(FreezeState.Thawed, "stopped by a signal (SIGTERM)", 0);
                if (AllThawed())
                {
                    Cleanup();
                    RunThawHooksOnce(HookRunner.ReasonThawed);
                    return 0;
                }
                int left = MillisecondsLeft();
                if (left == 0) return FireTimeout();
                if (_request.Scope && !_request.Freezer.IsAlive)
                {
                    // A Use-FsFreeze scope whose process died (any signal, kill -9 included): its freeze ends with it.
                    return ThawAndExit(FreezeState.Thawed, $"its freezer (pid {_request.Freezer.Pid}, a Use-FsFreeze scope) is gone", 0);
                }
                // Bounded even with no deadline (reset to 0): a stop request and the freezer's death are noticed promptly.
                int slice = left < 0 ? SliceMs : Math.Min(left, SliceMs);
                int n = 0;
                fds[n++] = new Poll.Fd { Descriptor = _listener!.Fd, Events = Poll.POLLIN };
                if (_control != null && _control.Fd >= 0) fds[n++] = new Poll.Fd { Descriptor = _control.Fd, Events = Poll.POLLIN };
                bool controlReady = _control != null && _control.HasBufferedLine;
                if (!controlReady && Poll.Wait(fds.Slice(0, n), slice) <= 0) continue;
                if (_control != null && (controlReady || (n > 1 && fds[1].Returned != 0)))
                {
                    if (ServeControl() is int code) return code;
                }
                if ((fds[0].Returned & Poll.POLLIN) != 0)
                {
                    var client = _listener.Accept();
                    if (client == null) continue;
                    using (client) Handle(client);
                }
                fds[0].Returned = 0;
                if (n > 1) fds[1].Returned = 0;
            }
        }

        /// <summary>One request from the scope's pipe, answered on stdout. An exit code when the pipe has ended (the scope is gone).</summary>
        private int? ServeControl()
        {
            string? line;
            PipeEnd.ReadStatus status;
            try { status = _control!.ReadLine(0, out line); }
            catch (IOException) { status = PipeEnd.ReadStatus.EndOfFile; line = null; }
            if (status == PipeEnd.ReadStatus.TimedOut) return null;
            if (status == PipeEnd.ReadStatus.EndOfFile)
            {
                // Only the scope's process held the other end: it closed it (its handle is gone) or died.
                return ThawAndExit(FreezeState.Thawed, $"its scope (pid {_request.Freezer.Pid}) closed its pipe", 0);
            }
            WatchdogReply reply;
            try { reply = Dispatch(WatchdogRequest.Parse(line!), () => _handshake.Send("")); }
            catch (FsFreezeException e) { reply = WatchdogReply.Failed(e); }
            catch (Exception e) when (e is FormatException || e is OverflowException)
            {
                reply = WatchdogReply.Failed(new FsFreezeException(FreezeErrorKind.WatchdogFailed, "", $"The watchdog could not serve the request: {e.Message}", e));
            }
            _handshake.Send(reply.Format() + "\n"); // the reply, then the empty line that ends it
            return null;
        }

        /// <summary>An empty line: a client waiting while thaw hooks run is kept waiting (a reply's lines are never empty).</summary>
        private static readonly byte[] KeepAlive = { (byte)'\n' };

        /// <summary>One request, from the socket or the control pipe; <paramref name="keepAlive"/> sends the waiting client an empty line.</summary>
        private WatchdogReply Dispatch(WatchdogRequest request, Action keepAlive)
        {
            if (request.FreezeId != _request.Id)
            {
                throw new FsFreezeException(FreezeErrorKind.NotFrozen, request.FreezeId, $"This watchdog holds freeze {_request.Id}, not {request.FreezeId}.");
            }
            return request.Verb switch
            {
                RequestVerb.Reset => Reset(request.Seconds),
                RequestVerb.Thaw => WithThawHooks(Thaw(request.Devices), keepAlive),
                _ => Status(),
            };
        }

        private int ThawAndExit(FreezeState how, string why, int code)
        {
            List<ThawResult> results;
            lock (_gate) { results = ThawHeldLocked(how); }
            End(how);
            Syslog.Write(Syslog.Notice, $"freeze {_request.Id}: {why}; thawed {Names(results)}.");
            RunThawHooksOnce(HookRunner.ReasonThawed);
            return code;
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
            End(FreezeState.ThawedByTimeout);
            var failed = results.FindAll(r => r.Error != null);
            var message = $"freeze {_request.Id}: timeout of {_record.TimeoutSec} s (no thaw or reset) passed; thawed {Names(results.FindAll(r => r.Error == null))}"
                + (failed.Count > 0 ? $"; could not thaw: {string.Join("; ", failed.ConvertAll(f => f.Error!.Message))}" : "")
                + $". Freezer pid {_request.Freezer.Pid}{(_request.Freezer.IsAlive ? " is still running (stuck?)" : " is gone")}.";
            Syslog.Write(failed.Count > 0 ? Syslog.Error : Syslog.Warning, message);
            RunThawHooksOnce(HookRunner.ReasonTimeout);
            return 3;
        }

        /// <summary>Thaws every member still held, in reverse waves, and records each outcome (in memory). Caller holds _gate.</summary>
        private List<ThawResult> ThawHeldLocked(FreezeState how, IReadOnlyList<string>? devices = null)
        {
            var results = FreezeSet.ThawInReverse(_held, crew: _set?.Crew, devices: devices is { Count: > 0 } ? new HashSet<string>(devices, StringComparer.Ordinal) : null);
            foreach (var r in results)
            {
                var rm = _record.FindMember(r.Filesystem.Device);
                if (rm != null && r.Error == null) { rm.State = how; rm.ThawedAtUtc = r.ThawedAt; }
            }
            return results;
        }

        private bool AllThawed()
        {
            lock (_gate) { return _held.TrueForAll(m => m.IsThawed); }
        }

        private void Handle(UnixSocket client)
        {
            WatchdogReply reply;
            try
            {
                // Only root may thaw or reset; anyone else's connection is closed unanswered.
                if (client.Peer().Uid != 0) return;
                reply = Dispatch(WatchdogRequest.Parse(client.ReadLine(2000)), () => client.Send(KeepAlive, 2000));
            }
            catch (FsFreezeException e)
            {
                reply = WatchdogReply.Failed(e);
            }
            catch (IOException)
            {
                return; // a broken or silent client: keep serving
            }
            catch (Exception e) when (e is FormatException || e is OverflowException)
            {
                reply = WatchdogReply.Failed(new FsFreezeException(FreezeErrorKind.WatchdogFailed, "", $"The watchdog could not serve the request: {e.Message}", e));
            }
            client.Send(Encoding.UTF8.GetBytes(reply.Format() + "\n"), 2000);
        }

        /// <summary>The new deadline is recorded first: if the record cannot be written the reset fails and the old deadline stays.</summary>
        private WatchdogReply Reset(long seconds)
        {
            FreezeTimeout.Validate(seconds, _members[0].MountPoint);
            if (AllThawed()) throw new FsFreezeException(FreezeErrorKind.NotFrozen, _members[0].MountPoint, "This freeze is already thawed.");
            long deadline = seconds == 0 ? 0 : Stopwatch.GetTimestamp() + seconds * Stopwatch.Frequency;
            long oldTimeout;
            DateTime? oldDeadline;
            lock (_gate)
            {
                (oldTimeout, oldDeadline) = (_record.TimeoutSec, _record.DeadlineUtc);
                _record.TimeoutSec = seconds;
                _record.DeadlineUtc = seconds == 0 ? null : DateTime.UtcNow.AddSeconds(seconds);
            }
            try
            {
                Persist(end: null);
            }
            catch (FsFreezeException)
            {
                lock (_gate) { (_record.TimeoutSec, _record.DeadlineUtc) = (oldTimeout, oldDeadline); }
                throw;
            }
            _deadline = deadline;
            return new WatchdogReply(null, _record.DeadlineUtc, Array.Empty<MemberReport>());
        }

        /// <summary>Thaws the members named (by device), or with none named all of them, in reverse waves. A thaw is reported even if its record cannot be written.</summary>
        private WatchdogReply Thaw(IReadOnlyList<string> devices)
        {
            var reports = new List<MemberReport>();
            lock (_gate)
            {
                foreach (var device in devices)
                {
                    if (!_held.Exists(m => m.Filesystem.Device == device))
                    {
                        throw new FsFreezeException(FreezeErrorKind.NotFrozen, device, $"Freeze {_request.Id} does not hold device {device}.");
                    }
                }
                if (devices.Count == 1 && _held.Find(m => m.Filesystem.Device == devices[0]) is { IsThawed: true } one)
                {
                    throw new FsFreezeException(FreezeErrorKind.NotFrozen, one.Filesystem.MountPoint, $"'{one.Filesystem.MountPoint}' is already thawed.");
                }
                foreach (var r in ThawHeldLocked(FreezeState.Thawed, devices))
                {
                    var rm = _record.FindMember(r.Filesystem.Device)!;
                    reports.Add(new MemberReport(rm.Device, rm.Identity, rm.State, rm.FrozenAtUtc ?? _held.Find(m => m.Filesystem.Device == rm.Device)?.FrozenAt, rm.ThawedAtUtc, r.Error));
                }
            }
            // Before the reply, after the thaw: whoever asked may list the status next, and must not see this freeze any more.
            if (AllThawed()) End(FreezeState.Thawed);
            else TrySave();
            return new WatchdogReply(null, _record.DeadlineUtc, reports);
        }

        private WatchdogReply Status()
        {
            lock (_gate)
            {
                return new WatchdogReply(null, _record.DeadlineUtc,
                    _record.Members.Select(m => new MemberReport(m.Device, m.Identity, m.State, m.FrozenAtUtc, m.ThawedAtUtc)).ToList());
            }
        }
    }
}
