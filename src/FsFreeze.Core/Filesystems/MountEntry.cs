namespace FsFreeze
{
    /// <summary>One line of /proc/self/mountinfo.</summary>
    public sealed class MountEntry
    {
        public MountEntry(int mountId, int parentId, uint major, uint minor, string root, string mountPoint,
            string mountOptions, string fileSystemType, string source, string superOptions)
        {
            MountId = mountId;
            ParentId = parentId;
            Major = major;
            Minor = minor;
            Root = root;
            MountPoint = mountPoint;
            MountOptions = mountOptions;
            FileSystemType = fileSystemType;
            Source = source;
            SuperOptions = superOptions;
        }

        public int MountId { get; }
        public int ParentId { get; }
        public uint Major { get; }
        public uint Minor { get; }

        /// <summary>The superblock's device ("major:minor"): one filesystem, however many mounts or subvolumes show it.</summary>
        public string Device => $"{Major}:{Minor}";

        public string Root { get; }
        public string MountPoint { get; }
        public string MountOptions { get; }
        public string FileSystemType { get; }
        public string Source { get; }
        public string SuperOptions { get; }

        public bool IsReadOnly => MountOptions.StartsWith("ro", System.StringComparison.Ordinal)
            && (MountOptions.Length == 2 || MountOptions[2] == ',');
    }
}
