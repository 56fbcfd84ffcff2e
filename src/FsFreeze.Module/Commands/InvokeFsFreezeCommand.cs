using System.Collections.Generic;
using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>Freezes one or more filesystems as one set: all of them, or none.</summary>
    [Cmdlet(VerbsLifecycle.Invoke, "FsFreeze", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(FrozenFilesystem))]
    public sealed class InvokeFsFreezeCommand : FsFreezeCmdlet
    {
        private readonly List<string> _paths = new List<string>();

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName", "MountPoint", "LiteralPath")]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; } = null!;

        /// <summary>Skip the syncfs that runs before FIFREEZE while writers can still run.</summary>
        [Parameter]
        public SwitchParameter NoFlush { get; set; }

        /// <summary>Freeze even a filesystem this shell itself lives on (/, temp, home, the current location).</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        protected override void ProcessRecord() => _paths.AddRange(Path);

        protected override void EndProcessing()
        {
            var table = MountTable.Read();
            var resolved = ResolveAll(_paths, table);
            if (resolved == null) return; // errors written; all or nothing, so nothing is frozen
            var members = FilesystemResolver.Plan(resolved);
            try
            {
                if (!Force) SessionGuard.Check(members, table, SessionLocations());
            }
            catch (FsFreezeException e)
            {
                WriteFsError(e);
                return;
            }

            var approved = new List<Filesystem>();
            foreach (var fs in members)
            {
                if (ShouldProcess(fs.ToString(), "Freeze")) approved.Add(fs);
            }
            if (approved.Count == 0) return;

            FreezeSet set;
            try
            {
                set = FreezeSet.Freeze(approved, flush: !NoFlush);
            }
            catch (FsFreezeException e)
            {
                WriteFsError(e);
                return;
            }
            using (set)
            {
                foreach (var m in set.Members) WriteObject(FrozenFilesystem.From(m));
            }
        }
    }
}
