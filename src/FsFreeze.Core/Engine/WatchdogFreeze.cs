using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using FsFreeze.Protocol;
using FsFreeze.State;

namespace FsFreeze
{
    /// <summary>
    /// A freeze with a timeout, held by fsfreeze-watchdog: the process that freezes, keeps the deadline and thaws,
    /// whatever happens to this one. The deadline is armed before the first FIFREEZE.
    /// </summary>
    internal sealed class WatchdogFreeze : FreezeHandle
    {
        private readonly RecordStore _store;
        private WatchdogClient.ControlPipe? _control;

        private WatchdogFreeze(RecordStore store, WatchdogClient.ControlPipe? control)
        {
            _store = store;
            _control = control;
        }

        public static WatchdogFreeze Start(IReadOnlyList<Filesystem> members, FreezeOptions o, RecordStore store)
        {
            var id = FreezeRecord.NewId();
            var request = new SpawnRequest(id, o.TimeoutSec, ProcessIdentity.Of(Environment.ProcessId), o.Flush, o.Scope, store.Path,
                members.Select(fs => new SpawnMember(fs.OpenPath, fs.Device, fs.Mount.MountId, fs.RequestedPath, fs.Wave)).ToList())
            {
                // The watchdog runs them: "freeze" before its first FIFREEZE, "thaw" after its last FITHAW, whoever asks for it.
                Hooks = o.Hooks.Hooks, HookTimeoutSec = o.Hooks.TimeoutSec,
                HookEnvironment = HookRunner.Environment(id, members.Select(m => m.MountPoint), o.TimeoutSec, o.Hooks.TimeoutSec),
            };
            var r = WatchdogClient.Spawn(request, members, o.Cancel, launch: o.Launch, onHook: o.HookRuns.Add);
            WatchdogClient.NoteTimedFreeze();
            return new WatchdogFreeze(store, r.Control)
            {
                Id = id,
                TimeoutSec = o.TimeoutSec,
                WatchdogPid = r.WatchdogPid,
                DeadlineUtc = r.DeadlineUtc,
                Members = r.Frozen.Select(f => FrozenFilesystem.From(f.Fs, f.FrozenAtUtc.ToLocalTime(), f.FreezeTime, id, o.TimeoutSec, r.DeadlineUtc)).ToList(),
                HookRuns = o.HookRuns,
            };
        }

        protected override IReadOnlyList<ThawOutcome> ThawAllOnce(Action<string>? warn)
        {
            string path = Members.Count > 0 ? Members[0].MountPoint : Id;
            var thaw = new WatchdogRequest(RequestVerb.Thaw, Id);
            if (_control != null)
            {
                // A scope: over the pipe it already has to its watchdog, no new connection inside the frozen window. If the
                // pipe fails, the watchdog is gone or does not answer: its socket would say no more, the record does.
                try
                {
                    var reply = _control.Request(thaw, path);
                    HookRuns.AddRange(reply.Hooks);
                    if (reply.Error == null) return reply.Members.Select(m => Outcome(m)).ToList();
                    if (reply.Error.Kind != FreezeErrorKind.NotFrozen) return new[] { ThawOutcome.Failed(path, reply.Error, Id) };
                }
                catch (Exception e) when (e is IOException || e is FormatException) { }
            }
            else
            {
                try
                {
                    var reply = WatchdogClient.Request(thaw, WatchdogPid, path);
                    HookRuns.AddRange(reply.Hooks);
                    if (reply.Error == null) return reply.Members.Select(m => Outcome(m)).ToList();
                    if (reply.Error.Kind != FreezeErrorKind.NotFrozen) return new[] { ThawOutcome.Failed(path, reply.Error, Id) };
                }
                catch (SocketException) { }
            }
            // The watchdog is gone, or holds nothing any more: the record says what became of the freeze.
            var outcomes = FreezeEngine.ThawRecorded(_store, Id, WatchdogPid, warn, Members.Select(m => m.MountPoint).ToList());
            foreach (var o in outcomes) HookRuns.AddRange(o.HookRuns.Where(h => h.Action == HookRunner.Thaw));
            return outcomes;
        }

        /// <summary>Closing the control pipe of a scope that was not thawed tells its watchdog the scope is gone: it thaws.</summary>
        public override void Dispose()
        {
            _control?.Dispose();
            _control = null;
        }

        private ThawOutcome Outcome(MemberReport m)
        {
            var member = Members.First(x => x.Device == m.Device);
            return new ThawOutcome
            {
                Path = member.RequestedPath.FirstOrDefault() ?? member.MountPoint,
                MountPoint = member.MountPoint, Device = member.Device, FileSystemType = member.FileSystemType, Source = member.Source,
                FreezeId = Id, FrozenAtUtc = m.FrozenAtUtc, ThawedAtUtc = m.ThawedAtUtc, Error = m.Error,
            };
        }
    }
}
