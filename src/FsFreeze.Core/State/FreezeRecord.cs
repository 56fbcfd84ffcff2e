using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using FsFreeze.Protocol;

namespace FsFreeze.State
{
    /// <summary>One member of a recorded freeze: which filesystem instance, and what became of it.</summary>
    internal sealed class RecordedMember
    {
        public string MountPoint { get; set; } = "";
        public string Device { get; set; } = "";
        public long MountId { get; set; }
        public string FileSystemType { get; set; } = "";
        public string Source { get; set; } = "";
        /// <summary>The filesystem's UUID when recorded ("" if unknown): a device number is reused, a UUID is not.</summary>
        public string Identity { get; set; } = "";
        public DateTime? FrozenAtUtc { get; set; }
        public FreezeState State { get; set; } = FreezeState.Frozen;
        public DateTime? ThawedAtUtc { get; set; }

        /// <summary>Its freeze wave (see FilesystemResolver.Plan): a thaw from another process goes in reverse waves too.</summary>
        public int Wave { get; set; }

        /// <summary>This member is that filesystem: same device and, where both are known, the same UUID.</summary>
        public bool Is(string device, string identity) => Device == device && (Identity.Length == 0 || identity.Length == 0 || Identity == identity);

        public RecordedMember Clone() => (RecordedMember)MemberwiseClone();

        public static RecordedMember Of(Filesystem fs) => new RecordedMember
        {
            MountPoint = fs.MountPoint, Device = fs.Device, MountId = fs.Mount.MountId, FileSystemType = fs.FileSystemType,
            Source = fs.Source, Identity = fs.Identity, Wave = fs.Wave,
        };
    }

    /// <summary>
    /// What the record store knows of one freeze, by its id. While held, its file is `&lt;id&gt;.frozen`; when it ends it
    /// becomes `&lt;id&gt;.thawed` or `&lt;id&gt;.timeout` by a rename, so the outcome survives even a full state directory.
    /// </summary>
    internal sealed class FreezeRecord
    {
        private const string Magic = "fsfreeze-record";
        private const int FormatVersion = 2;

        public string Id { get; set; } = "";

        /// <summary>Frozen while held, then Thawed or ThawedByTimeout (given by the file's name: see RecordStore).</summary>
        public FreezeState State { get; set; } = FreezeState.Frozen;

        /// <summary>Pid 0: no watchdog (a -TimeoutSec 0 freeze made in a pwsh process).</summary>
        public ProcessIdentity Watchdog { get; set; }
        public ProcessIdentity Freezer { get; set; }

        /// <summary>Made by Use-FsFreeze: it ends when its scope ends, and the freezer's death ends it too.</summary>
        public bool Scope { get; set; }
        public long TimeoutSec { get; set; }
        public DateTime? DeadlineUtc { get; set; }
        public DateTime CreatedUtc { get; set; }
        public DateTime? EndedUtc { get; set; }
        public List<RecordedMember> Members { get; } = new List<RecordedMember>();

        /// <summary>The hooks that ran "freeze" for this freeze, in that order: whoever ends the freeze runs them with "thaw".</summary>
        public List<HookSpec> Hooks { get; } = new List<HookSpec>();
        public int HookTimeoutSec { get; set; } = HookPlan.DefaultTimeoutSec;
        /// <summary>The thaw hooks are still to run: set while the freeze is held, cleared by the process that ran them.</summary>
        public bool ThawHooksPending { get; set; }
        /// <summary>What the hooks did (output cut to <see cref="RecordedOutput"/> characters each).</summary>
        public List<HookRun> HookRuns { get; } = new List<HookRun>();

        /// <summary>Hook output kept per run in a record (the full output goes to whoever ran the hook).</summary>
        public const int RecordedOutput = 4096;

        public bool IsHeld => State == FreezeState.Frozen;
        public bool ByWatchdog => Watchdog.Pid > 0;

        public RecordedMember? FindMember(string device, string identity = "") => Members.Find(m => m.Is(device, identity));

        /// <summary>A copy to write while the original may change (the watchdog writes outside its lock).</summary>
        public FreezeRecord Clone()
        {
            var copy = new FreezeRecord
            {
                Id = Id, State = State, Watchdog = Watchdog, Freezer = Freezer, Scope = Scope, TimeoutSec = TimeoutSec,
                DeadlineUtc = DeadlineUtc, CreatedUtc = CreatedUtc, EndedUtc = EndedUtc,
            };
            foreach (var m in Members) copy.Members.Add(m.Clone());
            return copy;
        }

        /// <summary>A fresh id: time-sortable, unique, a valid file and socket name.</summary>
        public static string NewId() => DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N").Substring(0, 12);

