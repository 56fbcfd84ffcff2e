namespace FsFreeze
{
    /// <summary>What a thaw or a reset is aimed at: a path, and where known the freeze and device it came from.</summary>
    internal sealed class FreezeTarget
    {
        public FreezeTarget(string absolutePath, string? freezeId = null, string? device = null)
        {
            Path = absolutePath;
            FreezeId = string.IsNullOrEmpty(freezeId) ? null : freezeId;
            Device = string.IsNullOrEmpty(device) ? null : device;
        }

        public string Path { get; }
        public string? FreezeId { get; }
        public string? Device { get; }

        private Filesystem? _fs;

        /// <summary>The filesystem the path leads to now (resolved once, on first use).</summary>
        public Filesystem Resolve() => _fs ??= FilesystemResolver.Resolve(Path, MountTable.Read());
    }
}
