namespace FsFreeze
{
    /// <summary>What went wrong, in the terms a caller acts on. The module maps each to an ErrorCategory and a stable error id.</summary>
    public enum FreezeErrorKind
    {
        PathNotFound,
        PathChanged,
        NotOwned,
        PermissionDenied,
        NotSupported,
        AlreadyFrozen,
        NotFrozen,
        ThawedByTimeout,
        SessionFilesystem,
        InvalidTimeout,
        WatchdogFailed,
        UnsafeStateDirectory,
        IoError,
    }
}
