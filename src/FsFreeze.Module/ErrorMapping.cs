using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>The one mapping from the core's error kinds to PowerShell categories and stable error ids.</summary>
    internal static class ErrorMapping
    {
        public static ErrorRecord ToRecord(FsFreezeException e)
        {
            var (id, category) = Map(e.Kind);
            return new ErrorRecord(e, id, category, e.Path);
        }

        public static (string Id, ErrorCategory Category) Map(FreezeErrorKind kind) => kind switch
        {
            FreezeErrorKind.PathNotFound => ("FsFreeze.PathNotFound", ErrorCategory.ObjectNotFound),
            FreezeErrorKind.PathChanged => ("FsFreeze.PathChanged", ErrorCategory.InvalidResult),
            FreezeErrorKind.NotOwned => ("FsFreeze.NotOwned", ErrorCategory.InvalidOperation),
            FreezeErrorKind.PermissionDenied => ("FsFreeze.PermissionDenied", ErrorCategory.PermissionDenied),
            FreezeErrorKind.NotSupported => ("FsFreeze.NotSupported", ErrorCategory.NotImplemented),
            FreezeErrorKind.AlreadyFrozen => ("FsFreeze.AlreadyFrozen", ErrorCategory.ResourceBusy),
            FreezeErrorKind.NotFrozen => ("FsFreeze.NotFrozen", ErrorCategory.InvalidOperation),
            FreezeErrorKind.ThawedByTimeout => ("FsFreeze.ThawedByTimeout", ErrorCategory.OperationTimeout),
            FreezeErrorKind.SessionFilesystem => ("FsFreeze.SessionFilesystem", ErrorCategory.InvalidOperation),
            FreezeErrorKind.InvalidTimeout => ("FsFreeze.InvalidTimeout", ErrorCategory.InvalidArgument),
            FreezeErrorKind.WatchdogFailed => ("FsFreeze.WatchdogFailed", ErrorCategory.ResourceUnavailable),
            FreezeErrorKind.UnsafeStateDirectory => ("FsFreeze.UnsafeStateDirectory", ErrorCategory.SecurityError),
            FreezeErrorKind.HookFailed => ("FsFreeze.HookFailed", ErrorCategory.OperationStopped),
            _ => ("FsFreeze.IoError", ErrorCategory.WriteError),
        };
    }
}
