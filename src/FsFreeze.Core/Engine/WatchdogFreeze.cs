using System;
using System.Collections.Generic;
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

        private WatchdogFreeze(RecordStore store) => _store = store;

        public static WatchdogFreeze Start(IReadOnlyList<Filesystem> members, FreezeOptions o, RecordStore store)
        {
            var id = FreezeRecord.NewId();
            var request = new SpawnRequest(id, o.TimeoutSec, ProcessIdentity.Of(Environment.ProcessId), o.Flush, o.Scope, store.Path,
                members.Select(fs => new SpawnMember(fs.OpenPath, fs.Device, fs.Mount.MountId, fs.RequestedPath)).ToList())
            {
                // The watchdog runs them: "freeze" before its first FIFREEZE, "thaw" after its last FITHAW, whoever asks for it.
                Hooks = o.Hooks.Hooks, HookTimeoutSec = o.Hooks.TimeoutSec,
                HookEnvironment = HookRunner.Environment(id, members.Select(m => m.MountPoint), o.TimeoutSec, o.Hooks.TimeoutSec),
            };
            var r = WatchdogClient.Spawn(request, members, o.Cancel, onHook: o.HookRuns.Add);
            return new WatchdogFreeze(store)
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
            try
            {
                var reply = WatchdogClient.Request(new WatchdogRequest(RequestVerb.Thaw, Id), WatchdogPid, path);
                HookRuns.AddRange(reply.Hooks);
                if (reply.Error == null) return reply.Members.Select(m => Outcome(m)).ToList();
                if (reply.Error.Kind != FreezeErrorKind.NotFrozen) return new[] { ThawOutcome.Failed(path, reply.Error, Id) };
            }
            catch (SocketException) { }
            // The watchdog is gone, or holds nothing any more: the record says what became of the freeze.
            var outcomes = FreezeEngine.ThawRecorded(_store, Id, WatchdogPid, warn, Members.Select(m => m.MountPoint).ToList());
            foreach (var o in outcomes) HookRuns.AddRange(o.HookRuns.Where(h => h.Action == HookRunner.Thaw));
            return outcomes;
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
