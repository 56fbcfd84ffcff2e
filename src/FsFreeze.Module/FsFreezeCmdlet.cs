using System;
using System.Collections.Generic;
using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>What every FsFreeze cmdlet does the same way: turn PowerShell paths into filesystems, and report errors.</summary>
    public abstract class FsFreezeCmdlet : PSCmdlet
    {
        /// <summary>
        /// Resolves paths relative to the PowerShell location (not the process's working directory), with '~'
        /// and provider-qualified paths, then to filesystems. Writes one error per bad path; returns null if any failed.
        /// </summary>
        private protected List<Filesystem>? ResolveAll(IEnumerable<string> paths, MountTable table)
        {
            var resolved = new List<Filesystem>();
            bool failed = false;
            foreach (var path in paths)
            {
                string absolute;
                try
                {
                    absolute = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out var provider, out _);
                    // Env:HOME resolves to the bare 'HOME', which stat() would then look up in the process's cwd.
                    if (provider.Name != "FileSystem")
                    {
                        throw new NotSupportedException($"it belongs to the {provider.Name} provider");
                    }
                }
                catch (Exception e) when (e is ProviderNotFoundException || e is DriveNotFoundException || e is NotSupportedException)
                {
                    WriteError(ErrorMapping.ToRecord(new FsFreezeException(FreezeErrorKind.PathNotFound, path,
                        $"'{path}' is not a filesystem path ({e.Message}). Name a mount point or a file or directory inside it.", e)));
                    failed = true;
                    continue;
                }
                try
                {
                    resolved.Add(FilesystemResolver.Resolve(absolute, table));
                }
                catch (FsFreezeException e)
                {
                    WriteError(ErrorMapping.ToRecord(e));
                    failed = true;
                }
            }
            return failed ? null : resolved;
        }

        private protected void WriteFsError(FsFreezeException e) => WriteError(ErrorMapping.ToRecord(e));

        private protected IEnumerable<(string, string)> SessionLocations()
        {
            var location = SessionState.Path.CurrentFileSystemLocation?.ProviderPath;
            if (!string.IsNullOrEmpty(location)) yield return (location!, "this shell's current location");
        }
    }
}
