using System;
using System.IO;
using FsFreeze.Protocol;
using Xunit;

namespace FsFreeze.Tests
{
    public class ProtocolTests
    {
        [Theory]
        [InlineData("plain")]
        [InlineData("tab\there")]
        [InlineData("new\nline\r")]
        [InlineData("back\\slash\\t")]
        [InlineData("")]
        public void LineCodec_round_trips_any_field(string field)
        {
            var fields = new[] { "a", field, "z" };
            Assert.Equal(fields, LineCodec.Split(LineCodec.Join(fields)));
            Assert.DoesNotContain('\n', LineCodec.Join(fields));
        }

        [Fact]
        public void SpawnRequest_round_trips_odd_paths_and_flags()
        {
            var request = new SpawnRequest("20261130T010203-abc", 30, new ProcessIdentity(1234, 987654321), Flush: true, Scope: true, "/run/fs freeze",
                new[] { new SpawnMember("/mnt/a\tb\nc", "7:3", 42, "~/x\\y"), new SpawnMember("/", "8:1", 21, "/") });
            var back = SpawnRequest.Parse(new StringReader(request.Format()));
            Assert.Equal(request.Id, back.Id);
            Assert.Equal(30, back.TimeoutSec);
            Assert.Equal(1234, back.Freezer.Pid);
            Assert.Equal(987654321UL, back.Freezer.StartTime);
            Assert.True(back.Flush);
            Assert.True(back.Scope);
            Assert.Equal("/run/fs freeze", back.StateDir);
            Assert.Equal(request.Members, back.Members);
        }

        [Fact]
        public void SpawnRequest_of_another_protocol_version_is_refused_with_the_reason()
        {
            var text = new SpawnRequest("id-1", 5, default, true, false, "/run/x", new[] { new SpawnMember("/m", "7:1", 1, "/m") }).Format()
                .Replace($"fsfreeze-watchdog\t{WatchdogProtocol.Version}", "fsfreeze-watchdog\t1");
            var e = Assert.Throws<FormatException>(() => SpawnRequest.Parse(new StringReader(text)));
            Assert.Contains("two builds", e.Message);
        }

        [Fact]
        public void SpawnRequest_refuses_a_bad_id_and_an_empty_request()
        {
            var text = new SpawnRequest("../../etc", 5, default, true, false, "/run/x", new[] { new SpawnMember("/m", "7:1", 1, "/m") }).Format();
            Assert.Throws<FormatException>(() => SpawnRequest.Parse(new StringReader(text)));
            Assert.Throws<FormatException>(() => SpawnRequest.Parse(new StringReader("")));
        }

        [Fact]
        public void Handshake_lines_round_trip()
        {
            var frozen = new MemberFrozen(2, new DateTime(2030, 1, 2, 3, 4, 5, DateTimeKind.Utc), TimeSpan.FromTicks(12345));
            Assert.Equal(frozen, HandshakeLine.Parse(frozen.Format(), "/x"));
            var ready = new Ready(WatchdogProtocol.Version, 777, null);
            Assert.Equal(ready, HandshakeLine.Parse(ready.Format(), "/x"));
        }

        [Fact]
        public void An_error_keeps_its_kind_errno_path_and_message_across_the_wire()
        {
            var inner = new Native.NativeException(Mono.Unix.Native.Errno.EBUSY, Native.NativeOperation.Freeze, "/mnt/a");
            var error = new FsFreezeException(FreezeErrorKind.AlreadyFrozen, "/mnt/a", "busy\twith a tab", inner);
            var back = Assert.IsType<Failure>(HandshakeLine.Parse(new Failure(error).Format(), "/fallback")).Error;
            Assert.Equal(FreezeErrorKind.AlreadyFrozen, back.Kind);
            Assert.Equal("/mnt/a", back.Path);
            Assert.Equal("busy\twith a tab", back.Message);
            Assert.Equal((int)Mono.Unix.Native.Errno.EBUSY, back.Errno);
        }

        [Fact]
        public void Requests_name_their_freeze_and_round_trip()
        {
            foreach (var r in new[] { new WatchdogRequest(RequestVerb.Thaw, "id-1", "7:3"), new WatchdogRequest(RequestVerb.Reset, "id-2", Seconds: 45),
                new WatchdogRequest(RequestVerb.Status, "id-3") })
            {
                Assert.Equal(r, WatchdogRequest.Parse(r.Format()));
            }
            Assert.Throws<FormatException>(() => WatchdogRequest.Parse("explode\tid"));
        }

        [Fact]
        public void Replies_carry_members_and_per_member_errors()
        {
            var at = new DateTime(2031, 5, 6, 7, 8, 9, DateTimeKind.Utc);
            var failed = new FsFreezeException(FreezeErrorKind.NotFrozen, "/b", "not frozen", new Native.NativeException(Mono.Unix.Native.Errno.EINVAL, Native.NativeOperation.Thaw, "/b"));
            var reply = new WatchdogReply(null, at, new[]
            {
                new MemberReport("7:1", "uuid1", FreezeState.Thawed, at.AddSeconds(-3), at),
                new MemberReport("7:2", "", FreezeState.Frozen, at.AddSeconds(-3), null, failed),
            });
            var back = WatchdogReply.Parse(reply.Format(), "/x");
            Assert.Null(back.Error);
            Assert.Equal(at, back.DeadlineUtc);
            Assert.Equal(2, back.Members.Count);
            Assert.Equal(reply.Members[0], back.Members[0]);
            Assert.Equal(FreezeErrorKind.NotFrozen, back.Members[1].Error!.Kind);
            Assert.Equal((int)Mono.Unix.Native.Errno.EINVAL, back.Members[1].Error!.Errno);

            var error = WatchdogReply.Parse(WatchdogReply.Failed(new FsFreezeException(FreezeErrorKind.InvalidTimeout, "/c", "bad")).Format(), "/x");
            Assert.Equal(FreezeErrorKind.InvalidTimeout, error.Error!.Kind);
            Assert.Throws<FormatException>(() => WatchdogReply.Parse("", "/x"));
            Assert.Throws<FormatException>(() => WatchdogReply.Parse("what", "/x"));
        }

        [Theory]
        [InlineData("20261130T010203-0123456789ab", true)]
        [InlineData("", false)]
        [InlineData("a/b", false)]
        [InlineData("..", false)]
        [InlineData("id with space", false)]
        public void Freeze_ids_are_safe_file_and_socket_names(string id, bool valid) => Assert.Equal(valid, WatchdogProtocol.IsValidId(id));
    }
}
