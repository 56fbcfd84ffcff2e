using System;
using System.Collections.Generic;
using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>Thaws filesystems, each on its own: one that is not frozen is an error, the others still thaw.</summary>
    [Cmdlet(VerbsLifecycle.Invoke, "FsThaw", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, DefaultParameterSetName = PathSet)]
    [OutputType(typeof(ThawedFilesystem))]
    public sealed class InvokeFsThawCommand : FsFreezeCmdlet
    {
        private const string PathSet = "Path";
        private const string InputObjectSet = "InputObject";

        private readonly List<(string Path, DateTime? FrozenAt)> _targets = new List<(string, DateTime?)>();

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = PathSet)]
        [Alias("FullName", "MountPoint", "LiteralPath")]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; } = null!;

        /// <summary>What Invoke-FsFreeze emitted: thaws its mount point and reports how long it was frozen.</summary>
        [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputObjectSet)]
        public FrozenFilesystem[] InputObject { get; set; } = null!;

        protected override void ProcessRecord()
        {
            if (ParameterSetName == InputObjectSet)
            {
                foreach (var f in InputObject) _targets.Add((f.MountPoint, f.FrozenAt));
            }
            else
            {
                foreach (var p in Path) _targets.Add((p, null));
            }
        }

        protected override void EndProcessing()
        {
            var table = MountTable.Read();
            var resolved = new List<(Filesystem Fs, DateTime? FrozenAt)>();
            foreach (var (path, frozenAt) in _targets)
            {
                var one = ResolveAll(new[] { path }, table);
                if (one != null) resolved.Add((one[0], frozenAt));
            }
            // Thaw in reverse freeze order: parents before the mounts nested in them.
            var order = FilesystemResolver.Plan(resolved.ConvertAll(r => r.Fs));
            for (int i = order.Count - 1; i >= 0; i--)
            {
                var fs = order[i];
                if (!ShouldProcess(fs.ToString(), "Thaw")) continue;
                var result = FreezeSet.Thaw(fs);
                if (result.Error != null)
                {
                    WriteFsError(result.Error);
                    continue;
                }
                var frozenAt = resolved.Find(r => r.Fs.Device == fs.Device).FrozenAt;
                WriteObject(ThawedFilesystem.From(fs, result.ThawedAt!.Value, frozenAt));
            }
        }
    }
}
