using System;
using FsFreeze.Native;
using Mono.Unix.Native;
using Xunit;

namespace FsFreeze.Tests
{
    public class LogicTests
    {
        [Theory]
        [InlineData(0, true)]
        [InlineData(2, true)]
        [InlineData(1, false)]
        [InlineData(-5, false)]
        [InlineData(int.MaxValue, false)]
        public void Timeouts_accept_0_and_2_or_more(long seconds, bool ok)
        {
            if (ok) FreezeTimeout.Validate(seconds, "/x");
            else Assert.Equal(FreezeErrorKind.InvalidTimeout, Assert.Throws<FsFreezeException>(() => FreezeTimeout.Validate(seconds, "/x")).Kind);
        }

        [Fact]
        public void The_seed_reads_0_and_1_as_no_timeout()
        {
            Assert.Equal(0, FreezeTimeout.FromSeed(0));
            Assert.Equal(0, FreezeTimeout.FromSeed(1));
            Assert.Equal(10, FreezeTimeout.FromSeed(10));
        }

        [Theory]
        [InlineData(Errno.EPERM, NativeOperation.Freeze, FreezeErrorKind.PermissionDenied)]
        [InlineData(Errno.ENOENT, NativeOperation.Open, FreezeErrorKind.PathNotFound)]
        [InlineData(Errno.EOPNOTSUPP, NativeOperation.Freeze, FreezeErrorKind.NotSupported)]
        [InlineData(Errno.EBUSY, NativeOperation.Freeze, FreezeErrorKind.AlreadyFrozen)]
        [InlineData(Errno.EINVAL, NativeOperation.Thaw, FreezeErrorKind.NotFrozen)]
        [InlineData(Errno.EIO, NativeOperation.Freeze, FreezeErrorKind.IoError)]
        public void Each_errno_maps_to_one_kind_with_a_message_naming_the_path(Errno errno, NativeOperation op, FreezeErrorKind kind)
        {
            var e = ErrorMessages.ForNative(new NativeException(errno, op, "/mnt/x"), "/mnt/x", null);
            Assert.Equal(kind, e.Kind);
            Assert.Equal("/mnt/x", e.Path);
            Assert.Contains("/mnt/x", e.Message);
            Assert.Equal((int)errno, e.Errno);
        }

        [Fact]
        public void The_start_time_is_read_past_a_comm_with_spaces_and_parentheses()
        {
            var stat = "123 (a) (b c) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 424242 1000 10";
            Assert.Equal(424242UL, ProcessIdentity.ParseStartTime(stat));
            Assert.Null(ProcessIdentity.ParseStartTime(stat.Replace(") S ", ") Z ")));
        }

        [Fact]
        public void Flush_passes_repeat_only_while_slow_and_at_most_three_times()
        {
            Assert.True(FlushPolicy.FlushAgain(1, TimeSpan.FromMilliseconds(200)));
            Assert.False(FlushPolicy.FlushAgain(1, TimeSpan.FromMilliseconds(10)));
            Assert.False(FlushPolicy.FlushAgain(FlushPolicy.MaxPasses, TimeSpan.FromSeconds(1)));
        }
    }
}
