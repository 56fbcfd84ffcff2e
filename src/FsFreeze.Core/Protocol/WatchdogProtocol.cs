using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;

namespace FsFreeze.Protocol
{
    // The one definition of what pwsh and fsfreeze-watchdog say to each other. Every message is LineCodec lines
    // (tab-separated fields, escaped); each type here formats and parses itself, and nothing else builds a line.
    //
    // Spawn (watchdog stdin):  "fsfreeze-watchdog <version>", "freeze ...", "member ..." per member, then with hooks
    //                          "hooks <timeout>", "hook <name> <path>" per hook and "hookenv <name> <value>", then an empty line.
    // Handshake (its stdout):  "hook ..." per hook run, "frozen ..." per member as it freezes, then "ready ..." or an error line.
    // Socket (abstract name "@fsfreeze/<id>"): one request line, one reply (a head line, then member lines, then the
    //                          "hook ..." lines of the thaw hooks that reply's thaw ran), then EOF.
    // Control pipe (a Use-FsFreeze scope only: the same stdin and stdout, kept open after the handshake): request lines
    //                          as on the socket, each answered by a reply ended by an empty line. EOF on stdin: the scope is gone.
    // Before a reply, on either, empty lines may come: the watchdog keeps the caller waiting with them while thaw hooks run.

    /// <summary>The protocol's version and names.</summary>
    internal static class WatchdogProtocol
    {
        /// <summary>Checked at the spawn and in the ready line: a module and a watchdog of different builds refuse each other.</summary>
        public const int Version = 4; // 3: hooks (spawn request, handshake, thaw reply); 4: waves, control pipe, thaw of several devices

        public const string Hello = "fsfreeze-watchdog";

        /// <summary>The watchdog's socket: an abstract name (no file to delete, plant or leave behind), checked by SO_PEERCRED.</summary>
        public static string SocketName(string freezeId) => "\0fsfreeze/" + freezeId;

        public const string SocketPrefix = "@fsfreeze/";

        /// <summary>A freeze id is a file name and a socket name: letters, digits, '-' only.</summary>
        public static bool IsValidId(string id)
        {
            if (id.Length == 0 || id.Length > 64) return false;
            foreach (var c in id) if (!(char.IsLetterOrDigit(c) && c < 128) && c != '-') return false;
            return true;
        }

        internal static string Num(long v) => v.ToString(CultureInfo.InvariantCulture);
        internal static long ParseNum(string s) => long.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture);
        internal static string Ticks(DateTime? utc) => utc.HasValue ? Num(utc.Value.Ticks) : "";
        internal static DateTime? FromTicks(string s) => s.Length == 0 ? null : new DateTime(ParseNum(s), DateTimeKind.Utc);
        internal static string Flag(bool b) => b ? "1" : "0";

