using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>
    /// One end of a pipe, by its raw descriptor: line reads that wait with poll(2) on the calling thread (no thread
    /// pool, no async hand-offs: a watchdog's "frozen" line reaches the freezer with one wake-up) and whole writes.
    /// Used by both sides of the watchdog's pipes. Thread-safe; closed exactly once.
    /// </summary>
    public sealed class PipeEnd : IDisposable
    {
        [DllImport("libc", EntryPoint = "read", SetLastError = true)]
        private static extern unsafe nint read(int fd, byte* buffer, nuint count);


        [DllImport("libc", EntryPoint = "close")]
        private static extern int close(int fd);

        private readonly object _gate = new object();
        private int _fd;
        private byte[] _buffer = new byte[4096];
        private int _start, _end;
        private bool _eof;

        public PipeEnd(int fd) => _fd = fd;

        /// <summary>The descriptor (-1 once closed).</summary>
        public int Fd => _fd;

        public enum ReadStatus { Line, EndOfFile, TimedOut }

        /// <summary>True when a whole line is already read in (poll would not say so).</summary>
        public bool HasBufferedLine
        {
            get { lock (_gate) return Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start) >= 0; }
        }

        /// <summary>
        /// The next line (without its '\n'), waiting at most <paramref name="timeoutMs"/> (-1: no limit). EndOfFile when
        /// the writer closed its end with no whole line left (a partial last line is dropped: every message ends in '\n').
        /// </summary>
        public unsafe ReadStatus ReadLine(int timeoutMs, out string? line)
        {
            line = null;
            long until = timeoutMs < 0 ? long.MaxValue : Environment.TickCount64 + timeoutMs;
            Span<Poll.Fd> fds = stackalloc Poll.Fd[1];
            lock (_gate)
            {
                while (true)
                {
                    int nl = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                    if (nl >= 0)
                    {
                        line = Encoding.UTF8.GetString(_buffer, _start, nl - _start);
                        _start = nl + 1;
                        if (_start == _end) _start = _end = 0;
                        return ReadStatus.Line;
                    }
                    if (_eof || _fd < 0) return ReadStatus.EndOfFile;
                    int wait = timeoutMs < 0 ? -1 : (int)Math.Max(0, Math.Min(int.MaxValue, until - Environment.TickCount64));
                    fds[0] = new Poll.Fd { Descriptor = _fd, Events = Poll.POLLIN };
                    int ready = Poll.Wait(fds, wait);
                    if (ready < 0) throw new IOException($"poll on a pipe failed: {NativeError.Describe(NativeError.LastErrno())}");
                    if (ready == 0) return ReadStatus.TimedOut;
                    Fill();
                }
            }
        }

        /// <summary>One read(2) into the buffer (the descriptor is readable). Caller holds the gate.</summary>
        private unsafe void Fill()
        {
            if (_start > 0 && _start == _end) _start = _end = 0;
            if (_end == _buffer.Length)
            {
                if (_start > 0)
                {
                    Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }
                else
                {
                    if (_buffer.Length >= 1 << 20) throw new IOException("A line on the watchdog's pipe is longer than 1 MB.");
                    Array.Resize(ref _buffer, _buffer.Length * 2);
                }
            }
            nint n;
            fixed (byte* p = _buffer)
            {
                do { n = read(_fd, p + _end, (nuint)(_buffer.Length - _end)); }
                while (n < 0 && NativeError.LastErrno() == Errno.EINTR);
            }
            if (n < 0)
            {
                var errno = NativeError.LastErrno();
                if (errno == Errno.EAGAIN) return;
                throw new IOException($"read from a pipe failed: {NativeError.Describe(errno)}");
            }
            if (n == 0) _eof = true;
            else _end += (int)n;
        }

        /// <summary>What can be read without waiting (the descriptor should be non-blocking or at EOF), at most <paramref name="max"/> bytes.</summary>
        public string ReadAvailable(int max = 65536)
        {
            Span<Poll.Fd> fds = stackalloc Poll.Fd[1];
            lock (_gate)
            {
                var sb = new StringBuilder();
                while (_fd >= 0 && !_eof && sb.Length < max)
                {
                    fds[0] = new Poll.Fd { Descriptor = _fd, Events = Poll.POLLIN };
                    if (Poll.Wait(fds, 0) <= 0) break;
                    int before = _end;
                    Fill();
                    if (_end == before) break;
                    sb.Append(Encoding.UTF8.GetString(_buffer, _start, _end - _start));
                    _start = _end = 0;
                }
                return sb.ToString();
            }
        }

        /// <summary>Writes all of it. IOException when the reader is gone (EPIPE: SIGPIPE is ignored by .NET runtimes).</summary>
        public void Write(string text)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            lock (_gate)
            {
                if (_fd < 0) throw new IOException("The pipe is closed.");
                var errno = RawFile.WriteAll(_fd, bytes);
                if (errno != 0) throw new IOException($"write to a pipe failed: {NativeError.Describe(errno)}");
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                if (_fd >= 0) close(_fd);
                _fd = -1;
            }
        }
    }
}
