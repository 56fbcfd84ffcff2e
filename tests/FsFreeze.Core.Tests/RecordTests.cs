using System;
using FsFreeze.State;
using Xunit;

namespace FsFreeze.Tests
{
    public class RecordTests
    {
        private static FreezeRecord Sample()
        {
            var r = new FreezeRecord
            {
                Id = "20261130T010203-abcdef012345",
                Watchdog = new ProcessIdentity(4321, 99),
                Freezer = new ProcessIdentity(1234, 77),
                Scope = true,
                TimeoutSec = 30,
                DeadlineUtc = new DateTime(2030, 1, 2, 3, 4, 5, DateTimeKind.Utc),
                CreatedUtc = new DateTime(2030, 1, 2, 3, 3, 35, DateTimeKind.Utc),
            };
            r.Members.Add(new RecordedMember { MountPoint = "/mnt/with space\tand tab", Device = "7:3", MountId = 42, FileSystemType = "ext4", Source = "/dev/loop3",
                Identity = "00112233", FrozenAtUtc = r.CreatedUtc.AddSeconds(1) });
            return r;
        }

        [Fact]
        public void A_record_round_trips()
        {
            var r = Sample();
            var back = FreezeRecord.Parse(r.Serialize(), FreezeState.Frozen);
            Assert.Equal(r.Id, back.Id);
            Assert.Equal(r.Watchdog, back.Watchdog);
            Assert.Equal(r.Freezer, back.Freezer);
            Assert.True(back.Scope);
            Assert.Equal(30, back.TimeoutSec);
            Assert.Equal(r.DeadlineUtc, back.DeadlineUtc);
            var m = Assert.Single(back.Members);
            Assert.Equal("/mnt/with space\tand tab", m.MountPoint);
            Assert.Equal(42, m.MountId);
            Assert.Equal("00112233", m.Identity);
            Assert.Equal(FreezeState.Frozen, m.State);
        }

        [Fact]
        public void A_record_renamed_to_its_outcome_reports_every_member_so()
        {
            // The watchdog renames <id>.frozen to <id>.timeout first; a full directory may stop the rewrite after it.
            var back = FreezeRecord.Parse(Sample().Serialize(), FreezeState.ThawedByTimeout);
            Assert.Equal(FreezeState.ThawedByTimeout, back.State);
            Assert.Equal(FreezeState.ThawedByTimeout, back.Members[0].State);
            Assert.False(back.IsHeld);
        }

        [Theory]
        [InlineData("garbage")]
        [InlineData("")]
        [InlineData("fsfreeze-record\t1\nid\tx")]
        [InlineData("fsfreeze-record\t2\nid\tbad/id")]
        [InlineData("fsfreeze-record\t2\nid\tok-1\ncreated\t99999999999999999999999")]
        [InlineData("fsfreeze-record\t2\nid\tok-1\nmember\t/m\t7:1\t1\text4\t/dev/x\t\t\tNotAState\t")]
        [InlineData("fsfreeze-record\t2\nid\tok-1\nmember\t/m")]
        [InlineData("fsfreeze-record\t2\nid\tok-1\nsurprise\t1")]
        public void A_malformed_record_is_a_FormatException_never_anything_else(string text)
            => Assert.Throws<FormatException>(() => FreezeRecord.Parse(text, FreezeState.Frozen));

        [Fact]
        public void A_member_is_matched_by_device_and_uuid_where_both_are_known()
        {
            var m = new RecordedMember { Device = "7:3", Identity = "aa" };
            Assert.True(m.Is("7:3", "aa"));
            Assert.True(m.Is("7:3", ""));
            Assert.False(m.Is("7:3", "bb"));   // a reused loop device with another filesystem on it
            Assert.False(m.Is("7:4", "aa"));
        }
    }
}
