using System.Collections.Generic;
using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>
    /// What FsFreeze holds frozen on this host, one object per filesystem, from the state directory: who froze
    /// it, whether that process still runs (Orphaned when not), the watchdog, the deadline and the time left.
    /// A freeze made with -TimeoutSec 0 is listed from the record it wrote before its FIFREEZE; a thaw by
    /// another tool is invisible to it (the kernel has no read-only frozen flag).
    /// </summary>
    [Cmdlet(VerbsCommon.Get, "FsFreezeStatus")]
    [OutputType(typeof(FreezeStatus))]
    public sealed class GetFsFreezeStatusCommand : FsFreezeCmdlet
    {
        private readonly List<string> _paths = new List<string>();

        /// <summary>Only these filesystems (any path on them); all when omitted.</summary>
        [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName", "MountPoint", "LiteralPath")]
        [ArgumentCompleter(typeof(MountPointCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? Path { get; set; }

        protected override void ProcessRecord()
        {
            if (Path != null) _paths.AddRange(Path);
        }

        protected override void EndProcessing()
        {
            HashSet<string>? devices = null;
            if (_paths.Count > 0)
            {
                var resolved = ResolveAll(_paths, MountTable.Read());
                if (resolved == null) return;
                devices = new HashSet<string>(resolved.ConvertAll(fs => fs.Device));
            }
            List<FreezeStatus> all;
            try
            {
                all = FreezeRegistry.Status(StateDirectory.Locate());
            }
            catch (FsFreezeException e)
            {
                WriteFsError(e);
                return;
            }
            foreach (var s in all)
            {
                if (devices == null || devices.Contains(s.Device)) WriteObject(s);
            }
        }
    }
}
