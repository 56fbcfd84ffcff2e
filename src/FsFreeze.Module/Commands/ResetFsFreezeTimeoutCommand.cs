using System.Collections.Generic;
using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>
    /// The seed's FIFREEZE_RESET_TIMEOUT: the deadline of a freeze FsFreeze holds becomes now + TimeoutSec
    /// (0 clears it). A freezer that resets every few seconds is thawed soon after it stops (hangs or dies).
    /// On a filesystem that is no longer frozen: FsFreeze.NotFrozen, saying when if the timeout thawed it.
    /// </summary>
    [Cmdlet(VerbsCommon.Reset, "FsFreezeTimeout", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(FreezeStatus))]
    public sealed class ResetFsFreezeTimeoutCommand : FsFreezeCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName", "MountPoint", "LiteralPath")]
        [ArgumentCompleter(typeof(MountPointCompleter))]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; } = null!;

        /// <summary>The new period in seconds from now; 0 = no timeout any more; 1 is refused (ambiguous).</summary>
        [Parameter(Mandatory = true, Position = 1)]
        public int TimeoutSec { get; set; }

        protected override void BeginProcessing()
        {
            var bad = TimeoutParameters.Check(TimeoutSec, Path);
            if (bad != null) ThrowTerminatingError(bad);
        }

        protected override void ProcessRecord()
        {
            var table = MountTable.Read();
            var resolved = ResolveAll(Path, table) ?? new List<Filesystem>();
            var dir = StateDirectory.Locate();
            foreach (var fs in FilesystemResolver.Plan(resolved))
            {
                if (!ShouldProcess(fs.ToString(), TimeoutSec == 0 ? "Clear the freeze timeout" : $"Reset the freeze timeout to {TimeoutSec} s from now")) continue;
                try
                {
                    var deadline = FreezeRegistry.Reset(dir, fs, TimeoutSec);
                    WriteVerbose(deadline.HasValue
                        ? $"'{fs.MountPoint}' now thaws at {deadline.Value.ToLocalTime():HH:mm:ss.fff} unless reset or thawed first."
                        : $"'{fs.MountPoint}' has no timeout any more: it stays frozen until Invoke-FsThaw.");
                    var status = FreezeRegistry.Status(dir).Find(s => s.Device == fs.Device);
                    if (status != null) WriteObject(status);
                }
                catch (FsFreezeException e)
                {
                    WriteFsError(e);
                }
            }
        }
    }
}
