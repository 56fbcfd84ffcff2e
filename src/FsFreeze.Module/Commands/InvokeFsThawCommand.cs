using System;
using System.Collections.Generic;
using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>
    /// Thaws filesystems FsFreeze froze, each on its own: one that fails is an error, the others still thaw.
    /// An object from Invoke-FsFreeze (also after a JSON round trip) thaws exactly its freeze (FreezeId): if that
    /// freeze already ended, the error says how (FsFreeze.ThawedByTimeout, FsFreeze.NotFrozen) and a newer freeze
    /// of the same filesystem is left alone. A path alone thaws the freeze FsFreeze holds there; a filesystem
    /// FsFreeze does not hold is refused (FsFreeze.NotOwned) unless -Force.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Invoke, "FsThaw", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(ThawedFilesystem))]
    public sealed class InvokeFsThawCommand : FsFreezePathCmdlet
    {
        private readonly List<(string Path, bool Literal, string? FreezeId, string? Device, DateTime? FrozenAt)> _targets = new();

        /// <summary>The freeze to end, from Invoke-FsFreeze's objects: only that freeze is thawed.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [AllowEmptyString, AllowNull]
        public string? FreezeId { get; set; }

        /// <summary>The device the freeze was made on, from Invoke-FsFreeze's objects.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true, DontShow = true)]
        public string? Device { get; set; }

        /// <summary>When the freeze began, from Invoke-FsFreeze's objects: lets the output say how long it was frozen.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true, DontShow = true)]
        public DateTime? FrozenAt { get; set; }

        /// <summary>Thaw even a filesystem FsFreeze holds no freeze of (another tool's, or one whose record is lost), like fsfreeze -u.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        protected override void ProcessRecord()
        {
            foreach (var p in Given) _targets.Add((p, IsLiteral, FreezeId, Device, FrozenAt));
        }

        protected override void EndProcessing()
        {
            var targets = new List<(FreezeTarget Target, DateTime? FrozenAt)>();
            foreach (var (path, literal, id, device, frozenAt) in _targets)
            {
                var absolute = ToAbsolute(path, literal);
                if (absolute != null) targets.Add((new FreezeTarget(absolute, id, device), frozenAt));
            }
            // Thaw in reverse of the order given: Invoke-FsFreeze emits a set in freeze order (nested and loop
            // filesystems first), and a parent or an image's host must thaw before what is nested in or stored on it.
            // Consecutive objects of one freeze are thawed together (its watchdog thaws them in reverse waves, side by side),
            // so a set's first member is not held while the others are thawed one request at a time.
            var warnings = new List<string>();
            var approved = new List<(FreezeTarget Target, DateTime? FrozenAt)>();
            for (int i = targets.Count - 1; i >= 0; i--)
            {
                var target = targets[i].Target;
                if (ShouldProcess(target.Path, target.FreezeId != null ? $"Thaw (freeze {target.FreezeId})" : Force ? "Thaw (whoever froze it)" : "Thaw")) approved.Add(targets[i]);
            }
            for (int start = 0; start < approved.Count;)
            {
                int end = start + 1;
                var id = approved[start].Target.FreezeId;
                while (id != null && approved[start].Target.Device != null && end < approved.Count && approved[end].Target.FreezeId == id && approved[end].Target.Device != null) end++;
                var group = approved.GetRange(start, end - start);
                var results = group.Count == 1
                    ? new[] { FreezeEngine.Thaw(group[0].Target, Force, warnings.Add) }
                    : FreezeEngine.ThawMany(group.ConvertAll(g => g.Target), Force, warnings.Add);
                for (int k = 0; k < group.Count; k++)
                {
                    foreach (var w in warnings) WriteWarning(w);
                    warnings.Clear();
                    var result = results[k];
                    if (result.Error != null)
                    {
                        WriteFsError(result.Error);
                        continue;
                    }
                    var thawed = result.ToThawed(group[k].FrozenAt);
                    WriteVerbose($"Thawed '{thawed.MountPoint}'{(thawed.FrozenFor.HasValue ? $" after {thawed.FrozenFor.Value.TotalMilliseconds:N1} ms frozen" : "")}.");
                    // This thaw ended its freeze and the thaw hooks ran: their runs (and the freeze hooks') now, after the thaw.
                    if (result.HookRuns.Count > 0) ReportHooks(result.HookRuns, withOutput: true, thawed.MountPoint);
                    WriteObject(thawed);
                }
                start = end;
            }
            // Thawed: if this process makes timed freezes, the next one may take a watchdog started now.
            if (approved.Count > 0) WatchdogClient.KeepSpare();
        }
    }
}
