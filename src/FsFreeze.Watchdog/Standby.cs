using System;
using System.Threading;

namespace FsFreeze.Watchdog
{
    /// <summary>
    /// What the watchdog can make before it knows what to freeze: the thread that will freeze, its socket (unbound), and
    /// the stop flag its SIGTERM handler sets. Made while the request is still on its way (FsFreeze starts the watchdog
    /// before it plans the set), so none of it is paid for between the request and the first FIFREEZE.
    /// </summary>
    internal sealed class Standby
    {
        private readonly ManualResetEventSlim _go = new ManualResetEventSlim();
        private Action? _work;
        private int _started;

        public Standby()
        {
            Stop = new ManualResetEventSlim();
            Listener = Native.UnixSocket.Create();
            // Not a background thread: the process must not end while it freezes or thaws.
            Worker = new Thread(() =>
            {
                _go.Wait();
                _work?.Invoke();
            }) { Name = "freeze", IsBackground = false };
            Worker.Start();
        }

        /// <summary>Set by SIGTERM: thaw what is held and exit (also before anything is frozen).</summary>
        public ManualResetEventSlim Stop { get; }

        /// <summary>The listening socket, to be bound to the freeze's abstract name.</summary>
        public Native.UnixSocket Listener { get; }

        /// <summary>The freezing thread, waiting for its work.</summary>
        public Thread Worker { get; }

        /// <summary>Hands the worker its work, the first call only; null lets it end (a request that never came or failed).</summary>
        public void Start(Action? work)
        {
            if (Interlocked.Exchange(ref _started, 1) != 0) return;
            _work = work;
            _go.Set();
        }
    }
}
