using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using FsFreeze.Protocol;
using FsFreeze.State;
using FsFreeze.Watchdog.Native;

namespace FsFreeze.Watchdog
{
    /// <summary>
    /// The hooks of a timed freeze live here, in the process that holds it: "freeze" before the first FIFREEZE (the
    /// deadline is armed after them, so they do not eat the freeze's timeout), "thaw" once after the last FITHAW, whoever
    /// caused it (a thaw request, the deadline, SIGTERM, the death of a scope's process), and after a freeze that failed.
    /// Their results go to the freezer through the handshake, to a thaw request's reply, to the record, and to syslog
    /// when a thaw hook fails with nobody to tell.
    /// </summary>
    internal sealed partial class Watchdog
    {
        private readonly List<HookSpec> _hooksRan = new List<HookSpec>();
        private readonly List<HookRun> _freezeRuns = new List<HookRun>();
        private int _thawHooksStarted;

        private bool HasHooks => _request.Hooks.Count > 0;

        /// <summary>The freeze hooks, in order; false (the failure already reported) when one failed: then nothing is frozen.</summary>
        private bool RunFreezeHooks()
        {
            if (!HasHooks) return true;
            var plan = new HookPlan("", _request.Hooks, Array.Empty<(string, string)>(), _request.HookTimeoutSec);
            var failed = HookRunner.RunFreeze(plan, _request.HookEnvironment, _hooksRan, r =>
            {
                _freezeRuns.Add(r);
                _handshake.Send(new HookDone(r).Format());
            }, () => _stop.IsSet, FirstPath);
            if (failed == null) return true;
            Interlocked.Exchange(ref _thawHooksStarted, 1); // RunFreeze ran them already
            _handshake.Send(new Failure(failed).Format());
            return false;
        }

        /// <summary>Called by Prepare: the record says which hooks ran "freeze" and that their "thaw" is still to come.</summary>
        private void AttachHooks(FreezeRecord record)
        {
            if (_hooksRan.Count == 0) return;
            record.Hooks.AddRange(_hooksRan);
            record.HookTimeoutSec = _request.HookTimeoutSec;
            record.ThawHooksPending = true;
            record.HookRuns.AddRange(_freezeRuns);
        }

        /// <summary>
        /// The thaw hooks, once per freeze, in reverse order; every one runs even when another fails. <paramref name="tick"/>
        /// keeps a waiting client's connection alive. <paramref name="report"/>: the runs also go to the freezer's handshake
        /// (a freeze that failed before the freezer heard "ready").
        /// </summary>
        private List<HookRun> RunThawHooksOnce(string reason, Action? tick = null, bool report = false)
        {
            if (_hooksRan.Count == 0 || Interlocked.Exchange(ref _thawHooksStarted, 1) != 0) return new List<HookRun>();
            var runs = HookRunner.RunThaw(_hooksRan, _request.HookEnvironment, _request.HookTimeoutSec, reason,
                report ? r => _handshake.Send(new HookDone(r).Format()) : null, tick);
            lock (_gate)
            {
                _record.ThawHooksPending = false;
                _record.HookRuns.AddRange(runs);
            }
            // Before "ready" the record is deleted (or about to be rewritten by End): a save now would bring it back.
            if (!report) TrySave();
            var failed = runs.Where(r => !r.Succeeded).ToList();
            if (failed.Count > 0)
            {
                Syslog.Write(Syslog.Error, $"freeze {_request.Id}: thaw hook(s) failed after the thaw: {HookRunner.Summary(failed)}.");
            }
            return runs;
        }

        /// <summary>A thaw request that ended the freeze: its thaw hooks run now, and the reply carries them (kept alive meanwhile).</summary>
        private WatchdogReply WithThawHooks(WatchdogReply reply, Action keepAlive)
        {
            if (reply.Error != null || !AllThawed()) return reply;
            var runs = RunThawHooksOnce(HookRunner.ReasonThawed, keepAlive);
            return runs.Count == 0 ? reply : reply with { Hooks = runs };
        }
    }
}
