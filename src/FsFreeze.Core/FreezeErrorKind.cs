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
        /// <summary>A freeze hook failed or outlived its timeout (nothing frozen), or a thaw hook failed (reported after all ran).</summary>
        HookFailed,
    }
}
