using System;

namespace FsFreeze
{
    /// <summary>
    /// The lease rules of a fleet freeze, on the controller's clock only (hosts' clocks may differ from it and from each
    /// other). Pure logic.
    ///
    /// A freeze id is never frozen again once thawed, so any successful call on it (a renewal, the thaw) proves the host
    /// was frozen, without a break, from its freeze until the moment that call was sent (it ran after that). A successful
    /// renewal sent at S also sets the deadline to at least S + lease, so the watchdog does not thaw before then: the
    /// lease covers the host until S + lease even if nothing reaches it any more (a cut link, a dead controller).
    /// </summary>
    public static class FleetLease
    {
        /// <summary>How often the controller renews: half the lease (the seed's "10 s every 5 s"), at least every second.</summary>
        public static TimeSpan RenewInterval(int leaseSec) => TimeSpan.FromSeconds(Math.Max(1.0, leaseSec / 2.0));

        /// <summary>Validates a lease: at least 2 seconds (0 would be no lease at all; 1 is FsFreeze's ambiguous value).</summary>
        public static void Validate(int leaseSec)
        {
            if (leaseSec < 2)
            {
                throw new FsFreezeException(FreezeErrorKind.InvalidTimeout, "",
                    $"-LeaseSec {leaseSec} is too short: a fleet freeze needs a lease of 2 seconds or more (each host thaws by itself when its lease runs out; 0 would mean never).");
            }
            FreezeTimeout.Validate(leaseSec, "");
        }

        /// <summary>
        /// The freeze, sent at <paramref name="sentUtc"/>, answered at <paramref name="answeredUtc"/>: frozen by then; the
        /// watchdog armed its deadline after the request left, so the lease runs until at least sent + lease.
        /// </summary>
        public static void RecordFrozen(FleetHostFreeze h, DateTime sentUtc, DateTime answeredUtc)
        {
            h.ProvenFrozenAt = answeredUtc.ToLocalTime();
            h.LeaseCoveredUntil = sentUtc.AddSeconds(h.LeaseSec).ToLocalTime();
        }

        /// <summary>A call sent at <paramref name="sentUtc"/> succeeded: the host was frozen then, and its lease runs until at least sent + lease.</summary>
        public static void RecordSuccess(FleetHostFreeze h, DateTime sentUtc, bool renewsLease)
        {
            // Kept in local time, as every time FsFreeze's objects carry; compared in UTC.
            if (!h.ProvenFrozenAt.HasValue || sentUtc > h.ProvenFrozenAt.Value.ToUniversalTime()) h.ProvenFrozenAt = sentUtc.ToLocalTime();
            if (renewsLease)
            {
                var covered = sentUtc.AddSeconds(h.LeaseSec);
                if (!h.LeaseCoveredUntil.HasValue || covered > h.LeaseCoveredUntil.Value.ToUniversalTime()) h.LeaseCoveredUntil = covered.ToLocalTime();
            }
        }

        /// <summary>
        /// Whether the host's freeze provably held until the scriptblock ended: proven frozen at or after the end, or
        /// (unless someone else thawed it early) covered by its lease until then.
        /// </summary>
        public static bool HeldThrough(FleetHostFreeze h, DateTime scriptBlockEndedUtc)
        {
            if (h.ProvenFrozenAt.HasValue && h.ProvenFrozenAt.Value.ToUniversalTime() >= scriptBlockEndedUtc) return true;
            if (h.State == FleetHostState.ThawedElsewhere || h.State == FleetHostState.FreezeFailed || h.State == FleetHostState.RolledBack || h.State == FleetHostState.Pending) return false;
            return h.LeaseCoveredUntil.HasValue && h.LeaseCoveredUntil.Value.ToUniversalTime() >= scriptBlockEndedUtc;
        }
    }
}
