using System.Management.Automation;

namespace FsFreeze.Commands
{
    /// <summary>
    /// The seed's FIFREEZE_RESET_TIMEOUT: the deadline of a freeze FsFreeze holds becomes now + TimeoutSec
    /// (0 clears it). A freezer that resets every few seconds is thawed soon after it stops (hangs or dies).
    /// On a filesystem that is no longer frozen: FsFreeze.NotFrozen, saying when if the timeout thawed it.
    /// </summary>
    [Cmdlet(VerbsCommon.Reset, "FsFreezeTimeout", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(FreezeStatus))]
    public sealed class ResetFsFreezeTimeoutCommand : FsFreezePathCmdlet
    {
        /// <summary>The new period in seconds from now; 0 = no timeout any more; 1 is refused (ambiguous).</summary>
        [Parameter(Mandatory = true, Position = 1)]
        public int TimeoutSec { get; set; }

        /// <summary>The freeze whose timeout to reset, from Invoke-FsFreeze's objects.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [AllowEmptyString, AllowNull]
        public string? FreezeId { get; set; }

        [Parameter(ValueFromPipelineByPropertyName = true, DontShow = true)]
        public string? Device { get; set; }

        protected override void BeginProcessing() => ValidateTimeout(TimeoutSec, null);

        protected override void ProcessRecord()
        {
            foreach (var path in Given)
            {
                var absolute = ToAbsolute(path, IsLiteral);
                if (absolute == null) continue;
                if (!ShouldProcess(absolute, TimeoutSec == 0 ? "Clear the freeze timeout" : $"Reset the freeze timeout to {TimeoutSec} s from now")) continue;
                try
                {
                    var target = new FreezeTarget(absolute, FreezeId, Device);
                    var deadline = FreezeEngine.Reset(target, TimeoutSec, WriteWarning);
                    WriteVerbose(deadline.HasValue
                        ? $"'{absolute}' now thaws at {deadline.Value.ToLocalTime():HH:mm:ss.fff} unless reset or thawed first."
                        : $"'{absolute}' has no timeout any more: it stays frozen until Invoke-FsThaw.");
                    foreach (var s in FreezeEngine.Status(WriteWarning))
                    {
                        if (FreezeId != null ? s.FreezeId == FreezeId : s.Device == target.Resolve().Device) WriteObject(s);
                    }
                }
                catch (FsFreezeException e)
                {
                    WriteFsError(e);
                }
            }
        }
    }
}
