using System;
using System.Collections;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Threading;

namespace FsFreeze.Commands
{
    /// <summary>
    /// A freeze of the same paths on many hosts as one set, driven through their PSSessions with FsFreeze's own cmdlets
    /// on each host (Invoke-FsFreeze with a timeout as the lease, Reset-FsFreezeTimeout to renew it, Invoke-FsThaw).
    /// Hosts are asked concurrently at every step. All or nothing: if one host's freeze fails, every host that froze is
    /// thawed again. While frozen, a thread of its own renews every lease every half lease. The controller's clock is
    /// the only one trusted for ordering (FleetLease); the hosts' own times are reported as they gave them.
    /// Thread-safe: ThawAll may run from a signal handler while the cmdlet's thread also calls it; it thaws once.
    /// </summary>
    internal sealed class FleetFreeze
    {
        // Run on each host. Parameters only, never text pasted into a script.
        private const string PrepareScript = @"
param([string[]] $Path, [bool] $NoFlush)
if (-not (Get-Module FsFreeze)) { Import-Module FsFreeze -ErrorAction Stop }
# Resolves every path (a missing one fails here, before any host is frozen) and warms the engine up, so the freezes
# that follow start together. A freeze FsFreeze already holds there would make the freeze fail: say so now.
foreach ($held in @(Get-FsFreezeStatus -Path $Path -ErrorAction Stop)) {
    Write-Error -ErrorId 'FsFreeze.AlreadyFrozen' -Category ResourceBusy -TargetObject $held.MountPoint -Message (
        ""'{0}' is already frozen by FsFreeze (freeze {1}); a fleet freeze cannot freeze it again. Thaw it, or wait for its timeout."" -f $held.MountPoint, $held.FreezeId)
}
# Write back what is dirty now, while writers still run and before any host is frozen: each host's own flush right
# before its FIFREEZE then has little left to do, so the freezes finish close together (a narrow fleet barrier).
if (-not $NoFlush) { & sync -f -- @(Get-Item -LiteralPath $Path -Force | ForEach-Object FullName) 2>$null }
[string](Get-Module FsFreeze).Version";

        private const string FreezeScript = @"
param([string[]] $Path, [int] $LeaseSec, [bool] $Force, [bool] $NoFlush)
Invoke-FsFreeze -Path $Path -TimeoutSec $LeaseSec -Force:$Force -NoFlush:$NoFlush -Confirm:$false";

        private const string RenewScript = @"
param([string] $LiteralPath, [string] $FreezeId, [int] $LeaseSec)
Reset-FsFreezeTimeout -LiteralPath $LiteralPath -FreezeId $FreezeId -TimeoutSec $LeaseSec -Confirm:$false | Select-Object -First 1 -Property Deadline";

        private const string ThawScript = @"
param([object[]] $Frozen)
$Frozen | Invoke-FsThaw -Confirm:$false";

        private enum Phase { Preparing, Freezing, Frozen, Thawing, Done }

        private readonly object _gate = new object();
        private readonly object _thawGate = new object();
        private readonly string[] _paths;
        private readonly int _leaseSec;
        private readonly bool _force, _noFlush;
        private readonly ConcurrentQueue<string> _log = new ConcurrentQueue<string>();
        private CancellationTokenSource? _stopRenewals;
        private Thread? _renewer;
        private Phase _phase = Phase.Preparing;
        private bool _thawed;

        public FleetFreeze(IEnumerable<PSSession> sessions, string[] paths, int leaseSec, bool force, bool noFlush)
        {
            _paths = paths;
            _leaseSec = leaseSec;
            _force = force;
            _noFlush = noFlush;
            Lanes = sessions.Select(s => new FleetLane(s, leaseSec)).ToList();
        }

        public IReadOnlyList<FleetLane> Lanes { get; }

        public IReadOnlyList<FleetHostFreeze> Results => Lanes.Select(l => l.Result).ToList();

        private TimeSpan Lease => TimeSpan.FromSeconds(_leaseSec);

        /// <summary>What happened, in order, for the cmdlet to write as verbose messages once everything is thawed.</summary>
        public IEnumerable<string> DrainLog()
        {
            while (_log.TryDequeue(out var line)) yield return line;
        }

        private void Log(string line) => _log.Enqueue($"{DateTime.Now:HH:mm:ss.fff} {line}");

