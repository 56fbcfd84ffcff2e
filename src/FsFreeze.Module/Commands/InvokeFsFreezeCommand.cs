using System.Collections.Generic;
using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>
    /// Freezes one or more filesystems as one set: all of them, or none. With a timeout (default 60 s) the
    /// freeze is performed by fsfreeze-watchdog, which thaws it when the deadline passes without a thaw or a
    /// reset, whatever happens to this shell; -TimeoutSec 0 freezes in this process with no timeout.
    /// Each object carries its FreezeId: Invoke-FsThaw thaws that freeze and no other. -All freezes every local
    /// filesystem that can be frozen; the hook directory's hooks run before the freeze and after its thaw.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Invoke, "FsFreeze", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = PathSet)]
    [OutputType(typeof(FrozenFilesystem))]
    public sealed class InvokeFsFreezeCommand : FsFreezeSetCmdlet
    {
        protected override void EndProcessing()
        {
            using var launch = PrestartWatchdog();
            IReadOnlyList<Filesystem>? members;
            HookPlan hooks;
            try
            {
                members = PlanSet(MountTable.Read(), scope: false);
                if (members == null) return; // errors written; all or nothing, so nothing is frozen
                hooks = ReadHooks(members[0].RequestedPath);
            }
            catch (FsFreezeException e)
            {
                WriteFsError(e);
                return;
            }

            var approved = new List<Filesystem>();
            foreach (var fs in members)
            {
                if (ShouldProcess(fs.ToString(), TimeoutSec == 0 ? "Freeze (no timeout)" : $"Freeze with a {TimeoutSec} s timeout")) approved.Add(fs);
            }
            if (approved.Count == 0) return;

            var warnings = new List<string>();
            var options = Options(scope: false, warnings.Add, hooks, launch);
            FreezeHandle handle;
            try
            {
                if (TimeoutSec > 0) WriteVerbose($"Arming a {TimeoutSec} s timeout: starting {WatchdogClient.ExecutableName}, which {(hooks.IsEmpty ? "" : "runs the hooks, ")}freezes and holds the set.");
                handle = FreezeEngine.Freeze(approved, options);
            }
            catch (FsFreezeException e)
            {
                // Nothing is frozen: the hooks' output may be written now.
                ReportHooks(options.HookRuns, withOutput: true, approved[0].RequestedPath);
                WriteFsError(e);
                return;
            }
            catch (System.OperationCanceledException)
            {
                return; // Ctrl+C while freezing: what was frozen was thawed again
            }
            using (handle)
            {
                ReportFrozen(handle);
                // The set is frozen now: one line per freeze hook, its output kept for the thaw (the record has it; the
                // Invoke-FsThaw that ends this freeze reports it with the thaw hooks).
                ReportHooks(handle.HookRuns, withOutput: false, approved[0].RequestedPath, errors: false);
                foreach (var w in warnings) WriteWarning(w);
                foreach (var m in handle.Members) WriteObject(m);
            }
        }
    }
}
