using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using Mono.Unix.Native;

namespace FsFreeze.Native
{
    /// <summary>
    /// Starts a helper (fsfreeze-watchdog) with posix_spawn(3): exactly three pipes (its stdin, stdout and stderr), nothing
    /// else inherited (every descriptor from 3 up is closed in the child before exec), in a session of its own, with
    /// every signal at its default and none blocked, in "/". glibc spawns with clone(CLONE_VM | CLONE_VFORK): no copy of
    /// this process's memory, where .NET's Process.Start also builds streams, encodings and its child-tracking machinery.
    /// The child is reaped here (on SIGCHLD once the caller no longer needs it): .NET reaps only the children it started
    /// itself, and an unreaped one would look alive (a zombie) to anyone waiting for it.
    /// </summary>
    public sealed class ChildProcess : IDisposable
    {
        private const int O_CLOEXEC = 0x80000, O_NONBLOCK = 0x800;
        private const short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08, POSIX_SPAWN_SETSID = 0x80;
        private const int WNOHANG = 1;

        [DllImport("libc", SetLastError = true)] private static extern unsafe int pipe2(int* fds, int flags);
        [DllImport("libc")] private static extern int close(int fd);
        [DllImport("libc")] private static extern unsafe int posix_spawn_file_actions_init(byte* actions);
        [DllImport("libc")] private static extern unsafe int posix_spawn_file_actions_destroy(byte* actions);
        [DllImport("libc")] private static extern unsafe int posix_spawn_file_actions_adddup2(byte* actions, int fd, int newFd);
        [DllImport("libc")] private static extern unsafe int posix_spawn_file_actions_addclosefrom_np(byte* actions, int from);
        [DllImport("libc")] private static extern unsafe int posix_spawn_file_actions_addchdir_np(byte* actions, byte* path);
        [DllImport("libc")] private static extern unsafe int posix_spawnattr_init(byte* attributes);
        [DllImport("libc")] private static extern unsafe int posix_spawnattr_destroy(byte* attributes);
        [DllImport("libc")] private static extern unsafe int posix_spawnattr_setflags(byte* attributes, short flags);
        [DllImport("libc")] private static extern unsafe int posix_spawnattr_setsigmask(byte* attributes, byte* set);
        [DllImport("libc")] private static extern unsafe int posix_spawnattr_setsigdefault(byte* attributes, byte* set);
        [DllImport("libc")] private static extern unsafe int sigemptyset(byte* set);
        [DllImport("libc")] private static extern unsafe int sigfillset(byte* set);
        [DllImport("libc")] private static extern unsafe int posix_spawn(int* pid, byte* path, byte* actions, byte* attributes, IntPtr* argv, IntPtr* envp);
        [DllImport("libc", SetLastError = true)] private static extern unsafe int waitpid(int pid, int* status, int options);

        // glibc's posix_spawn_file_actions_t is 80 bytes, posix_spawnattr_t 336, sigset_t 128 (x86-64, aarch64): room to spare.
        private const int ActionsSize = 256, AttributesSize = 1024, SigSetSize = 256;

        private static int _closeFromMissing, _chdirMissing;

        private readonly object _gate = new object();
        private readonly ManualResetEventSlim _exited = new ManualResetEventSlim();
        private int? _exitStatus;

        private ChildProcess(int pid, PipeEnd stdin, PipeEnd stdout, PipeEnd stderr)
        {
            Pid = pid;
            Stdin = stdin;
            Stdout = stdout;
            Stderr = stderr;
        }

        public int Pid { get; }

        /// <summary>The child's stdin (we write), stdout and stderr (we read; stderr is non-blocking).</summary>
        public PipeEnd Stdin { get; }
        public PipeEnd Stdout { get; }
        public PipeEnd Stderr { get; }