        /// <summary>
        /// Every host loads FsFreeze and resolves the paths, concurrently; nothing is frozen. Returns the hosts that
        /// failed (empty: go on).
        /// </summary>
        public List<FleetLane> Prepare(TimeSpan timeout)
        {
            var failed = new List<FleetLane>();
            var started = new List<FleetLane>();
            foreach (var lane in Lanes)
            {
                if (lane.Unusable() is string why)
                {
                    Fail(lane, FleetHostState.FreezeFailed, "FsFreeze.FleetSessionUnavailable", $"Cannot use host {lane.Name}: {why}.");
                    failed.Add(lane);
                    continue;
                }
                lane.TryStart(PrepareScript, new Hashtable { ["Path"] = _paths, ["NoFlush"] = _noFlush }, r =>
                {
                    if (r.Succeeded) Log($"{lane.Name}: FsFreeze {r.Output.LastOrDefault()} ready, paths resolved ({Ms(r.AnsweredUtc - r.SentUtc)}).");
                    else Fail(lane, FleetHostState.FreezeFailed, r.ErrorId, $"Host {lane.Name} cannot freeze {string.Join(", ", _paths)}: {r.Message}");
                });
                started.Add(lane);
            }
            var until = DateTime.UtcNow + timeout;
            foreach (var lane in started)
            {
                if (!lane.WaitIdle(until - DateTime.UtcNow))
                {
                    lane.Abandon();
                    Fail(lane, FleetHostState.FreezeFailed, "FsFreeze.FleetHostTimeout", $"Host {lane.Name} did not answer within {timeout.TotalSeconds:0} s while loading FsFreeze and resolving the paths.");
                }
                if (lane.Result.State == FleetHostState.FreezeFailed) failed.Add(lane);
            }
            return failed;
        }

        /// <summary>
        /// Freezes every host at once, each with a lease of LeaseSec (its watchdog's timeout, armed before its first
        /// FIFREEZE). True when all are frozen; otherwise every host that froze is thawed again and false is returned.
        /// </summary>
        public bool Freeze()
        {
            lock (_gate) _phase = Phase.Freezing;
            foreach (var lane in Lanes)
            {
                var args = new Hashtable { ["Path"] = _paths, ["LeaseSec"] = _leaseSec, ["Force"] = _force, ["NoFlush"] = _noFlush };
                if (!lane.TryStart(FreezeScript, args, r => OnFrozen(lane, r)))
                {
                    Fail(lane, FleetHostState.FreezeFailed, "FsFreeze.FleetHostTimeout", $"Host {lane.Name} is still busy with an earlier call.");
                }
            }
            // A host that has not answered within its lease has been thawed by it (the deadline is armed before the first
            // FIFREEZE), so waiting longer would change nothing.
            var until = DateTime.UtcNow + Lease;
            foreach (var lane in Lanes)
            {
                if (!lane.WaitIdle(until - DateTime.UtcNow))
                {
                    lane.Abandon();
                    Fail(lane, FleetHostState.FreezeFailed, "FsFreeze.FleetHostTimeout",
                        $"Host {lane.Name} did not answer its freeze within the {_leaseSec} s lease; whatever it froze, its lease thaws.");
                }
            }
            lock (_gate)
            {
                if (Lanes.All(l => l.Result.State == FleetHostState.Frozen))
                {
                    _phase = Phase.Frozen;
                    var frozen = Lanes.Select(l => l.Result.FrozenAt).Where(t => t.HasValue).Select(t => t!.Value).ToList();
                    if (frozen.Count > 0) Log($"Every host is frozen; the barrier (first host frozen to last, hosts' clocks) took {Ms(frozen.Max() - frozen.Min())}.");
                    return true;
                }
                _phase = Phase.Thawing;
            }
            var rollback = Lanes.Where(l => l.Result.State == FleetHostState.Frozen).ToList();
            Log($"Not every host froze: thawing the {rollback.Count} that did ({string.Join(", ", rollback.Select(l => l.Name))}).");
            ThawLanes(rollback, rollback: true);
            lock (_gate) _phase = Phase.Done;
            return false;
        }

        private void OnFrozen(FleetLane lane, RemoteCallResult r)
        {
            lock (_gate)
            {
                var h = lane.Result;
                h.FreezeSentAt = r.SentUtc.ToLocalTime();
                h.FreezeAnsweredAt = r.AnsweredUtc.ToLocalTime();
                var frozen = r.Output.Where(o => FleetLane.Prop(o, "FreezeId") is string).ToArray();
                if (frozen.Length > 0)
                {
                    // Invoke-FsFreeze froze a whole set, or nothing (all or nothing on the host too).
                    lane.Frozen = frozen;
                    h.Members = frozen.Cast<object>().ToArray();
                    h.MountPoint = frozen.Select(o => FleetLane.Prop(o, "MountPoint") as string ?? "").ToArray();
                    h.FreezeId = FleetLane.Prop(frozen[0], "FreezeId") as string ?? "";
                    h.FrozenAt = frozen.Select(o => FleetLane.DateProp(o, "FrozenAt")).Where(t => t.HasValue).Min();
                    h.Deadline = frozen.Select(o => FleetLane.DateProp(o, "Deadline")).FirstOrDefault(t => t.HasValue);
                    FleetLease.RecordFrozen(h, r.SentUtc, r.AnsweredUtc);
                    if (_phase == Phase.Freezing)
                    {
                        h.State = FleetHostState.Frozen;
                        Log($"{lane.Name}: froze {string.Join(", ", h.MountPoint)} (freeze {h.FreezeId}), answered after {Ms(r.AnsweredUtc - r.SentUtc)}.");
                    }
                    else
                    {
                        // It answered after the controller gave up on it: its lease thaws it.
                        h.State = FleetHostState.FreezeFailed;
                        h.Reason = $"Host {lane.Name} froze {string.Join(", ", h.MountPoint)} only after the controller had given up on it; its lease thaws it by {h.Deadline:HH:mm:ss}.";
                        Log(h.Reason);
                    }
                    return;
                }
                h.State = FleetHostState.FreezeFailed;
                h.ErrorId = r.Succeeded ? "FsFreeze.FleetNothingFrozen" : r.ErrorId;
                h.Reason = r.Succeeded ? $"Host {lane.Name} froze nothing." : $"Host {lane.Name} could not freeze {string.Join(", ", _paths)}: {r.Message}";
                Log(h.Reason);
            }
        }

