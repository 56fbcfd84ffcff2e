using System;
using System.IO;
using FsFreeze.Native;

namespace FsFreeze.Watchdog
{
    /// <summary>
    /// The pipe back to the PowerShell that started us (stdout), written with raw write(2). If it is gone (the freezer
    /// was killed), writes fail and are ignored: the watchdog's job goes on without anyone listening. A scope's watchdog
    /// keeps it after the handshake for the replies on its control pipe.
    /// </summary>
    internal sealed class Handshake
    {
        private readonly object _gate = new object();
        private PipeEnd? _out;

        public Handshake(PipeEnd stdout) => _out = stdout;

        public void Send(string line)
        {
            lock (_gate)
            {
                if (_out == null) return;
                try { _out.Write(line + "\n"); }
                catch (IOException) { _out = null; }
            }
        }

        /// <summary>The handshake is over: release the pipe so the freezer sees end of stream (stderr too).</summary>
        public void Close()
        {
            lock (_gate)
            {
                // dup2 over it, not close: a descriptor number freed for a moment could be taken by another thread's open.
                _out = null;
                Native.ProcessSetup.ToDevNull(1, 2);
            }
        }

        /// <summary>A scope: stdout stays for the replies; stderr goes (nothing of ours writes there).</summary>
        public void CloseErrors()
        {
            lock (_gate) { Native.ProcessSetup.ToDevNull(2); }
        }
    }
}
