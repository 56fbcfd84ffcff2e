using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;

namespace FsFreeze
{
    /// <summary>One member of a recorded freeze.</summary>
    public sealed class RecordedMember
    {
        public string MountPoint { get; set; } = "";
        public string Device { get; set; } = "";
        public string FileSystemType { get; set; } = "";
        public string Source { get; set; } = "";
        public DateTime? FrozenAtUtc { get; set; }
        public FreezeState State { get; set; } = FreezeState.Frozen;
        public DateTime? ThawedAtUtc { get; set; }

        /// <summary>The filesystem's UUID when recorded ("" if unknown): the device number alone is reused.</summary>
        public string Identity { get; set; } = "";

        /// <summary>This member is that filesystem: same device and, where both are known, the same UUID.</summary>
        public bool Is(Filesystem fs) => Device == fs.Device && (Identity.Length == 0 || fs.Identity.Length == 0 || Identity == fs.Identity);
    }

    /// <summary>
    /// What the state directory says about one freeze: `&lt;id&gt;.freeze` while it is held, `&lt;id&gt;.tomb` after
    /// the timeout thawed it. The watchdog writes it (state directory never on a member); a freeze made
    /// with -TimeoutSec 0 writes one before its FIFREEZE and Invoke-FsThaw removes it.
    /// </summary>
    public sealed class FreezeRecord
    {
        private const string Magic = "fsfreeze-record";

        public string Id { get; set; } = "";

        /// <summary>Frozen while held; ThawedByTimeout in a tombstone.</summary>
        public FreezeState State { get; set; } = FreezeState.Frozen;

        /// <summary>Pid 0: no watchdog (a -TimeoutSec 0 freeze made in process).</summary>
        public ProcessIdentity Watchdog { get; set; }
        public ProcessIdentity Freezer { get; set; }
        public long TimeoutSec { get; set; }
        public DateTime? DeadlineUtc { get; set; }
        public DateTime CreatedUtc { get; set; }
        public DateTime? ThawedUtc { get; set; }
        public List<RecordedMember> Members { get; } = new List<RecordedMember>();

        /// <summary>The file it was read from (empty for a new record).</summary>
        public string File { get; set; } = "";

        public bool IsTombstone => State == FreezeState.ThawedByTimeout;

        public RecordedMember? FindMember(string device) => Members.Find(m => m.Device == device);

        /// <summary>The member that is this filesystem instance (device and UUID), not just this device number.</summary>
        public RecordedMember? FindMember(Filesystem fs) => Members.Find(m => m.Is(fs));

        public string Serialize()
        {
            var sb = new StringBuilder();
            void Line(params string[] f) => sb.Append(LineCodec.Join(f)).Append('\n');
            Line(Magic, "1");
            Line("id", Id);
            Line("state", State.ToString());
            Line("watchdog", Watchdog.Pid.ToString(CultureInfo.InvariantCulture), Watchdog.StartTime.ToString(CultureInfo.InvariantCulture));
            Line("freezer", Freezer.Pid.ToString(CultureInfo.InvariantCulture), Freezer.StartTime.ToString(CultureInfo.InvariantCulture));
            Line("timeout", TimeoutSec.ToString(CultureInfo.InvariantCulture));
            Line("deadline", Ticks(DeadlineUtc));
            Line("created", Ticks(CreatedUtc));
            Line("thawed", Ticks(ThawedUtc));
            foreach (var m in Members)
            {
                Line("member", m.MountPoint, m.Device, m.FileSystemType, m.Source, Ticks(m.FrozenAtUtc), m.State.ToString(), Ticks(m.ThawedAtUtc), m.Identity);
            }
            return sb.ToString();
        }

        public static FreezeRecord Parse(string text)
        {
            var r = new FreezeRecord();
            bool sawMagic = false;
            foreach (var raw in text.Split('\n'))
            {
                if (raw.Length == 0) continue;
                var f = LineCodec.Split(raw);
                switch (f[0])
                {
                    case Magic: sawMagic = true; break;
                    case "id": r.Id = f[1]; break;
                    case "state": r.State = ParseState(f[1]); break;
                    case "watchdog": r.Watchdog = new ProcessIdentity(int.Parse(f[1], CultureInfo.InvariantCulture), ulong.Parse(f[2], CultureInfo.InvariantCulture)); break;
                    case "freezer": r.Freezer = new ProcessIdentity(int.Parse(f[1], CultureInfo.InvariantCulture), ulong.Parse(f[2], CultureInfo.InvariantCulture)); break;
                    case "timeout": r.TimeoutSec = long.Parse(f[1], CultureInfo.InvariantCulture); break;
                    case "deadline": r.DeadlineUtc = FromTicks(f[1]); break;
                    case "created": r.CreatedUtc = FromTicks(f[1]) ?? default; break;
                    case "thawed": r.ThawedUtc = FromTicks(f[1]); break;
                    case "member":
                        r.Members.Add(new RecordedMember
                        {
                            MountPoint = f[1], Device = f[2], FileSystemType = f[3], Source = f[4],
                            FrozenAtUtc = FromTicks(f[5]), State = ParseState(f[6]), ThawedAtUtc = f.Length > 7 ? FromTicks(f[7]) : null,
                            Identity = f.Length > 8 ? f[8] : "",
                        });
                        break;
                }
            }
            if (!sawMagic || r.Id.Length == 0) throw new FormatException("not an FsFreeze record");
            return r;
        }

        public static FreezeRecord? TryLoad(string file)
        {
            try
            {
                var r = Parse(System.IO.File.ReadAllText(file));
                r.File = file;
                return r;
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is FormatException || e is IndexOutOfRangeException || e is OverflowException)
            {
                return null;
            }
        }

        /// <summary>A fresh id: time-sortable and unique enough for one host (also a valid file name).</summary>
        public static string NewId() => DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N").Substring(0, 8);

        public static string Ticks(DateTime? utc) => utc.HasValue ? utc.Value.Ticks.ToString(CultureInfo.InvariantCulture) : "";

        public static DateTime? FromTicks(string s) => s.Length == 0 ? (DateTime?)null : new DateTime(long.Parse(s, CultureInfo.InvariantCulture), DateTimeKind.Utc);

        private static FreezeState ParseState(string s) => (FreezeState)Enum.Parse(typeof(FreezeState), s);
    }
}