        /// <summary>Renews every frozen host's lease every half lease, on a thread of its own, until ThawAll.</summary>
        public void StartRenewals()
        {
            _stopRenewals = new CancellationTokenSource();
            var token = _stopRenewals.Token;
            var interval = FleetLease.RenewInterval(_leaseSec);
            _renewer = new Thread(() =>
            {
                while (!token.WaitHandle.WaitOne(interval))
                {
                    foreach (var lane in Lanes)
                    {
                        if (lane.Result.State != FleetHostState.Frozen || lane.Frozen.Length == 0) continue;
                        var args = new Hashtable
                        {
                            ["LiteralPath"] = lane.Result.MountPoint[0], ["FreezeId"] = lane.Result.FreezeId, ["LeaseSec"] = _leaseSec,
                        };
                        if (!lane.TryStart(RenewScript, args, r => OnRenewed(lane, r)))
                        {
                            Log($"{lane.Name}: its previous call has not answered yet; no renewal sent this round.");
                        }
                    }
                }
            })
            { IsBackground = true, Name = "FsFreeze fleet lease renewal" };
            _renewer.Start();
        }

        private void OnRenewed(FleetLane lane, RemoteCallResult r)
        {
            lock (_gate)
            {
                var h = lane.Result;
                if (r.Succeeded)
                {
                    h.Renewals++;
                    var deadline = r.Output.Select(o => FleetLane.DateProp(o, "Deadline")).FirstOrDefault(t => t.HasValue);
                    if (deadline.HasValue) h.Deadline = deadline;
                    FleetLease.RecordSuccess(h, r.SentUtc, renewsLease: true);
                    return;
                }
                if (h.State != FleetHostState.Frozen) return;
                if (r.TransportFailed)
                {
                    h.State = FleetHostState.Unreachable;
                    h.ErrorId = r.ErrorId;
                    h.Reason = $"Host {lane.Name} could not be reached to renew its lease ({r.Message}); its lease thaws it by {h.Deadline:HH:mm:ss} (its clock).";
                }
                else
                {
                    // FsFreeze.NotFrozen: the freeze has ended (its lease ran out, or someone thawed it); the thaw says which.
                    h.State = FleetHostState.ThawedByLease;
                    h.ErrorId = r.ErrorId;
                    h.Reason = $"Host {lane.Name} is no longer frozen: {r.Message}";
                }
                Log(h.Reason);
            }
        }

        /// <summary>
        /// Stops the renewals and thaws every host still frozen, concurrently; waits at most a lease for the answers
        /// (a host that does not answer is thawed by its lease). Once: later calls return at once.
        /// </summary>
        public void ThawAll()
        {
            lock (_thawGate)
            {
                if (_thawed) return;
                _thawed = true;
                _stopRenewals?.Cancel();
                // A renewal in flight answers in milliseconds; wait for it, so the thaw finds its lane free.
                _renewer?.Join(TimeSpan.FromSeconds(2));
                lock (_gate) _phase = Phase.Thawing;
                var targets = Lanes.Where(l => l.Frozen.Length > 0 && l.Result.State is FleetHostState.Frozen or FleetHostState.ThawedByLease or FleetHostState.Unreachable).ToList();
                ThawLanes(targets, rollback: false);
                lock (_gate) _phase = Phase.Done;
            }
        }