        public string Serialize()
        {
            var sb = new StringBuilder();
            void Line(params string[] f) => sb.Append(LineCodec.Join(f)).Append('\n');
            Line(Magic, WatchdogProtocol.Num(FormatVersion));
            Line("id", Id);
            Line("watchdog", WatchdogProtocol.Num(Watchdog.Pid), Watchdog.StartTime.ToString(CultureInfo.InvariantCulture));
            Line("freezer", WatchdogProtocol.Num(Freezer.Pid), Freezer.StartTime.ToString(CultureInfo.InvariantCulture));
            Line("scope", WatchdogProtocol.Flag(Scope));
            Line("timeout", WatchdogProtocol.Num(TimeoutSec));
            Line("deadline", WatchdogProtocol.Ticks(DeadlineUtc));
            Line("created", WatchdogProtocol.Ticks(CreatedUtc));
            Line("ended", WatchdogProtocol.Ticks(EndedUtc));
            if (Hooks.Count > 0 || HookRuns.Count > 0)
            {
                // Only for freezes with hooks: the records of every other freeze stay as they were.
                Line("hooks", WatchdogProtocol.Num(HookTimeoutSec), WatchdogProtocol.Flag(ThawHooksPending));
                foreach (var h in Hooks) Line("hook", h.Name, h.Path);
                foreach (var run in HookRuns)
                {
                    var f = new List<string> { "hookrun" };
                    f.AddRange(run.ToFields(RecordedOutput));
                    Line(f.ToArray());
                }
            }
            foreach (var m in Members)
            {
                Line("member", m.MountPoint, m.Device, WatchdogProtocol.Num(m.MountId), m.FileSystemType, m.Source, m.Identity,
                    WatchdogProtocol.Ticks(m.FrozenAtUtc), m.State.ToString(), WatchdogProtocol.Ticks(m.ThawedAtUtc), WatchdogProtocol.Num(m.Wave));
            }
            return sb.ToString();
        }

        /// <summary>Parses a record; any malformed field throws FormatException (the store skips such a file with a warning).</summary>
        public static FreezeRecord Parse(string text, FreezeState state)
        {
            var r = new FreezeRecord { State = state };
            bool sawMagic = false;
            try
            {
                foreach (var raw in text.Split('\n'))
                {
                    if (raw.Length == 0) continue;
                    var f = LineCodec.Split(raw);
                    switch (f[0])
                    {
                        case Magic:
                            if (WatchdogProtocol.ParseNum(f[1]) != FormatVersion) throw new FormatException($"record format {f[1]}, expected {FormatVersion}");
                            sawMagic = true;
                            break;
                        case "id": r.Id = f[1]; break;
                        case "watchdog": r.Watchdog = new ProcessIdentity((int)WatchdogProtocol.ParseNum(f[1]), ulong.Parse(f[2], CultureInfo.InvariantCulture)); break;
                        case "freezer": r.Freezer = new ProcessIdentity((int)WatchdogProtocol.ParseNum(f[1]), ulong.Parse(f[2], CultureInfo.InvariantCulture)); break;
                        case "scope": r.Scope = f[1] == "1"; break;
                        case "timeout": r.TimeoutSec = WatchdogProtocol.ParseNum(f[1]); break;
                        case "deadline": r.DeadlineUtc = WatchdogProtocol.FromTicks(f[1]); break;
                        case "created": r.CreatedUtc = WatchdogProtocol.FromTicks(f[1]) ?? default; break;
                        case "ended": r.EndedUtc = WatchdogProtocol.FromTicks(f[1]); break;
                        case "hooks":
                            r.HookTimeoutSec = (int)WatchdogProtocol.ParseNum(f[1]);
                            r.ThawHooksPending = f[2] == "1";
                            break;
                        case "hook": r.Hooks.Add(new HookSpec(f[1], f[2])); break;
                        case "hookrun": r.HookRuns.Add(HookRun.FromFields(f, 1)); break;
                        case "member":
                            r.Members.Add(new RecordedMember
                            {
                                MountPoint = f[1], Device = f[2], MountId = WatchdogProtocol.ParseNum(f[3]), FileSystemType = f[4], Source = f[5],
                                Identity = f[6], FrozenAtUtc = WatchdogProtocol.FromTicks(f[7]), State = Enum.Parse<FreezeState>(f[8]),
                                ThawedAtUtc = WatchdogProtocol.FromTicks(f[9]),
                                Wave = WatchdogProtocol.At(f, 10).Length > 0 ? (int)WatchdogProtocol.ParseNum(f[10]) : 0,
                            });
                            break;
                        default: throw new FormatException($"unknown field '{f[0]}'");
                    }
                }
            }
            catch (Exception e) when (e is IndexOutOfRangeException || e is OverflowException || e is ArgumentException)
            {
                throw new FormatException(e.Message, e);
            }
            if (!sawMagic || !WatchdogProtocol.IsValidId(r.Id)) throw new FormatException("not an FsFreeze record");
            if (state != FreezeState.Frozen)
            {
                // A held record renamed to its outcome before its members could be rewritten (a full directory): say so for each.
                foreach (var m in r.Members) if (m.State == FreezeState.Frozen) m.State = state;
            }
            return r;
        }
    }
}
