using System.Collections.Generic;
using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>
    /// Runs Use-FsFreeze's scriptblock with every stream collected (*>&amp;1): errors, warnings, verbose, debug and
    /// information (Write-Host included) come back as records, like its output, and are written after the thaw
    /// through Use-FsFreeze's own streams. Nothing of the scope reaches a host, a redirection or a log file while
    /// the set is frozen; -ErrorVariable, 2>&amp;1 and -ErrorAction on Use-FsFreeze see its errors.
    /// </summary>
    internal static class ScriptBlockRunner
    {
        // '&' on the scriptblock object keeps it bound to the caller's session state; the argument stays one array.
        // Each record goes into the sink as it comes, so what the scope wrote before a throw is kept, not lost. A process
        // block, not ForEach-Object: half the cost inside the frozen window (0.04 against 0.09 ms measured here), and no
        // command lookup a function or alias of the caller's session could take over.
        private const string Wrapper = "param($fsFreezeBlock, $fsFreezeArgument, $fsFreezeSink) & $fsFreezeBlock $fsFreezeArgument *>&1 | & { process { $fsFreezeSink.Add($_) } }";

        /// <summary>The wrapper, parsed before the freeze: nothing of it is parsed while the set is frozen.</summary>
        public static ScriptBlock Prepare() => ScriptBlock.Create(Wrapper);

        /// <summary>Runs the scope through <paramref name="wrapper"/> (from <see cref="Prepare"/>); everything it writes lands in <paramref name="sink"/>, also when it throws.</summary>
        public static void Invoke(PSCmdlet cmdlet, ScriptBlock wrapper, ScriptBlock block, object argument, List<PSObject> sink)
            => cmdlet.InvokeCommand.InvokeScript(useLocalScope: true, wrapper, null, block, argument, sink);

        /// <summary>Writes each collected item to the stream it came from.</summary>
        public static void WriteAll(PSCmdlet cmdlet, IEnumerable<PSObject> results)
        {
            foreach (var o in results)
            {
                switch (o?.BaseObject)
                {
                    case ErrorRecord e: cmdlet.WriteError(e); break;
                    case WarningRecord w: cmdlet.WriteWarning(w.Message); break;
                    case VerboseRecord v: cmdlet.WriteVerbose(v.Message); break;
                    case DebugRecord d: cmdlet.WriteDebug(d.Message); break;
                    case InformationRecord i: cmdlet.WriteInformation(i); break;
                    default: cmdlet.WriteObject(o); break;
                }
            }
        }
    }
}
