using System;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>
    /// Freezes, runs a scriptblock, and thaws on every way out: its end, an exception, Ctrl+C, a stopped pipeline,
    /// and SIGTERM or SIGHUP to this process (with a timeout, the watchdog also thaws when this process dies of
    /// anything, kill -9 included). Every stream of the scriptblock, and FsFreeze's own narration, is passed on only
    /// after the thaw, so nothing downstream (Out-File, a log, a redirection) can write to a filesystem that is
    /// still frozen. A timeout that fired while the scope ran is reported as FsFreeze.ThawedByTimeout.
    /// </summary>
    [Cmdlet(VerbsOther.Use, "FsFreeze", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = PathSet)]
    [OutputType(typeof(object))]
    public sealed class UseFsFreezeCommand : FsFreezeSetCmdlet
    {
        /// <summary>Runs while the set is frozen; receives the FrozenFilesystem objects as its first argument.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        public ScriptBlock ScriptBlock { get; set; } = null!;

        protected override void EndProcessing()
        {
            using var launch = PrestartWatchdog();
            IReadOnlyList<Filesystem>? members = null;
            HookPlan hooks = HookPlan.None;
            try
            {
                members = PlanSet(MountTable.Read(), scope: true);
                if (members != null) hooks = ReadHooks(members[0].RequestedPath);
            }
            catch (FsFreezeException e)
            {
                ThrowTerminatingError(ErrorMapping.ToRecord(e));
            }
            if (members == null)
            {
                ThrowTerminatingError(new ErrorRecord(new InvalidOperationException("Nothing was frozen and the scriptblock did not run: a path could not be resolved (see the errors above)."),
                    "FsFreeze.NothingFrozen", ErrorCategory.ObjectNotFound, Requested));
                return;
            }
            if (!ShouldProcess(string.Join(", ", members), "Freeze, run the scriptblock, thaw")) return;

            var warnings = new List<string>();
            var options = Options(scope: true, warnings.Add, hooks, launch);
            // Everything the scope needs is made before the freeze: nothing is parsed or registered in the frozen window.
            var wrapper = ScriptBlockRunner.Prepare();
            var output = new List<PSObject>();
            using var onSignal = new ThawOnTermination();
            FreezeHandle handle;
            try
            {
                handle = FreezeEngine.Freeze(members, options);
            }
            catch (FsFreezeException e)
            {
                foreach (var w in warnings) WriteWarning(w);
                // Nothing is frozen: the hooks' output may be written now.
                ReportHooks(options.HookRuns, withOutput: true, members[0].RequestedPath);
                ThrowTerminatingError(ErrorMapping.ToRecord(e));
                return;
            }
            catch (OperationCanceledException)
            {
                return; // stopped while freezing: what was frozen was thawed again
            }

            Exception? thrown = null;
            using (handle)
            {
                onSignal.Arm(handle);
                try
                {
                    // One argument, the array (InvokeScript's params would spread a bare array into one argument per filesystem).
                    ScriptBlockRunner.Invoke(this, wrapper, ScriptBlock, ToArray(handle.Members), output);
                }
                catch (Exception e) when (e is not PipelineStoppedException)
                {
                    thrown = e; // rethrown below, after the thaw and after what the scope wrote before it
                }
                finally
                {
                    // Every way out: normal end, a throw, Ctrl+C (the engine stops the scriptblock), a stopped pipeline.
                    WriteAfterThaw(handle, handle.ThawAll(warnings.Add), warnings);
                }
            }
            // Thawed: the next timed freeze of this process may take a watchdog started now.
            if (TimeoutSec > 0) WatchdogClient.KeepSpare();
            // Output and every other stream of the scope, only now that the set is thawed.
            ScriptBlockRunner.WriteAll(this, output);
            if (thrown != null) ExceptionDispatchInfo.Capture(thrown).Throw();
        }

        private void WriteAfterThaw(FreezeHandle handle, IReadOnlyList<ThawOutcome> outcomes, List<string> warnings)
        {
            try
            {
                ReportFrozen(handle);
                foreach (var w in warnings) WriteWarning(w);
                foreach (var o in outcomes)
                {
                    // A scope may thaw its own set (Invoke-FsThaw inside it): then there is nothing left to do, and no error.
                    if (o.AlreadyThawed) WriteVerbose($"'{o.MountPoint}' was already thawed inside the scriptblock.");
                    else if (o.Error != null) WriteFsError(o.Error);
                }
                // The hooks' runs and output, freeze and thaw, only now; a failed thaw hook is an error once all have run.
                ReportHooks(handle.HookRuns, withOutput: true, handle.Members.Count > 0 ? handle.Members[0].MountPoint : "");
                WriteVerbose($"Freeze {handle.Id} ended.");
            }
            catch (PipelineStoppedException)
            {
                // Stopping (Ctrl+C): the thaw is done; the engine has nowhere left to write to.
            }
        }

        private static FrozenFilesystem[] ToArray(IReadOnlyList<FrozenFilesystem> members)
        {
            var a = new FrozenFilesystem[members.Count];
            for (int i = 0; i < a.Length; i++) a[i] = members[i];
            return a;
        }
    }
}
