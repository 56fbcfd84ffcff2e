using System;

namespace FsFreeze
{
    /// <summary>Where one host of a fleet freeze stands.</summary>
    public enum FleetHostState
    {
        /// <summary>Not frozen yet (or its freeze was never asked for: another host failed first).</summary>
        Pending,
        /// <summary>Frozen, and the controller still holds its lease.</summary>
        Frozen,
        /// <summary>Thawed by the controller.</summary>
        Thawed,
        /// <summary>Its lease ran out and its watchdog thawed it (a renewal or the thaw found it so).</summary>
        ThawedByLease,
        /// <summary>Thawed, but not by this fleet freeze nor by its lease (someone ran Invoke-FsThaw -Force, fsfreeze -u).</summary>
        ThawedElsewhere,
        /// <summary>The controller cannot reach it: its lease thaws it by its deadline.</summary>
        Unreachable,
        /// <summary>Frozen, then thawed again because another host's freeze failed (all or nothing).</summary>
        RolledBack,
        /// <summary>Its freeze failed (or it did not answer in time); whatever it froze, its own engine or lease thaws.</summary>
        FreezeFailed,
    }

    /// <summary>
    /// One host of a fleet freeze (Use-FsFreezeFleet): when its set was frozen and thawed (the host's clock), what the
    /// controller saw (the controller's clock), and whether its freeze provably held until the scriptblock ended.
    /// </summary>
    public sealed class FleetHostFreeze
    {
        public string ComputerName { get; set; } = "";
        public string SessionName { get; set; } = "";
        public FleetHostState State { get; set; } = FleetHostState.Pending;

        /// <summary>
        /// True when the host's freeze provably lasted until the scriptblock ended: a renewal or the thaw succeeded after
        /// that moment, or a lease renewed before it still covered it. False makes the fleet snapshot inconsistent.
        /// </summary>
        public bool HeldThroughScriptBlock { get; set; }

        /// <summary>The filesystems frozen on the host, in freeze order.</summary>
        public string[] MountPoint { get; set; } = Array.Empty<string>();
        public string FreezeId { get; set; } = "";
        public int LeaseSec { get; set; }

        /// <summary>Successful lease renewals (Reset-FsFreezeTimeout) while the scriptblock ran.</summary>
        public int Renewals { get; set; }

        /// <summary>When the host's first member was frozen (host clock): writers there are held from then on.</summary>
        public DateTime? FrozenAt { get; set; }

        /// <summary>
        /// When the host's last member was thawed (host clock). For a host its lease thawed, the lease's deadline as the
        /// host last reported it; null when unknown (an unreachable host).
        /// </summary>
        public DateTime? ThawedAt { get; set; }

        /// <summary>How long the host's writers were held: ThawedAt - FrozenAt.</summary>
        public TimeSpan? FrozenFor => FrozenAt.HasValue && ThawedAt.HasValue ? ThawedAt.Value - FrozenAt.Value : (TimeSpan?)null;

        /// <summary>FrozenFor in milliseconds: a plain number in JSON.</summary>
        public double? FrozenForMs => FrozenFor.HasValue ? Math.Round(FrozenFor.Value.TotalMilliseconds, 3) : null;

        /// <summary>The lease's deadline as the host last reported it (host clock).</summary>
        public DateTime? Deadline { get; set; }

        /// <summary>Controller clock: when the freeze request went out, and when the host's answer came back.</summary>
        public DateTime? FreezeSentAt { get; set; }
        public DateTime? FreezeAnsweredAt { get; set; }

        /// <summary>Controller clock: when the scriptblock started and ended (the same for every host of the run).</summary>
        public DateTime? ScriptBlockStartedAt { get; set; }
        public DateTime? ScriptBlockEndedAt { get; set; }

        /// <summary>Controller clock: the latest moment the host is known to have been frozen (a successful call sent then).</summary>
        public DateTime? ProvenFrozenAt { get; set; }

        /// <summary>Controller clock: the earliest its lease can end, from the last successful renewal (sent + LeaseSec).</summary>
        public DateTime? LeaseCoveredUntil { get; set; }

        /// <summary>Why the host is not Thawed and held, or what went wrong on it; empty when all went well.</summary>
        public string Reason { get; set; } = "";

        /// <summary>The error id behind Reason (for example FsFreeze.AlreadyFrozen), when there is one.</summary>
        public string ErrorId { get; set; } = "";

        /// <summary>The host's own FrozenFilesystem objects (deserialized), as Invoke-FsFreeze emitted them there.</summary>
        public object[] Members { get; set; } = Array.Empty<object>();

        public override string ToString() => $"{ComputerName} ({State})";
    }
}
