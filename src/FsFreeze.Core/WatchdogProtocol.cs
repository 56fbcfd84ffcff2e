using System.Collections.Generic;
using System.Globalization;

namespace FsFreeze
{
    /// <summary>
    /// The words pwsh and fsfreeze-watchdog exchange, one LineCodec line each.
    /// Spawn (watchdog stdin): "freeze id timeoutSec freezerPid flush stateDir", then "member openPath device requestedPath"..., then EOF.
    /// Handshake (watchdog stdout): "frozen index frozenAtUtcTicks freezeTimeTicks" per member, then "ok watchdogPid deadlineUtcTicks"
    /// or "error kind errno path message".
    /// Socket: "reset seconds" -> "ok deadlineUtcTicks"; "thaw [device]" -> "ok", then "thawed device thawedAtUtcTicks frozenAtUtcTicks"
    /// or "failed device kind message" per member. Any failure: "error kind message".
    /// </summary>
    public static class WatchdogProtocol
    {
        public const string Freeze = "freeze", Member = "member", Frozen = "frozen", Ok = "ok", Error = "error";
        public const string Reset = "reset", Thaw = "thaw", Thawed = "thawed", Failed = "failed";

        public static string ErrorLine(FsFreezeException e)
            => LineCodec.Join(Error, e.Kind.ToString(), (e.Errno ?? 0).ToString(CultureInfo.InvariantCulture), e.Path, e.Message);

        /// <summary>Reads an "error kind errno path message" line back into the exception it came from.</summary>
        public static FsFreezeException ParseError(string[] f, string fallbackPath)
        {
            var kind = FreezeErrorKind.WatchdogFailed;
            if (f.Length > 1 && System.Enum.TryParse<FreezeErrorKind>(f[1], out var k)) kind = k;
            string path = f.Length > 3 && f[3].Length > 0 ? f[3] : fallbackPath;
            string message = f.Length > 4 ? f[4] : "The watchdog reported an error without a message.";
            // Keep the errno the watchdog saw, so FsFreezeException.Errno means the same as in process.
            int errno = f.Length > 2 && int.TryParse(f[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
            var inner = errno != 0 ? new Native.NativeException((Mono.Unix.Native.Errno)errno, OperationOf(kind), path) : null;
            return new FsFreezeException(kind, path, message, inner);
        }

        private static Native.NativeOperation OperationOf(FreezeErrorKind kind)
            => kind == FreezeErrorKind.PathNotFound ? Native.NativeOperation.Open : Native.NativeOperation.Freeze;

        public static string Num(long v) => v.ToString(CultureInfo.InvariantCulture);

        public static List<string[]> SplitLines(string text)
        {
            var lines = new List<string[]>();
            foreach (var l in text.Split('\n')) if (l.Length > 0) lines.Add(LineCodec.Split(l));
            return lines;
        }
    }
}
