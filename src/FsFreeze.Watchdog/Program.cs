using System;
using System.IO;
using System.Runtime.InteropServices;
using FsFreeze.Native;
using FsFreeze.Protocol;
using FsFreeze.Watchdog.Native;

namespace FsFreeze.Watchdog
{
    /// <summary>
    /// fsfreeze-watchdog: performs one freeze with a timeout on behalf of FsFreeze and thaws exactly what it
    /// froze when the deadline passes, even if the PowerShell that asked is killed or stuck.
    /// Exit codes: 0 thawed on request (or by SIGTERM, or its scope's end), 1 the freeze failed (rolled back),
    /// 2 bad request or setup, 3 thawed by the timeout, 4 an internal failure (what it held was thawed).
    /// </summary>
    internal static class Program
    {
        private static int Main()
        {
            // First, before anything opens a descriptor of its own: let go of every descriptor the caller leaked to us
            // (a flock it holds, a pipe its parent waits on). We may live as long as the freeze; they must not.
            // (FsFreeze spawns it with nothing beyond stdin, stdout and stderr; this holds however it was started.)
            ProcessSetup.CloseInherited();
            // Detach: the freezer's session, terminal and process group are not ours (FsFreeze's spawn already made it a
            // session leader, and then this fails harmlessly). And no working directory on a filesystem that may be frozen.
            ProcessSetup.NewSession();
            ProcessSetup.LeaveWorkingDirectory();
            ProcessSetup.ShieldFromOomKiller();

            // Everything that does not depend on the request, while it is on its way: FsFreeze starts the watchdog before
            // it plans the set, so this overlaps its planning. Hang-up and interrupt belong to the freezer's terminal:
            // ignore. A termination request (shutdown, an admin's kill) thaws everything first: a watchdog never leaves a
            // filesystem frozen on purpose (before the request, it just ends).
            var standby = new Standby();
            using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => c.Cancel = true);
            using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => c.Cancel = true);
            using var quit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, c => c.Cancel = true);
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; standby.Stop.Set(); });

            var handshake = new Handshake(new PipeEnd(1));
            var stdin = new PipeEnd(0);
            SpawnRequest request;
            try
            {
                // Up to the empty line that ends the request, and not a byte further: a scope's pipe carries its thaw later.
                // A SIGTERM while waiting for it ends the wait (nothing is frozen yet).
                request = SpawnRequest.Parse(() =>
                {
                    while (!standby.Stop.IsSet)
                    {
                        var status = stdin.ReadLine(200, out var line);
                        if (status == PipeEnd.ReadStatus.Line) return line;
                        if (status == PipeEnd.ReadStatus.EndOfFile) return null;
                    }
                    throw new IOException("stopped by a signal (SIGTERM) before the request came");
                });
            }
            catch (Exception e) when (e is FormatException || e is OverflowException || e is IOException)
            {
                handshake.Send(new Failure(new FsFreezeException(FreezeErrorKind.WatchdogFailed, "", e.Message)).Format());
                standby.Start(null);
                return 2;
            }
            PipeEnd? control = null;
            if (request.Scope) control = stdin;
            else ProcessSetup.ToDevNull(0);

            var watchdog = new Watchdog(request, handshake, control, standby);
            try
            {
                return watchdog.Run();
            }
            finally
            {
                // The freezing thread is a foreground thread: on every way out that never gave it work (a freeze hook
                // failed, the request was refused) it must be let go, or this process never ends.
                standby.Start(null);
            }
        }
    }
}
