using System.Collections.Generic;
using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>
    /// Freezes one or more filesystems as one set: all of them, or none. With a timeout (default 60 s) the
    /// freeze is performed by fsfreeze-watchdog, which thaws it when the deadline passes without a thaw or a
    /// reset, whatever happens to this shell; -TimeoutSec 0 freezes in this process with no timeout.
    /// Each object carries its FreezeId: Invoke-FsThaw thaws that freeze and no other.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Invoke, "FsFreeze", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(FrozenFilesystem))]
    public sealed class InvokeFsFreezeCommand : FsFreezeSetCmdlet
    {
        protected override void EndProcessing()
        {
            using var launch = PrestartWatchdog();
            IReadOnlyList<Filesystem>? members;
            try
            {
                members = PlanSet(MountTable.Read());
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

            var warnings = new List<string>();
            FreezeHandle handle;
            try
            {
                if (TimeoutSec > 0) WriteVerbose($"Arming a {TimeoutSec} s timeout: starting {WatchdogClient.ExecutableName}, which freezes and holds the set.");
                handle = FreezeEngine.Freeze(approved, Options(scope: false, warnings.Add, launch));
            }
            catch (FsFreezeException e)
            {
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
                foreach (var w in warnings) WriteWarning(w);
                foreach (var m in handle.Members) WriteObject(m);
            }
        }
    }
}