        private void ThawLanes(List<FleetLane> lanes, bool rollback)
        {
            var until = DateTime.UtcNow + Lease + TimeSpan.FromSeconds(2);
            var waiting = new List<FleetLane>(lanes);
            var asked = new List<FleetLane>();
            // Every idle host at once; a host still busy (a renewal that has not answered) as soon as it is free.
            while (waiting.Count > 0)
            {
                foreach (var lane in waiting.ToList())
                {
                    if (lane.TryStart(ThawScript, new Hashtable { ["Frozen"] = lane.Frozen }, r => OnThawed(lane, r, rollback)))
                    {
                        waiting.Remove(lane);
                        asked.Add(lane);
                    }
                }
                if (waiting.Count == 0 || DateTime.UtcNow >= until) break;
                waiting[0].WaitIdle(TimeSpan.FromMilliseconds(20));
            }
            foreach (var lane in waiting)
            {
                lane.Abandon();
                Unreachable(lane, "its earlier call never answered");
            }
            foreach (var lane in asked)
            {
                if (!lane.WaitIdle(until - DateTime.UtcNow))
                {
                    lane.Abandon();
                    Unreachable(lane, "it did not answer the thaw");
                }
            }
        }

        private void Unreachable(FleetLane lane, string why)
        {
            lock (_gate)
            {
                var h = lane.Result;
                h.State = FleetHostState.Unreachable;
                if (string.IsNullOrEmpty(h.ErrorId)) h.ErrorId = "FsFreeze.FleetHostUnreachable";
                h.Reason = $"Host {lane.Name} could not be thawed ({why}); its lease thaws it by {h.Deadline:HH:mm:ss} (its clock).";
                Log(h.Reason);
            }
        }

        private void OnThawed(FleetLane lane, RemoteCallResult r, bool rollback)
        {
            lock (_gate)
            {
                var h = lane.Result;
                var thawedAt = r.Output.Select(o => FleetLane.DateProp(o, "ThawedAt")).Where(t => t.HasValue).Max();
                if (r.Succeeded)
                {
                    h.State = rollback ? FleetHostState.RolledBack : FleetHostState.Thawed;
                    h.ThawedAt = thawedAt;
                    FleetLease.RecordSuccess(h, r.SentUtc, renewsLease: false);
                    Log($"{lane.Name}: {(rollback ? "rolled back (thawed)" : "thawed")} {string.Join(", ", h.MountPoint)} after {Ms(h.FrozenFor ?? TimeSpan.Zero)} frozen (answered after {Ms(r.AnsweredUtc - r.SentUtc)}).");
                    return;
                }
                if (r.TransportFailed)
                {
                    h.ErrorId = r.ErrorId;
                    Unreachable(lane, r.Message);
                    return;
                }
                h.ErrorId = r.ErrorId;
                if (r.HasErrorId("FsFreeze.ThawedByTimeout"))
                {
                    // The watchdog thawed it at its deadline: the last one the host reported.
                    h.State = FleetHostState.ThawedByLease;
                    h.ThawedAt = thawedAt ?? h.Deadline;
                    h.Reason = $"Host {lane.Name} was thawed by its lease before the controller's thaw: {r.Message}";
                }
                else if (r.HasErrorId("FsFreeze.NotFrozen"))
                {
                    h.State = FleetHostState.ThawedElsewhere;
                    h.ThawedAt = thawedAt;
                    h.Reason = $"Host {lane.Name} had been thawed by someone else: {r.Message}";
                }
                else
                {
                    // Some members may be thawed, others not: the host's engine says which; its lease ends the rest.
                    h.State = thawedAt.HasValue ? FleetHostState.Thawed : FleetHostState.Unreachable;
                    h.ThawedAt = thawedAt;
                    h.Reason = $"Host {lane.Name}: the thaw failed: {r.Message} Whatever stays frozen there, its lease thaws by {h.Deadline:HH:mm:ss} (its clock).";
                }
                Log(h.Reason);
            }
        }

        /// <summary>Sets the scriptblock's times on every host and decides, per host, whether its freeze held through it.</summary>
        public void Judge(DateTime startedUtc, DateTime endedUtc)
        {
            lock (_gate)
            {
                foreach (var h in Results)
                {
                    h.ScriptBlockStartedAt = startedUtc.ToLocalTime();
                    h.ScriptBlockEndedAt = endedUtc.ToLocalTime();
                    h.HeldThroughScriptBlock = FleetLease.HeldThrough(h, endedUtc);
                    if (!h.HeldThroughScriptBlock && string.IsNullOrEmpty(h.Reason))
                    {
                        h.Reason = $"Host {h.ComputerName}: nothing proves its freeze lasted until the scriptblock ended at {endedUtc.ToLocalTime():HH:mm:ss.fff}.";
                    }
                }
            }
        }

        private void Fail(FleetLane lane, FleetHostState state, string errorId, string reason)
        {
            lock (_gate)
            {
                lane.Result.State = state;
                lane.Result.ErrorId = errorId;
                lane.Result.Reason = reason;
            }
            Log(reason);
        }

        internal static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("N1", CultureInfo.InvariantCulture) + " ms";
    }
}
