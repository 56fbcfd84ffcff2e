using System;
using System.IO;
using System.Text;

namespace FsFreeze.Watchdog
{
    /// <summary>
    /// The pipe back to the PowerShell that started us. If it is gone (the freezer was killed), writes
    /// fail and are ignored: the watchdog's job goes on without anyone listening.
    /// </summary>
    internal sealed class Handshake
    {
        private readonly object _gate = new object();
        private Stream? _out;

        public Handshake(Stream stdout) => _out = stdout;

        public void Send(string line)
        {
            lock (_gate)
            {
                if (_out == null) return;
                try
                {
                    var bytes = Encoding.UTF8.GetBytes(line + "\n");
                    _out.Write(bytes, 0, bytes.Length);
                    _out.Flush();
                }
                catch (IOException) { _out = null; }
                catch (ObjectDisposedException) { _out = null; }
            }
        }

        /// <summary>The handshake is over: release the pipe so the freezer sees end of stream.</summary>
        public void Close()
        {
            lock (_gate)
            {
                try { _out?.Dispose(); } catch (IOException) { }
                _out = null;
                Native.ProcessSetup.ToDevNull(1, 2);
            }
        }
    }
}
