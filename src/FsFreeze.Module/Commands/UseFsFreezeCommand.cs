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
    /// </summary>
    [Cmdlet(VerbsOther.Use, "FsFreeze", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(object))]
    public sealed class UseFsFreezeCommand : FsFreezeCmdlet
    {
        private readonly List<string> _paths = new List<string>();
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName", "MountPoint", "LiteralPath")]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; } = null!;

        /// <summary>Runs while the set is frozen; receives the FrozenFilesystem objects as its first argument.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        public ScriptBlock ScriptBlock { get; set; } = null!;

        [Parameter]
        public SwitchParameter NoFlush { get; set; }

        [Parameter]
        public SwitchParameter Force { get; set; }

        protected override void ProcessRecord() => _paths.AddRange(Path);

        protected override void EndProcessing()
        {
            var table = MountTable.Read();
            var resolved = ResolveAll(_paths, table);
            if (resolved == null)
            {
                ThrowTerminatingError(new ErrorRecord(new InvalidOperationException("Nothing was frozen and the scriptblock did not run: a path could not be resolved (see the errors above)."),
                    "FsFreeze.NothingFrozen", ErrorCategory.ObjectNotFound, _paths.ToArray()));
            }
            var members = FilesystemResolver.Plan(resolved!);
            try
            {
                if (!Force) SessionGuard.Check(members, table, SessionLocations());
            }
            catch (FsFreezeException e)
            {
                ThrowTerminatingError(ErrorMapping.ToRecord(e));
            }
            if (!ShouldProcess(string.Join(", ", members), "Freeze, run the scriptblock, thaw")) return;

            FreezeSet set;
            try
            {
                set = FreezeSet.Freeze(members, flush: !NoFlush, cancel: _stop.Token);
            }
            catch (FsFreezeException e)
            {
                ThrowTerminatingError(ErrorMapping.ToRecord(e));
                return;
            }
            catch (OperationCanceledException)
            {
                return; // stopped while freezing: Freeze already thawed what it had frozen
            }

            Collection<PSObject>? output = null;
            using (set)
            {
                try
                {
                    var frozen = new List<FrozenFilesystem>();
                    foreach (var m in set.Members) frozen.Add(FrozenFilesystem.From(m));
                    // One argument, the array (InvokeScript's params would spread a bare array into one argument per filesystem).
                    output = ScriptBlockRunner.Invoke(this, ScriptBlock, frozen.ToArray());
                }
                finally
                {
                    // Every way out: normal end, a throw, Ctrl+C (the engine stops the scriptblock), a stopped pipeline.
                    foreach (var r in set.ThawAll())
                    {
                        if (r.Error != null) WriteFsError(r.Error);
                    }
                }
            }
            ScriptBlockRunner.WriteAll(this, output!);
        }

        protected override void StopProcessing() => _stop.Cancel();
    }
}
