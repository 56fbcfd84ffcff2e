using System.Collections.Generic;
using System.Text;

namespace FsFreeze.Protocol
{
    /// <summary>
    /// One record per line, fields separated by tabs: the format of the watchdog's handshake, its socket
    /// replies and the state files. Paths may hold any byte but NUL, so tab, newline and backslash are escaped.
    /// (No JSON: the watchdog is trimmed NativeAOT, and a line format needs no serializer in it.)
    /// </summary>
    internal static class LineCodec
    {
        public static string Join(params string[] fields)
        {
            var sb = new StringBuilder();
            for (int i = 0; i < fields.Length; i++)
            {
                if (i > 0) sb.Append('\t');
                foreach (var c in fields[i] ?? "")
                {
                    switch (c)
                    {
                        case '\\': sb.Append("\\\\"); break;
                        case '\t': sb.Append("\\t"); break;
                        case '\n': sb.Append("\\n"); break;
                        case '\r': sb.Append("\\r"); break;
                        default: sb.Append(c); break;
                    }
                }
            }
            return sb.ToString();
        }

        public static string[] Split(string line)
        {
            var fields = new List<string>();
            var sb = new StringBuilder();
            for (int i = 0; i < line.Length; i++)
            {
                char c = line[i];
                if (c == '\t') { fields.Add(sb.ToString()); sb.Clear(); continue; }
                if (c == '\\' && i + 1 < line.Length)
                {
                    char n = line[++i];
                    sb.Append(n switch { 't' => '\t', 'n' => '\n', 'r' => '\r', _ => n });
                    continue;
                }
                sb.Append(c);
            }
            fields.Add(sb.ToString());
            return fields.ToArray();
        }
    }
}
