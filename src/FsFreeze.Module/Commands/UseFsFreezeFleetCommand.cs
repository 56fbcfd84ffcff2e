using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace FsFreeze.Commands
{
    /// <summary>
    /// Freezes the same paths on every host of a set of PSSessions as one fleet set (all or nothing), runs a scriptblock
    /// here while every host is frozen (the fleet's snapshot), renews each host's lease while it runs, thaws every host,
    /// and emits one FleetHostFreeze per host. A host whose freeze did not provably last until the scriptblock ended makes
    /// the fleet snapshot inconsistent: FsFreeze.FleetInconsistent. Each host holds its freeze with FsFreeze's timeout as
    /// a lease, so a controller that dies or a link that drops leaves no host frozen for longer than the lease.
    /// </summary>
    [Cmdlet(VerbsOther.Use, "FsFreezeFleet", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(FleetHostFreeze))]
    public sealed class UseFsFreezeFleetCommand : FsFreezeCmdlet
    {
        private readonly List<PSSession> _sessions = new List<PSSession>();

        /// <summary>The paths to freeze on every host (each host resolves them itself, as its Invoke-FsFreeze -Path would).</summary>
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; } = null!;

        /// <summary>Runs here, on the controller, while every host is frozen; receives the hosts' FleetHostFreeze objects.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        public ScriptBlock ScriptBlock { get; set; } = null!;

        /// <summary>The hosts: PSSessions (New-PSSession -HostName, over SSH) to hosts with FsFreeze installed.</summary>
        [Parameter(Mandatory = true, ValueFromPipeline = true)]
        [ValidateNotNullOrEmpty]
        public PSSession[] Session { get; set; } = null!;

        /// <summary>Each host's lease: it thaws by itself this many seconds after the last renewal. Renewed every half lease.</summary>
        [Parameter]
        [ValidateRange(2, int.MaxValue / 1000)]
        public int LeaseSec { get; set; } = 10;

        /// <summary>Passed to each host's Invoke-FsFreeze: freeze even the filesystems its session lives on (/).</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <summary>Passed to each host's Invoke-FsFreeze: skip the flush before FIFREEZE.</summary>
        [Parameter]
        public SwitchParameter NoFlush { get; set; }

        protected override void ProcessRecord()
        {
            foreach (var s in Session)
            {
                if (s != null && !_sessions.Any(x => x.InstanceId == s.InstanceId)) _sessions.Add(s);
            }
        }

        protected override void EndProcessing()
        {
            var hosts = string.Join(", ", _sessions.Select(s => s.ComputerName));
            if (!ShouldProcess($"{string.Join(", ", Path)} on {hosts}", $"Freeze as one fleet with a {LeaseSec} s lease, run the scriptblock, thaw")) return;

            var fleet = new FleetFreeze(_sessions, Path, LeaseSec, Force, NoFlush);
            var failed = fleet.Prepare(TimeSpan.FromSeconds(Math.Max(60, LeaseSec)));
            if (failed.Count > 0)
            {
                WriteLog(fleet);
                ThrowTerminatingError(FreezeFailed(fleet, failed.Select(l => l.Result).ToList(), "Nothing was frozen on any host"));
            }
            if (!fleet.Freeze())
            {
                WriteLog(fleet);
                var bad = fleet.Results.Where(h => h.State is FleetHostState.FreezeFailed).ToList();
                ThrowTerminatingError(FreezeFailed(fleet, bad, "Every host that froze was thawed again (all or nothing)"));
            }

            var output = new List<PSObject>();
            Exception? thrown = null;
            DateTime started = DateTime.UtcNow, ended = started;
            var signals = new List<PosixSignalRegistration>();
            try
            {
                // SIGTERM or SIGHUP to this process: thaw the fleet now (the signal then ends the process as usual).
                // kill -9 cannot be caught: every host's lease thaws it then.
                foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGHUP })
                {
                    signals.Add(PosixSignalRegistration.Create(signal, _ => fleet.ThawAll()));
                }
                fleet.StartRenewals();
                started = DateTime.UtcNow;
                ScriptBlockRunner.Invoke(this, ScriptBlockRunner.Prepare(), ScriptBlock, fleet.Results.ToArray(), output);
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                thrown = e; // rethrown below, after the thaw and after what the scriptblock wrote
            }
            finally
            {
                ended = DateTime.UtcNow;
                fleet.ThawAll();
                fleet.Judge(started, ended);
                foreach (var r in signals) r.Dispose();
            }

            try
            {
                WriteLog(fleet);
                ScriptBlockRunner.WriteAll(this, output);
                foreach (var h in fleet.Results) WriteObject(h);
                foreach (var h in fleet.Results.Where(h => h.State is FleetHostState.Unreachable))
                {
                    WriteError(new ErrorRecord(new InvalidOperationException(h.Reason), "FsFreeze.FleetThawFailed", ErrorCategory.ConnectionError, h));
                }
                var inconsistent = fleet.Results.Where(h => !h.HeldThroughScriptBlock).ToList();
                if (inconsistent.Count > 0)
                {
                    WriteError(new ErrorRecord(new InvalidOperationException(
                        $"The fleet snapshot is inconsistent: {inconsistent.Count} of {fleet.Results.Count} host(s) may have been thawed before the scriptblock ended " +
                        $"at {ended.ToLocalTime():HH:mm:ss.fff}. " + string.Join(" ", inconsistent.Select(h => h.Reason)) +
                        " Do not use what the scriptblock took; take it again (a longer -LeaseSec if the scriptblock outlived the lease)."),
                        "FsFreeze.FleetInconsistent", ErrorCategory.InvalidResult, inconsistent.ToArray()));
                }
            }
            catch (PipelineStoppedException) when (thrown == null)
            {
                // Stopping (Ctrl+C): every host is thawed; there is nowhere left to write to.
            }
            if (thrown != null) ExceptionDispatchInfo.Capture(thrown).Throw();
        }

        private void WriteLog(FleetFreeze fleet)
        {
            foreach (var line in fleet.DrainLog()) WriteVerbose(line);
        }

        private static ErrorRecord FreezeFailed(FleetFreeze fleet, IReadOnlyList<FleetHostFreeze> failed, string outcome)
        {
            var left = fleet.Results.Where(h => h.State is FleetHostState.Unreachable or FleetHostState.Frozen).ToList();
            var message = $"The fleet freeze failed on {failed.Count} of {fleet.Results.Count} host(s): " +
                string.Join(" ", failed.Select(h => $"[{h.ComputerName}] {h.ErrorId}: {h.Reason}")) + $" {outcome}." +
                (left.Count > 0 ? $" Could not reach {string.Join(", ", left.Select(h => h.ComputerName))} to thaw it: its lease thaws it within {fleet.Results[0].LeaseSec} s." : "") +
                " The scriptblock did not run.";
            return new ErrorRecord(new InvalidOperationException(message), "FsFreeze.FleetFreezeFailed", ErrorCategory.OperationStopped, fleet.Results.ToArray());
        }
    }
}
