using System;
using System.Collections.Generic;
using System.Threading;

namespace FsFreeze
{
    /// <summary>
    /// Runs the steps of one wave side by side: a small set of threads of its own, started once and parked between
    /// jobs, plus the calling thread. Not the .NET thread pool: a syncfs or FIFREEZE blocks in the kernel for as long as
    /// the storage takes, and the pool adds threads for blocked work only slowly (about two a second beyond the CPU
    /// count), which would serialize the members again. A job of one step runs on the calling thread alone, so a single
    /// filesystem never pays for a thread.
    /// </summary>
    internal sealed class Crew : IDisposable
    {
        /// <summary>Beyond this many threads a larger wave is shared out among them (each takes the next step as it finishes one).</summary>
        public const int MaxThreads = 64;

        private readonly object _lock = new object();
        private readonly object _running = new object();
        private readonly List<Thread> _threads = new List<Thread>();
        private Job? _job;
        private long _generation;
        private bool _disposed;

        /// <summary>
        /// Runs <paramref name="step"/>(0 .. count-1), all at once as far as threads allow, and returns when every step has
        /// returned. A step's exception is caught and returned at its index (null: it succeeded); it never stops the others.
        /// Safe from any thread: while this crew is busy (a watchdog's deadline thawing while its freeze is stuck), the
        /// call runs on a crew of its own.
        /// </summary>
        public Exception?[] Run(int count, Action<int> step)
        {
            var job = new Job(count, step);
            if (count == 0) return job.Errors;
            if (count == 1)
            {
                job.Work();
                return job.Errors;
            }
            if (!Monitor.TryEnter(_running))
            {
                using var other = new Crew();
                return other.Run(count, step);
            }
            try
            {
                bool disposed;
                lock (_lock) disposed = _disposed;
                if (disposed)
                {
                    // A thaw after the set let its threads go (a last-resort path): a crew of its own, never an exception.
                    using var other = new Crew();
                    return other.Run(count, step);
                }
                lock (_lock)
                {
                    for (int i = _threads.Count; i < Math.Min(count - 1, MaxThreads); i++)
                    {
                        var t = new Thread(Loop, 256 * 1024) { IsBackground = true, Name = "fsfreeze-crew" };
                        t.Start();
                        _threads.Add(t);
                    }
                    _job = job;
                    _generation++;
                    Monitor.PulseAll(_lock);
                }
                job.Work();
                job.Wait();
                lock (_lock) _job = null;
                return job.Errors;
            }
            finally
            {
                Monitor.Exit(_running);
            }
        }

        private void Loop()
        {
            long seen = 0;
            while (true)
            {
                Job job;
                lock (_lock)
                {
                    while (!_disposed && (_generation == seen || _job == null)) Monitor.Wait(_lock);
                    if (_disposed) return;
                    seen = _generation;
                    job = _job!;
                }
                job.Work();
            }
        }

        /// <summary>Lets the parked threads end (they are background threads: they never keep a process alive).</summary>
        public void Dispose()
        {
            lock (_lock)
            {
                _disposed = true;
                Monitor.PulseAll(_lock);
            }
        }

        private sealed class Job
        {
            private readonly Action<int> _step;
            private readonly int _count;
            private int _next = -1;
            private int _left;
            private readonly ManualResetEventSlim _done = new ManualResetEventSlim();

            public Job(int count, Action<int> step)
            {
                _count = count;
                _left = count;
                _step = step;
                Errors = new Exception?[count];
                if (count == 0) _done.Set();
            }

            public Exception?[] Errors { get; }

            /// <summary>Takes steps until none is left.</summary>
            public void Work()
            {
                int i;
                while ((i = Interlocked.Increment(ref _next)) < _count)
                {
                    try { _step(i); }
                    catch (Exception e) { Errors[i] = e; }
                    if (Interlocked.Decrement(ref _left) == 0) _done.Set();
                }
            }

            public void Wait() => _done.Wait();
        }
    }
}