        /// <summary>Field i, or "" when the line is shorter: optional trailing fields.</summary>
        internal static string At(string[] f, int i) => i < f.Length ? f[i] : "";
    }

    /// <summary>One member of a spawn request: what pwsh planned (with its freeze wave), and the mount id the watchdog's open must reach.</summary>
    internal sealed record SpawnMember(string OpenPath, string Device, long MountId, string RequestedPath, int Wave = 0);

    /// <summary>What pwsh asks a new watchdog to do: freeze these members with this timeout, on behalf of this freezer.</summary>
    internal sealed record SpawnRequest(string Id, long TimeoutSec, ProcessIdentity Freezer, bool Flush, bool Scope, string StateDir,
        IReadOnlyList<SpawnMember> Members)
    {
        /// <summary>Hooks the watchdog runs with "freeze" before its first FIFREEZE and with "thaw" after its last FITHAW.</summary>
        public IReadOnlyList<HookSpec> Hooks { get; init; } = Array.Empty<HookSpec>();
        public int HookTimeoutSec { get; init; } = HookPlan.DefaultTimeoutSec;
        /// <summary>FSFREEZE_* for the hooks, computed by the module (one place for their meaning).</summary>
        public IReadOnlyDictionary<string, string> HookEnvironment { get; init; } = new Dictionary<string, string>();

        public string Format()
        {
            var sb = new StringBuilder();
            sb.Append(LineCodec.Join(WatchdogProtocol.Hello, WatchdogProtocol.Num(WatchdogProtocol.Version))).Append('\n');
            sb.Append(LineCodec.Join("freeze", Id, WatchdogProtocol.Num(TimeoutSec), WatchdogProtocol.Num(Freezer.Pid),
                Freezer.StartTime.ToString(CultureInfo.InvariantCulture), WatchdogProtocol.Flag(Flush), WatchdogProtocol.Flag(Scope), StateDir)).Append('\n');
            foreach (var m in Members)
            {
                sb.Append(LineCodec.Join("member", m.OpenPath, m.Device, WatchdogProtocol.Num(m.MountId), m.RequestedPath, WatchdogProtocol.Num(m.Wave))).Append('\n');
            }
            if (Hooks.Count > 0)
            {
                sb.Append(LineCodec.Join("hooks", WatchdogProtocol.Num(HookTimeoutSec))).Append('\n');
                foreach (var h in Hooks) sb.Append(LineCodec.Join("hook", h.Name, h.Path)).Append('\n');
                foreach (var kv in HookEnvironment) sb.Append(LineCodec.Join("hookenv", kv.Key, kv.Value)).Append('\n');
            }
            // The end of the request: the watchdog stops reading here, so a scope can keep the pipe for its thaw.
            return sb.Append('\n').ToString();
        }

        public static SpawnRequest Parse(TextReader input) => Parse(input.ReadLine);

        /// <summary>Reads lines up to the empty line that ends the request (or EOF), and not one line further.</summary>
        public static SpawnRequest Parse(Func<string?> nextLine)
        {
            int version = 0;
            string[]? head = null;
            var members = new List<SpawnMember>();
            var hooks = new List<HookSpec>();
            var hookEnv = new Dictionary<string, string>(StringComparer.Ordinal);
            int hookTimeout = HookPlan.DefaultTimeoutSec;
            string? line;
            while ((line = nextLine()) != null)
            {
                if (line.Length == 0) break;
                var f = LineCodec.Split(line);
                switch (f[0])
                {
                    case WatchdogProtocol.Hello: version = (int)WatchdogProtocol.ParseNum(WatchdogProtocol.At(f, 1)); break;
                    case "freeze" when f.Length >= 8: head = f; break;
                    case "member" when f.Length >= 5:
                        members.Add(new SpawnMember(f[1], f[2], WatchdogProtocol.ParseNum(f[3]), f[4],
                            WatchdogProtocol.At(f, 5).Length > 0 ? (int)WatchdogProtocol.ParseNum(f[5]) : 0));
                        break;
                    case "hooks" when f.Length >= 2: hookTimeout = (int)WatchdogProtocol.ParseNum(f[1]); break;
                    case "hook" when f.Length >= 3: hooks.Add(new HookSpec(f[1], f[2])); break;
                    case "hookenv" when f.Length >= 3: hookEnv[f[1]] = f[2]; break;
                    default: throw new FormatException($"Unexpected line in the watchdog's request: '{f[0]}'.");
                }
            }
            if (version != WatchdogProtocol.Version)
            {
                throw new FormatException($"This fsfreeze-watchdog speaks protocol {WatchdogProtocol.Version}, the module asked with {version}: the module folder mixes two builds. Reinstall FsFreeze.");
            }
            if (head == null || members.Count == 0)
            {
                throw new FormatException("fsfreeze-watchdog is started by FsFreeze's Invoke-FsFreeze / Use-FsFreeze, which write the request to its stdin. It is not meant to be run by hand.");
            }
            if (!WatchdogProtocol.IsValidId(head[1])) throw new FormatException($"Bad freeze id '{head[1]}'.");
            return new SpawnRequest(head[1], WatchdogProtocol.ParseNum(head[2]),
                new ProcessIdentity((int)WatchdogProtocol.ParseNum(head[3]), ulong.Parse(head[4], CultureInfo.InvariantCulture)),
                head[5] == "1", head[6] == "1", head[7], members)
            {
                Hooks = hooks, HookTimeoutSec = hookTimeout, HookEnvironment = hookEnv,
            };
        }
    }

    /// <summary>A handshake line from the watchdog: a member frozen, ready (all frozen), or an error.</summary>
    internal abstract record HandshakeLine
    {
        public abstract string Format();

        public static HandshakeLine Parse(string line, string fallbackPath)
        {
            var f = LineCodec.Split(line);
            return f[0] switch
            {
                "frozen" when f.Length >= 4 => new MemberFrozen((int)WatchdogProtocol.ParseNum(f[1]), WatchdogProtocol.FromTicks(f[2])!.Value,
                    TimeSpan.FromTicks(WatchdogProtocol.ParseNum(f[3]))),
                "ready" when f.Length >= 3 => new Ready((int)WatchdogProtocol.ParseNum(f[1]), (int)WatchdogProtocol.ParseNum(f[2]),
                    WatchdogProtocol.FromTicks(WatchdogProtocol.At(f, 3))),
                "error" => new Failure(ErrorShape.Parse(f, fallbackPath)),
                "hook" => new HookDone(HookRun.FromFields(f, 1)),
                _ => throw new FormatException($"Unexpected handshake line from the watchdog: '{f[0]}'."),
            };
        }
    }

    internal sealed record MemberFrozen(int Index, DateTime FrozenAtUtc, TimeSpan FreezeTime) : HandshakeLine
    {
        public override string Format() => LineCodec.Join("frozen", WatchdogProtocol.Num(Index), WatchdogProtocol.Ticks(FrozenAtUtc), WatchdogProtocol.Num(FreezeTime.Ticks));
    }

    internal sealed record Ready(int Version, int WatchdogPid, DateTime? DeadlineUtc) : HandshakeLine
    {
        public override string Format() => LineCodec.Join("ready", WatchdogProtocol.Num(Version), WatchdogProtocol.Num(WatchdogPid), WatchdogProtocol.Ticks(DeadlineUtc));
    }

    /// <summary>A hook the watchdog ran (freeze, or thaw after a failed freeze), sent as soon as it ends.</summary>
    internal sealed record HookDone(HookRun Run) : HandshakeLine
    {
        public override string Format()
        {
            var f = new List<string> { "hook" };
            f.AddRange(Run.ToFields());
            return LineCodec.Join(f.ToArray());
        }
    }

    internal sealed record Failure(FsFreezeException Error) : HandshakeLine
    {
        public override string Format() => ErrorShape.Format(Error);
    }

    /// <summary>The one shape of an error on the wire: "error kind errno path message".</summary>
    internal static class ErrorShape
    {
        public static string Format(FsFreezeException e)
            => LineCodec.Join("error", e.Kind.ToString(), WatchdogProtocol.Num(e.Errno ?? 0), e.Path, e.Message);

        /// <summary>Fields of an error line (f[0] == "error") back into the exception, errno kept.</summary>
        public static FsFreezeException Parse(string[] f, string fallbackPath, int first = 1)
        {
            var kind = Enum.TryParse<FreezeErrorKind>(WatchdogProtocol.At(f, first), out var k) ? k : FreezeErrorKind.WatchdogFailed;
            int errno = int.TryParse(WatchdogProtocol.At(f, first + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
            string path = WatchdogProtocol.At(f, first + 2) is { Length: > 0 } p ? p : fallbackPath;
            string message = WatchdogProtocol.At(f, first + 3) is { Length: > 0 } m ? m : "The watchdog reported an error without a message.";
            var inner = errno != 0 ? new Native.NativeException((Mono.Unix.Native.Errno)errno,
                kind == FreezeErrorKind.PathNotFound ? Native.NativeOperation.Open : Native.NativeOperation.Freeze, path) : null;
            return new FsFreezeException(kind, path, message, inner);
        }
    }

    internal enum RequestVerb { Thaw, Reset, Status }

    /// <summary>
    /// A request on a watchdog's socket or control pipe. It names the freeze: a watchdog never acts on a request for
    /// another freeze. A thaw names one device, several (<see cref="MoreDevices"/>: thawed together, in reverse waves), or
    /// none (all of them).
    /// </summary>
    internal sealed record WatchdogRequest(RequestVerb Verb, string FreezeId, string Device = "", long Seconds = 0, IReadOnlyList<string>? MoreDevices = null)
    {
        public string Format()
        {
            var fields = new List<string> { Verb.ToString().ToLowerInvariant(), FreezeId, Device, WatchdogProtocol.Num(Seconds) };
            if (MoreDevices != null) fields.AddRange(MoreDevices);
            return LineCodec.Join(fields.ToArray());
        }

        /// <summary>Every device the request names (empty: all).</summary>
        public IReadOnlyList<string> Devices
        {
            get
            {
                var all = new List<string>();
                if (Device.Length > 0) all.Add(Device);
                if (MoreDevices != null) all.AddRange(MoreDevices);
                return all;
            }
        }

        public bool Equals(WatchdogRequest? other) => other != null && Verb == other.Verb && FreezeId == other.FreezeId && Device == other.Device
            && Seconds == other.Seconds && (MoreDevices ?? Array.Empty<string>()).SequenceEqual(other.MoreDevices ?? Array.Empty<string>());

        public override int GetHashCode() => HashCode.Combine(Verb, FreezeId, Device, Seconds);

        public static WatchdogRequest Parse(string line)
        {
            var f = LineCodec.Split(line);
            var verb = f[0] switch
            {
                "thaw" => RequestVerb.Thaw,
                "reset" => RequestVerb.Reset,
                "status" => RequestVerb.Status,
                _ => throw new FormatException($"Unknown request '{f[0]}'."),
            };
            return new WatchdogRequest(verb, WatchdogProtocol.At(f, 1), WatchdogProtocol.At(f, 2),
                WatchdogProtocol.At(f, 3).Length > 0 ? WatchdogProtocol.ParseNum(f[3]) : 0,
                f.Length > 4 ? f[4..] : null);
        }
    }

    /// <summary>One member in a reply: its state now and when it was frozen and thawed, or why its thaw failed.</summary>
    internal sealed record MemberReport(string Device, string Identity, FreezeState State, DateTime? FrozenAtUtc, DateTime? ThawedAtUtc,
        FsFreezeException? Error = null);

    /// <summary>
    /// A reply: "ok deadline" or an error line, then one "member" line per member it concerns
    /// (a member line may end in an error's fields: its thaw failed).
    /// </summary>
    internal sealed record WatchdogReply(FsFreezeException? Error, DateTime? DeadlineUtc, IReadOnlyList<MemberReport> Members)
    {
        /// <summary>The thaw hooks the watchdog ran because this request ended its freeze (after the member lines). Empty lines
        /// may come before the reply: the watchdog keeps the connection alive with them while those hooks run.</summary>
        public IReadOnlyList<HookRun> Hooks { get; init; } = Array.Empty<HookRun>();

        public static WatchdogReply Failed(FsFreezeException e) => new WatchdogReply(e, null, Array.Empty<MemberReport>());

        public string Format()
        {
            var sb = new StringBuilder(Error != null ? ErrorShape.Format(Error) : LineCodec.Join("ok", WatchdogProtocol.Ticks(DeadlineUtc)));
            foreach (var m in Members)
            {
                var fields = new List<string> { "member", m.Device, m.Identity, m.State.ToString(), WatchdogProtocol.Ticks(m.FrozenAtUtc), WatchdogProtocol.Ticks(m.ThawedAtUtc) };
                if (m.Error != null) fields.AddRange(new[] { m.Error.Kind.ToString(), WatchdogProtocol.Num(m.Error.Errno ?? 0), m.Error.Path, m.Error.Message });
                sb.Append('\n').Append(LineCodec.Join(fields.ToArray()));
            }
            foreach (var h in Hooks)
            {
                var fields = new List<string> { "hook" };
                fields.AddRange(h.ToFields());
                sb.Append('\n').Append(LineCodec.Join(fields.ToArray()));
            }
            return sb.ToString();
        }

        /// <summary>On the control pipe: the reply, then an empty line (its lines are never empty).</summary>
        public string FormatFramed() => Format() + "\n\n";

        public static WatchdogReply Parse(string text, string fallbackPath)
        {
            var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (lines.Length == 0) throw new FormatException("The watchdog gave an empty reply.");
            var head = LineCodec.Split(lines[0]);
            FsFreezeException? error = head[0] == "error" ? ErrorShape.Parse(head, fallbackPath)
                : head[0] == "ok" ? null : throw new FormatException($"Unexpected reply from the watchdog: '{head[0]}'.");
            var members = new List<MemberReport>();
            var hooks = new List<HookRun>();
            for (int i = 1; i < lines.Length; i++)
            {
                var f = LineCodec.Split(lines[i]);
                if (f[0] == "hook") { hooks.Add(HookRun.FromFields(f, 1)); continue; }
                if (f[0] != "member" || f.Length < 6) throw new FormatException($"Unexpected reply line from the watchdog: '{f[0]}'.");
                members.Add(new MemberReport(f[1], f[2], Enum.Parse<FreezeState>(f[3]), WatchdogProtocol.FromTicks(f[4]), WatchdogProtocol.FromTicks(f[5]),
                    f.Length > 6 ? ErrorShape.Parse(f, fallbackPath, 6) : null));
            }
            return new WatchdogReply(error, error == null ? WatchdogProtocol.FromTicks(WatchdogProtocol.At(head, 1)) : null, members) { Hooks = hooks };
        }
    }
}
