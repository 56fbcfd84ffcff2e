using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>
    /// Runs Use-FsFreeze's scriptblock so that its errors and warnings come back as records, like its output.
    /// InvokeScript alone sends them straight to the host: -ErrorVariable, 2>&amp;1 and -ErrorAction Stop on
    /// Use-FsFreeze never saw them. Collected, they are written after the thaw with the output, so no
    /// redirection can write them to a filesystem that is still frozen.
    /// </summary>
    internal static class ScriptBlockRunner
    {
        // '&' on the scriptblock object keeps it bound to the caller's session state; the argument stays one array.
        private const string Wrapper = "param($fsFreezeBlock, $fsFreezeArgument) & $fsFreezeBlock $fsFreezeArgument 2>&1 3>&1";

        public static Collection<PSObject> Invoke(PSCmdlet cmdlet, ScriptBlock block, object argument)
            => cmdlet.InvokeCommand.InvokeScript(useLocalScope: true, ScriptBlock.Create(Wrapper), null, block, argument);

        /// <summary>Writes each collected item to the stream it came from.</summary>
        public static void WriteAll(PSCmdlet cmdlet, IEnumerable<PSObject> results)
        {
            foreach (var o in results)
            {
                switch (o?.BaseObject)
                {
                    case ErrorRecord e: cmdlet.WriteError(e); break;
                    case WarningRecord w: cmdlet.WriteWarning(w.Message); break;
                    default: cmdlet.WriteObject(o); break;
                }
            }
        }
    }
}
