using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>Turns a bad -TimeoutSec into the module's error (id FsFreeze.InvalidTimeout, InvalidArgument) before anything is frozen.</summary>
    internal static class TimeoutParameters
    {
        public static ErrorRecord? Check(long seconds, string[]? paths)
        {
            try
            {
                FreezeTimeout.Validate(seconds, paths != null && paths.Length > 0 ? paths[0] : "");
                return null;
            }
            catch (FsFreezeException e)
            {
                return ErrorMapping.ToRecord(e);
            }
        }
    }
}
