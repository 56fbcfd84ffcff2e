using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Threading;

namespace FsFreeze.Commands
{
    /// <summary>
    /// Freezes, runs a scriptblock, and thaws on every way out. The scriptblock's output is passed on only
    /// after the thaw, so nothing downstream (Out-File, a log) can write to a filesystem that is still frozen.
    /// With a timeout (default 60 s) a watchdog holds the freeze: a scope that deadlocks on its own frozen
    /// filesystem is thawed by the deadline, and reported as FsFreeze.ThawedByTimeout afterwards.
    /// </summary>
    [Cmdlet(VerbsOther.Use, "FsFreeze", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(object))]
    public sealed class UseFsFreezeCommand : FsFreezeCmdlet
    {
        private readonly List<string> _paths = new List<string>();
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName", "MountPoint", "LiteralPath")]
        [ArgumentCompleter(typeof(MountPointCompleter))]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; } = null!;

        /// <summary>Runs while the set is frozen; receives the FrozenFilesystem objects as its first argument.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        public ScriptBlock ScriptBlock { get; set; } = null!;

        /// <summary>Seconds after which the set is thawed even if the scriptblock has not finished. 0 = no timeout; 1 is refused.</summary>
        [Parameter]
        public int TimeoutSec { get; set; } = FreezeTimeout.DefaultSeconds;

        [Parameter]
        public SwitchParameter NoFlush { get; set; }

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
            IReadOnlyList<Filesystem>? members = null;
            try
            {
                members = PlanFreezeSet(_paths, Force, table);
            }
            catch (FsFreezeException e)
            {
                ThrowTerminatingError(ErrorMapping.ToRecord(e));
            }
            if (members == null)
            {
                ThrowTerminatingError(new ErrorRecord(new InvalidOperationException("Nothing was frozen and the scriptblock did not run: a path could not be resolved (see the errors above)."),
                    "FsFreeze.NothingFrozen", ErrorCategory.ObjectNotFound, _paths.ToArray()));
                return;
            }
            if (!ShouldProcess(string.Join(", ", members), "Freeze, run the scriptblock, thaw")) return;

            var output = TimeoutSec == 0 ? RunHere(members, table) : RunByWatchdog(members, table);
            // Output, errors and warnings of the scope, only now that the set is thawed.
            if (output != null) ScriptBlockRunner.WriteAll(this, output);
        }

        private Collection<PSObject>? RunHere(IReadOnlyList<Filesystem> members, MountTable table)
        {
            FreezeSet set;
            FreezeRecord? record;
            try
            {
                // No narration while frozen (between FIFREEZEs or before the scope): it is reported after the thaw.
                set = InProcessFreeze.Freeze(members, !NoFlush, StateDirectory.Locate(), table, out record,
                    cancel: _stop.Token, warn: WriteWarning);
            }
            catch (FsFreezeException e)
            {
                ThrowTerminatingError(ErrorMapping.ToRecord(e));
                return null;
            }
            catch (OperationCanceledException)
            {
                return null; // stopped while freezing: Freeze already thawed what it had frozen
            }

            using (set)
            {
                try
                {
                    var frozen = new List<FrozenFilesystem>();
                    foreach (var m in set.Members) frozen.Add(FrozenFilesystem.From(m));
                    // One argument, the array (InvokeScript's params would spread a bare array into one argument per filesystem).
                    return ScriptBlockRunner.Invoke(this, ScriptBlock, frozen.ToArray());
                }
                finally
                {
                    // Every way out: normal end, a throw, Ctrl+C (the engine stops the scriptblock), a stopped pipeline.
                    bool allThawed = true;
                    foreach (var r in set.ThawAll())
                    {
                        if (r.Error != null) { WriteFsError(r.Error); allThawed = false; }
                    }
                    // Written only now, after the thaw (the record is never touched while the set is frozen).
                    if (record != null && allThawed) StateDirectory.DeleteQuietly(record.File);
                    foreach (var m in set.Members) ReportFrozen(m.Filesystem.MountPoint, m.FreezeTime, set.Members.Count, timed: false);
                }
            }
        }

        private Collection<PSObject>? RunByWatchdog(IReadOnlyList<Filesystem> members, MountTable table)
        {
            var dir = StateDirectory.Locate();
            WatchdogFreeze freeze;
            try
            {
                WriteVerbose($"Arming a {TimeoutSec} s timeout: starting {WatchdogLauncher.ExecutableName}, which freezes and holds the set.");
                freeze = WatchdogLauncher.Freeze(members, TimeoutSec, !NoFlush, dir, table,
                    progress: m => ReportFrozen(m.MountPoint, m.FreezeTime, members.Count, timed: true), cancel: _stop.Token);
            }
            catch (FsFreezeException e)
            {
                ThrowTerminatingError(ErrorMapping.ToRecord(e));
                return null;
            }
            catch (OperationCanceledException)
            {
                return null; // stopped while freezing: the watchdog thawed what it had frozen
            }
            try
            {
                return ScriptBlockRunner.Invoke(this, ScriptBlock, freeze.Members.ToArray());
            }
            finally
            {
                // Asking the watchdog to thaw also ends its timer. If the deadline already thawed the set, the
                // tombstone says so: the scope ran partly unfrozen, so its snapshot may be inconsistent.
                foreach (var r in FreezeRegistry.ThawAll(dir, freeze))
                {
                    if (r.Error != null) WriteFsError(r.Error);
                }
                WriteVerbose($"Freeze {freeze.Id} ended.");
            }
        }

        protected override void StopProcessing() => _stop.Cancel();
    }
}