        /// <summary>Starts <paramref name="path"/> with no arguments and this process's environment (as .NET sees it).</summary>
        public static unsafe ChildProcess Start(string path)
        {
            int* pipes = stackalloc int[6];
            for (int i = 0; i < 3; i++)
            {
                if (pipe2(pipes + 2 * i, O_CLOEXEC) != 0)
                {
                    var errno = NativeError.LastErrno();
                    for (int j = 0; j < 2 * i; j++) close(pipes[j]);
                    throw NativeError.FromErrno(errno, NativeOperation.Open, "pipe");
                }
            }
            // [0] stdin read (child) / [1] stdin write (us); [2] stdout read (us) / [3] write (child); [4] stderr read (us) / [5] write (child).
            byte* actions = stackalloc byte[ActionsSize];
            byte* attributes = stackalloc byte[AttributesSize];
            byte* all = stackalloc byte[SigSetSize];
            byte* none = stackalloc byte[SigSetSize];
            new Span<byte>(actions, ActionsSize).Clear();
            new Span<byte>(attributes, AttributesSize).Clear();
            posix_spawn_file_actions_init(actions);
            posix_spawnattr_init(attributes);
            var strings = new List<IntPtr>();
            int pid = 0, rc;
            try
            {
                // dup2 onto 0, 1, 2 clears close-on-exec there; every other descriptor of ours is close-on-exec or closed below.
                posix_spawn_file_actions_adddup2(actions, pipes[0], 0);
                posix_spawn_file_actions_adddup2(actions, pipes[3], 1);
                posix_spawn_file_actions_adddup2(actions, pipes[5], 2);
                if (Volatile.Read(ref _closeFromMissing) == 0)
                {
                    try { posix_spawn_file_actions_addclosefrom_np(actions, 3); } // glibc 2.34+; the helper closes leaks itself anyway
                    catch (EntryPointNotFoundException) { Volatile.Write(ref _closeFromMissing, 1); }
                }
                if (Volatile.Read(ref _chdirMissing) == 0)
                {
                    // Not the caller's directory: that may be on a member, and a cwd pins the mount. (glibc 2.29+; the helper chdirs too.)
                    fixed (byte* root = "/\0"u8)
                    {
                        try { posix_spawn_file_actions_addchdir_np(actions, root); }
                        catch (EntryPointNotFoundException) { Volatile.Write(ref _chdirMissing, 1); }
                    }
                }
                sigfillset(all);
                sigemptyset(none);
                posix_spawnattr_setsigdefault(attributes, all);
                posix_spawnattr_setsigmask(attributes, none);
                posix_spawnattr_setflags(attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);

                var pathUtf8 = Marshal.StringToCoTaskMemUTF8(path);
                strings.Add(pathUtf8);
                IntPtr* argv = stackalloc IntPtr[2];
                argv[0] = pathUtf8;
                argv[1] = IntPtr.Zero;
                var env = Environment.GetEnvironmentVariables();
                var envp = new IntPtr[env.Count + 1];
                int k = 0;
                foreach (DictionaryEntry e in env)
                {
                    var s = Marshal.StringToCoTaskMemUTF8($"{e.Key}={e.Value}");
                    strings.Add(s);
                    envp[k++] = s;
                }
                envp[k] = IntPtr.Zero;
                fixed (IntPtr* envPointer = envp)
                {
                    rc = posix_spawn(&pid, (byte*)pathUtf8, actions, attributes, argv, envPointer);
                }
            }
            finally
            {
                posix_spawn_file_actions_destroy(actions);
                posix_spawnattr_destroy(attributes);
                foreach (var s in strings) Marshal.FreeCoTaskMem(s);
                // The child's ends are the child's now (or nobody's).
                close(pipes[0]);
                close(pipes[3]);
                close(pipes[5]);
            }
            if (rc != 0)
            {
                close(pipes[1]);
                close(pipes[2]);
                close(pipes[4]);
                throw NativeError.FromErrno((Errno)rc, NativeOperation.Open, path);
            }
            SetNonBlocking(pipes[4]);
            return new ChildProcess(pid, new PipeEnd(pipes[1]), new PipeEnd(pipes[2]), new PipeEnd(pipes[4]));
        }

        [DllImport("libc", SetLastError = true)] private static extern int fcntl(int fd, int command, int argument);

        private static void SetNonBlocking(int fd)
        {
            const int F_GETFL = 3, F_SETFL = 4;
            int flags = fcntl(fd, F_GETFL, 0);
            if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        }

        /// <summary>True once the child has exited (and was reaped here).</summary>
        public bool HasExited
        {
            get
            {
                TryReap();
                return _exited.IsSet;
            }
        }

        /// <summary>Its exit code, or -signal when a signal ended it; null while it runs.</summary>
        public int? ExitCode
        {
            get
            {
                if (!HasExited || _exitStatus is not int status) return null;
                return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -(status & 0x7f);
            }
        }

        /// <summary>Waits (bounded) for the child to exit.</summary>
        public bool WaitForExit(int timeoutMs)
        {
            long until = Environment.TickCount64 + timeoutMs;
            while (!HasExited)
            {
                long left = until - Environment.TickCount64;
                if (left <= 0) return false;
                _exited.Wait((int)Math.Min(left, 20));
            }
            return true;
        }

        /// <summary>waitpid without waiting: reaps the child if it has exited.</summary>
        internal unsafe void TryReap()
        {
            lock (_gate)
            {
                if (_exited.IsSet) return;
                int status;
                int rc = waitpid(Pid, &status, WNOHANG);
                if (rc == Pid) { _exitStatus = status; _exited.Set(); }
                else if (rc < 0 && NativeError.LastErrno() == Errno.ECHILD) _exited.Set(); // reaped by someone else
            }
        }

        /// <summary>
        /// From now on the child is reaped whenever it exits (the helper may outlive this call by far): on SIGCHLD, through
        /// the runtime's signal thread, so no thread is started for it (a thread start inside the frozen window measured
        /// 0.2 to 3 ms on a busy machine).
        /// </summary>
        public void ReapInBackground()
        {
            if (Interlocked.Exchange(ref _reaped, 1) == 0) Reaper.Add(this);
        }

        private int _reaped;

        /// <summary>Reaps the children of this class on SIGCHLD. .NET's own handling goes on: it reaps only the children it started.</summary>
        private static class Reaper
        {
            private static readonly object Gate = new object();
            private static readonly List<ChildProcess> Pending = new List<ChildProcess>();
            private static System.Runtime.InteropServices.PosixSignalRegistration? _registration;

            public static void Add(ChildProcess child)
            {
                lock (Gate)
                {
                    _registration ??= System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGCHLD, _ => Sweep());
                    Pending.Add(child);
                }
                Sweep(); // it may have exited before the registration
            }

            private static void Sweep()
            {
                lock (Gate)
                {
                    for (int i = Pending.Count - 1; i >= 0; i--)
                    {
                        Pending[i].TryReap();
                        if (Pending[i]._exited.IsSet) Pending.RemoveAt(i);
                    }
                }
            }
        }

        /// <summary>Closes our ends of the pipes. The child is still reaped (ReapInBackground) or left to whoever adopts it.</summary>
        public void Dispose()
        {
            Stdin.Dispose();
            Stdout.Dispose();
            Stderr.Dispose();
        }
    }
}
