using FsFreeze.Native;
using Mono.Unix.Native;

namespace FsFreeze
{
    /// <summary>One place that turns an errno into what happened to which filesystem, and what to do about it.</summary>
    internal static class ErrorMessages
    {
        public static FsFreezeException ForNative(NativeException e, string requestedPath, Filesystem? fs)
        {
            string what = fs != null ? $"'{fs.MountPoint}' ({fs.FileSystemType} on {fs.Source})" : $"'{requestedPath}'";
            string errno = NativeError.Describe(e.Errno);
            switch (e.Errno)
            {
                case Errno.EPERM:
                case Errno.EACCES:
                    return new FsFreezeException(FreezeErrorKind.PermissionDenied, requestedPath,
                        $"Cannot {Verb(e.Operation)} {what}: {errno}. Freezing and thawing need root (CAP_SYS_ADMIN in the initial user namespace; a container or 'unshare -Ur' root is not enough). Run pwsh as root, for example 'sudo pwsh'.", e);
                case Errno.ENOENT:
                case Errno.ENOTDIR:
                    return new FsFreezeException(FreezeErrorKind.PathNotFound, requestedPath,
                        $"Cannot find path {what}: it does not exist. Name a mount point or a file or directory inside the filesystem.", e);
            }
            switch (e.Operation)
            {
                case NativeOperation.Freeze when e.Errno == Errno.EOPNOTSUPP || e.Errno == Errno.ENOTTY:
                    return new FsFreezeException(FreezeErrorKind.NotSupported, requestedPath,
                        $"Cannot freeze {what}: {errno}. Filesystem type '{fs?.FileSystemType}' cannot be frozen{(fs != null && FilesystemTypes.WhyNot(fs.FileSystemType) is string why ? $" ({why})" : "")}. Leave it out of the set, or freeze the filesystem that holds its data.", e);
                case NativeOperation.Freeze when e.Errno == Errno.EBUSY:
                    return new FsFreezeException(FreezeErrorKind.AlreadyFrozen, requestedPath,
                        $"Cannot freeze {what}: {errno}. It is already frozen, by FsFreeze or by another tool (fsfreeze, xfs_freeze, a backup agent): the kernel allows one freeze at a time. Get-FsFreezeStatus lists FsFreeze's own freezes; thaw it with Invoke-FsThaw once whoever froze it is done.", e);
                case NativeOperation.Thaw when e.Errno == Errno.EINVAL:
                    return new FsFreezeException(FreezeErrorKind.NotFrozen, requestedPath,
                        $"Cannot thaw {what}: {errno}. It is not frozen, so there is nothing to thaw.", e);
                default:
                    return new FsFreezeException(FreezeErrorKind.IoError, requestedPath,
                        $"Cannot {Verb(e.Operation)} {what}: {errno}.", e);
            }
        }

        private static string Verb(NativeOperation op) => op switch
        {
            NativeOperation.Open => "open",
            NativeOperation.Stat => "look up",
            NativeOperation.Freeze => "freeze",
            NativeOperation.Thaw => "thaw",
            _ => "flush",
        };
    }
}
