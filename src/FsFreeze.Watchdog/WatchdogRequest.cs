using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace FsFreeze.Watchdog
{
    /// <summary>What pwsh asked for, read from stdin (paths may hold any character, so not from argv).</summary>
    internal sealed class WatchdogRequest
    {
        public string Id { get; private set; } = "";
        public long TimeoutSec { get; private set; }
        public int FreezerPid { get; private set; }
        public bool Flush { get; private set; }
        public string StateDir { get; private set; } = "";
        public List<(string OpenPath, string Device, string RequestedPath)> Members { get; } = new List<(string, string, string)>();

        public static WatchdogRequest Read(TextReader input)
        {
            var r = new WatchdogRequest();
            string? line;
            while ((line = input.ReadLine()) != null)
            {
                if (line.Length == 0) break;
                var f = LineCodec.Split(line);
                if (f[0] == WatchdogProtocol.Freeze && f.Length >= 6)
                {
                    r.Id = f[1];
                    r.TimeoutSec = long.Parse(f[2], CultureInfo.InvariantCulture);
                    r.FreezerPid = int.Parse(f[3], CultureInfo.InvariantCulture);
                    r.Flush = f[4] == "1";
                    r.StateDir = f[5];
                }
                else if (f[0] == WatchdogProtocol.Member && f.Length >= 4)
                {
                    r.Members.Add((f[1], f[2], f[3]));
                }
            }
            if (r.Id.Length == 0 || r.Members.Count == 0 || r.StateDir.Length == 0)
            {
                throw new FormatException("fsfreeze-watchdog is started by FsFreeze's Invoke-FsFreeze / Use-FsFreeze, which write the request to its stdin. It is not meant to be run by hand.");
            }
            if (r.Id.IndexOf('/') >= 0 || r.Id.StartsWith(".", StringComparison.Ordinal)) throw new FormatException($"Bad freeze id '{r.Id}'.");
            return r;
        }
    }
}
