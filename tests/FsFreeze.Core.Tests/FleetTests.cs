using System;
using Xunit;

namespace FsFreeze.Tests
{
    /// <summary>The fleet lease rules (FleetLease): when a host's freeze provably held until the scriptblock ended.</summary>
    public class FleetTests
    {
        private static readonly DateTime T0 = new DateTime(2026, 11, 30, 10, 0, 0, DateTimeKind.Utc);

        private static FleetHostFreeze Host(int leaseSec = 10) => new FleetHostFreeze { ComputerName = "h", LeaseSec = leaseSec, State = FleetHostState.Frozen };

        [Theory]
        [InlineData(10, 5.0)]
        [InlineData(4, 2.0)]
        [InlineData(3, 1.5)]
        [InlineData(2, 1.0)]
        public void Renews_every_half_lease_and_at_least_every_second(int lease, double seconds)
            => Assert.Equal(TimeSpan.FromSeconds(seconds), FleetLease.RenewInterval(lease));

        [Theory]
        [InlineData(0)]
        [InlineData(1)]
        [InlineData(-3)]
        public void A_lease_is_two_seconds_or_more(int lease)
            => Assert.Equal(FreezeErrorKind.InvalidTimeout, Assert.Throws<FsFreezeException>(() => FleetLease.Validate(lease)).Kind);

        [Fact]
        public void A_freeze_is_covered_from_its_request_for_a_lease_and_proven_from_its_answer()
        {
            var h = Host();
            FleetLease.RecordFrozen(h, T0, T0.AddMilliseconds(300));
            Assert.Equal(T0.AddMilliseconds(300), h.ProvenFrozenAt!.Value.ToUniversalTime());
            Assert.Equal(T0.AddSeconds(10), h.LeaseCoveredUntil!.Value.ToUniversalTime());
            Assert.True(FleetLease.HeldThrough(h, T0.AddSeconds(9.9)), "the lease covers a scriptblock that ends within it");
            Assert.False(FleetLease.HeldThrough(h, T0.AddSeconds(10.1)), "nothing covers it after the lease");
        }

        [Fact]
        public void Each_renewal_extends_the_cover_from_when_it_was_sent()
        {
            var h = Host();
            FleetLease.RecordFrozen(h, T0, T0.AddMilliseconds(300));
            FleetLease.RecordSuccess(h, T0.AddSeconds(5), renewsLease: true);
            FleetLease.RecordSuccess(h, T0.AddSeconds(10), renewsLease: true);
            Assert.Equal(T0.AddSeconds(20), h.LeaseCoveredUntil!.Value.ToUniversalTime());
            Assert.True(FleetLease.HeldThrough(h, T0.AddSeconds(19)));
        }

        [Fact]
        public void A_late_answer_never_moves_the_proof_back()
        {
            var h = Host();
            FleetLease.RecordSuccess(h, T0.AddSeconds(10), renewsLease: true);
            FleetLease.RecordSuccess(h, T0.AddSeconds(5), renewsLease: true); // an older renewal answering last
            Assert.Equal(T0.AddSeconds(10), h.ProvenFrozenAt!.Value.ToUniversalTime());
            Assert.Equal(T0.AddSeconds(20), h.LeaseCoveredUntil!.Value.ToUniversalTime());
        }

        [Fact]
        public void A_thaw_after_the_end_proves_it_held_even_past_its_lease()
        {
            var h = Host(leaseSec: 4);
            FleetLease.RecordFrozen(h, T0, T0.AddMilliseconds(100));
            FleetLease.RecordSuccess(h, T0.AddSeconds(30), renewsLease: false); // the controller's thaw succeeded
            h.State = FleetHostState.Thawed;
            Assert.True(FleetLease.HeldThrough(h, T0.AddSeconds(29)), "the same freeze id was still frozen when the thaw was sent");
        }

        [Fact]
        public void An_unreachable_host_held_only_as_far_as_its_last_lease()
        {
            var h = Host(leaseSec: 6);
            FleetLease.RecordFrozen(h, T0, T0.AddMilliseconds(100));
            FleetLease.RecordSuccess(h, T0.AddSeconds(3), renewsLease: true);
            h.State = FleetHostState.Unreachable; // the link was cut at T0 + 4 s
            Assert.True(FleetLease.HeldThrough(h, T0.AddSeconds(8.5)));
            Assert.False(FleetLease.HeldThrough(h, T0.AddSeconds(9.5)), "its lease may have thawed it at T0 + 9 s");
        }

        [Fact]
        public void A_host_its_lease_thawed_after_the_end_still_held()
        {
            var h = Host(leaseSec: 4);
            FleetLease.RecordFrozen(h, T0, T0.AddMilliseconds(100));
            h.State = FleetHostState.ThawedByLease;
            Assert.True(FleetLease.HeldThrough(h, T0.AddSeconds(3)));
            Assert.False(FleetLease.HeldThrough(h, T0.AddSeconds(5)));
        }

        [Theory]
        [InlineData(FleetHostState.ThawedElsewhere)]
        [InlineData(FleetHostState.RolledBack)]
        [InlineData(FleetHostState.FreezeFailed)]
        [InlineData(FleetHostState.Pending)]
        public void A_lease_proves_nothing_for_a_freeze_someone_else_ended_or_that_never_held(FleetHostState state)
        {
            var h = Host();
            FleetLease.RecordFrozen(h, T0, T0.AddMilliseconds(100));
            h.State = state;
            Assert.False(FleetLease.HeldThrough(h, T0.AddSeconds(1)));
        }

        [Fact]
        public void The_result_reports_the_hold_and_its_milliseconds()
        {
            var h = Host();
            h.FrozenAt = T0.ToLocalTime();
            h.ThawedAt = T0.AddMilliseconds(1234.5).ToLocalTime();
            Assert.Equal(TimeSpan.FromMilliseconds(1234.5), h.FrozenFor);
            Assert.Equal(1234.5, h.FrozenForMs);
            Assert.Null(Host().FrozenFor);
        }
    }
}
