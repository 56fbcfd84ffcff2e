using System.Collections.Generic;
using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>
    /// What FsFreeze holds frozen on this host, one object per filesystem, from its records: who froze it, whether
    /// that process still runs, the watchdog, the deadline, the time left, and Orphaned when nothing will ever
    /// thaw it by itself. Read-only, and root is not needed. A thaw by another tool is invisible to it
    /// (the kernel has no read-only "is it frozen?").
    /// </summary>
    [Cmdlet(VerbsCommon.Get, "FsFreezeStatus", DefaultParameterSetName = PathSet)]
    [OutputType(typeof(FreezeStatus))]
    public sealed class GetFsFreezeStatusCommand : FsFreezeCmdlet
    {
        private readonly List<(string Path, bool Literal)> _paths = new();

        /// <summary>Only these filesystems (any path on them); all when omitted.</summary>
        [Parameter(Position = 0, ValueFromPipeline = true, ParameterSetName = PathSet)]
        [ArgumentCompleter(typeof(MountPointCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? Path { get; set; }

        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = LiteralPathSet)]
        [Alias("MountPoint", "FullName", "LP")]
        [ValidateNotNullOrEmpty]
        public string[]? LiteralPath { get; set; }

        protected override void ProcessRecord()
        {
            if (Path != null) foreach (var p in Path) _paths.Add((p, false));
            if (LiteralPath != null) foreach (var p in LiteralPath) _paths.Add((p, true));
        }

        protected override void EndProcessing()
        {
            HashSet<string>? devices = null;
            if (_paths.Count > 0)
            {
                devices = new HashSet<string>();
                var table = MountTable.Read();
                foreach (var (path, literal) in _paths)
                {
                    var resolved = ResolveAll(new[] { path }, literal, table);
                    if (resolved != null) devices.Add(resolved[0].Device);
                }
                if (devices.Count == 0) return;
            }
            List<FreezeStatus> all;
            try
            {
                all = FreezeEngine.Status(WriteWarning);
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
