using System.Collections.Generic;
using System.Diagnostics;
using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>
    /// Freezes one or more filesystems as one set: all of them, or none. With a timeout (default 60 s) the
    /// freeze is performed by fsfreeze-watchdog, which thaws it when the deadline passes without a thaw or a
    /// reset, whatever happens to this shell; -TimeoutSec 0 freezes in this process with no timeout.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Invoke, "FsFreeze", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(FrozenFilesystem))]
    public sealed class InvokeFsFreezeCommand : FsFreezeCmdlet
    {
        private readonly List<string> _paths = new List<string>();
        private readonly System.Threading.CancellationTokenSource _stop = new System.Threading.CancellationTokenSource();

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName", "MountPoint", "LiteralPath")]
        [ArgumentCompleter(typeof(MountPointCompleter))]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; } = null!;

        /// <summary>Seconds until FsFreeze thaws the set unless it is thawed or reset first. 0 = no timeout; 1 is refused (ambiguous).</summary>
        [Parameter]
        public int TimeoutSec { get; set; } = FreezeTimeout.DefaultSeconds;

        /// <summary>Skip the syncfs that runs before FIFREEZE while writers can still run.</summary>
        [Parameter]
        public SwitchParameter NoFlush { get; set; }

        /// <summary>Freeze even a filesystem this shell itself lives on (/, temp, home, the current location).</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        protected override void BeginProcessing()
        {
            var bad = TimeoutParameters.Check(TimeoutSec, Path);
            if (bad != null) ThrowTerminatingError(bad);
        }

        protected override void ProcessRecord() => _paths.AddRange(Path);

        protected override void EndProcessing()
        {
            var table = MountTable.Read();
            IReadOnlyList<Filesystem>? members;
            try
            {
                members = PlanFreezeSet(_paths, Force, table);
            }
            catch (FsFreezeException e)
            {
                WriteFsError(e);
                return;
            }
            if (members == null) return; // errors written; all or nothing, so nothing is frozen

            var approved = new List<Filesystem>();
            foreach (var fs in members)
            {
                if (ShouldProcess(fs.ToString(), TimeoutSec == 0 ? "Freeze (no timeout)" : $"Freeze with a {TimeoutSec} s timeout")) approved.Add(fs);
            }
            if (approved.Count == 0) return;

            if (TimeoutSec == 0) FreezeHere(approved, table);
            else FreezeByWatchdog(approved, table);
        }

        protected override void StopProcessing() => _stop.Cancel();

        private void FreezeHere(List<Filesystem> approved, MountTable table)
        {
            FreezeSet set;
            try
            {
                // No narration between FIFREEZEs: every member already frozen holds its writers meanwhile.
                set = InProcessFreeze.Freeze(approved, !NoFlush, StateDirectory.Locate(), table, out _, warn: WriteWarning);
            }
            catch (FsFreezeException e)
            {
                WriteFsError(e);
                return;
            }
            using (set)
            {
                foreach (var m in set.Members) ReportFrozen(m.Filesystem.MountPoint, m.FreezeTime, set.Members.Count, timed: false);
                foreach (var m in set.Members) WriteObject(FrozenFilesystem.From(m));
            }
        }

        private void FreezeByWatchdog(List<Filesystem> approved, MountTable table)
        {
            var started = Stopwatch.StartNew();
            WriteVerbose($"Arming a {TimeoutSec} s timeout: starting {WatchdogLauncher.ExecutableName}, which freezes and holds the set.");
            WatchdogFreeze freeze;
            try
            {
                freeze = WatchdogLauncher.Freeze(approved, TimeoutSec, !NoFlush, StateDirectory.Locate(), table,
                    progress: m => ReportFrozen(m.MountPoint, m.FreezeTime, approved.Count, timed: true), cancel: _stop.Token);
            }
            catch (FsFreezeException e)
            {
                WriteFsError(e);
                return;
            }
            catch (System.OperationCanceledException)
            {
                return; // Ctrl+C while freezing: the watchdog thawed what it had frozen
            }
            WriteVerbose($"Watchdog pid {freeze.WatchdogPid} holds freeze {freeze.Id} ({started.Elapsed.TotalMilliseconds:N1} ms in all); " +
                $"it thaws at {freeze.DeadlineUtc?.ToLocalTime():HH:mm:ss} unless Invoke-FsThaw or Reset-FsFreezeTimeout comes first.");
            foreach (var m in freeze.Members) WriteObject(m);
        }
    }
}
