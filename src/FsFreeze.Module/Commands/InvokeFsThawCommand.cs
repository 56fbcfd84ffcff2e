using System;
using System.Collections.Generic;
using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>
    /// Thaws filesystems, each on its own: one that is not frozen is an error, the others still thaw.
    /// A freeze held by a watchdog is thawed by asking it (which cancels its timer); one the timeout
    /// already thawed is reported as FsFreeze.ThawedByTimeout; anything else gets FITHAW.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Invoke, "FsThaw", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(ThawedFilesystem))]
    public sealed class InvokeFsThawCommand : FsFreezeCmdlet
    {
        private readonly List<(string Path, DateTime? FrozenAt)> _targets = new List<(string, DateTime?)>();

        /// <summary>Binds MountPoint by property name, so Invoke-FsFreeze's objects (also after a JSON round trip) pipe in.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName", "MountPoint", "LiteralPath")]
        [ArgumentCompleter(typeof(MountPointCompleter))]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; } = null!;

        /// <summary>When the freeze began, from Invoke-FsFreeze's objects: lets the output say how long it was frozen.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true, DontShow = true)]
        public DateTime? FrozenAt { get; set; }

        protected override void ProcessRecord()
        {
            foreach (var p in Path) _targets.Add((p, FrozenAt));
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
            var dir = StateDirectory.Locate();
            // Thaw in reverse freeze order: parents before the mounts nested in them, an image's host before the loop
            // filesystem on it (thawing ext4 writes its superblock, which would wait on a frozen host).
            var order = FilesystemResolver.Plan(resolved.ConvertAll(r => r.Fs), table);
            for (int i = order.Count - 1; i >= 0; i--)
            {
                var fs = order[i];
                if (!ShouldProcess(fs.ToString(), "Thaw")) continue;
                var result = ThawOne(dir, fs);
                if (result.Error != null)
                {
                    WriteFsError(result.Error);
                    continue;
                }
                var frozenAt = resolved.Find(r => r.Fs.Device == fs.Device).FrozenAt ?? result.FrozenAt;
                WriteVerbose($"Thawed '{fs.MountPoint}'{(frozenAt.HasValue ? $" after {(result.ThawedAt!.Value - frozenAt.Value).TotalMilliseconds:N1} ms frozen" : "")}.");
                WriteObject(ThawedFilesystem.From(fs, result.ThawedAt!.Value, frozenAt));
            }
        }

        private RegistryThaw ThawOne(StateDirectory dir, Filesystem fs)
        {
            try
            {
                return FreezeRegistry.Thaw(dir, fs);
            }
            catch (FsFreezeException e) when (e.Kind == FreezeErrorKind.UnsafeStateDirectory)
            {
                // A thaw must not depend on the state directory: say so, and thaw directly.
                WriteWarning(e.Message);
                var direct = FreezeSet.Thaw(fs);
                return new RegistryThaw(direct.ThawedAt, null, direct.Error);
            }
        }
    }
}
