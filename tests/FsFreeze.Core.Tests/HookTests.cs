using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FsFreeze.Protocol;
using FsFreeze.State;
using Xunit;

namespace FsFreeze.Tests
{
    /// <summary>Hooks on the wire and in records: what the watchdog and a later Invoke-FsThaw need to run "thaw" once.</summary>
    public class HookTests
    {
        private static HookRun Run(string action, int? exit, string output = "line 1\nline\twith tab\n") => new HookRun
        {
            Name = "10-db", Path = "/etc/fsfreeze/hooks.d/10-db", Action = action, ExitCode = exit, TimedOut = exit == null,
            StartedAt = new DateTime(2030, 1, 2, 3, 4, 5, DateTimeKind.Utc).ToLocalTime(), Duration = TimeSpan.FromMilliseconds(12.5), Output = output,
        };

        [Fact]
        public void A_record_keeps_its_hooks_their_thaw_state_and_their_runs()
        {
            var r = new FreezeRecord { Id = "20301130T010203-abcdef012345", CreatedUtc = DateTime.UtcNow, TimeoutSec = 60, HookTimeoutSec = 7, ThawHooksPending = true };
            r.Members.Add(new RecordedMember { MountPoint = "/", Device = "7:7", FileSystemType = "ext4", Source = "/dev/loop7" });
            r.Hooks.Add(new HookSpec("10-db", "/etc/fsfreeze/hooks.d/10-db"));
            r.Hooks.Add(new HookSpec("20 app", "/etc/fsfreeze/hooks.d/20 app"));
            r.HookRuns.Add(Run("freeze", 0, new string('x', 10000)));
            var back = FreezeRecord.Parse(r.Serialize(), FreezeState.Frozen);
            Assert.Equal(new[] { "10-db", "20 app" }, back.Hooks.Select(h => h.Name));
            Assert.Equal("/etc/fsfreeze/hooks.d/20 app", back.Hooks[1].Path);
            Assert.Equal(7, back.HookTimeoutSec);
            Assert.True(back.ThawHooksPending);
            var run = Assert.Single(back.HookRuns);
            Assert.Equal(0, run.ExitCode);
            Assert.Equal(TimeSpan.FromMilliseconds(12.5), run.Duration);
            Assert.True(run.Output.Length < 5000, "a record keeps a bounded part of the output");
            Assert.Contains("more characters not kept", run.Output);
        }

        [Fact]
        public void A_record_without_hooks_is_written_as_before()
        {
            var r = new FreezeRecord { Id = "20301130T010203-abcdef012345", CreatedUtc = DateTime.UtcNow };
            Assert.DoesNotContain("hook", r.Serialize());
        }

        [Fact]
        public void The_spawn_request_carries_the_hooks_and_their_environment()
        {
            var req = new SpawnRequest("20301130T010203-abcdef012345", 60, new ProcessIdentity(10, 20), true, false, "/run/fsfreeze",
                new[] { new SpawnMember("/", "7:7", 20, "/") })
            {
                Hooks = new[] { new HookSpec("10-db", "/h/10-db") }, HookTimeoutSec = 9,
                HookEnvironment = HookRunner.Environment("20301130T010203-abcdef012345", new[] { "/data 1", "/" }, 60, 9),
            };
            var back = SpawnRequest.Parse(new StringReader(req.Format()));
            Assert.Equal("/h/10-db", Assert.Single(back.Hooks).Path);
            Assert.Equal(9, back.HookTimeoutSec);
            Assert.Equal("/data 1\n/", back.HookEnvironment["FSFREEZE_MOUNTPOINTS"]);
            Assert.Equal("20301130T010203-abcdef012345", back.HookEnvironment["FSFREEZE_ID"]);
        }

        [Fact]
        public void Hook_runs_come_back_in_the_handshake_and_in_a_thaw_reply_kept_alive_by_empty_lines()
        {
            var line = new HookDone(Run("freeze", null)).Format();
            var parsed = Assert.IsType<HookDone>(HandshakeLine.Parse(line, "/"));
            Assert.True(parsed.Run.TimedOut);
            Assert.Null(parsed.Run.ExitCode);
            Assert.Equal("line 1\nline\twith tab\n", parsed.Run.Output);

            var reply = new WatchdogReply(null, null, new[] { new MemberReport("7:7", "", FreezeState.Thawed, DateTime.UtcNow, DateTime.UtcNow) })
            {
                Hooks = new[] { Run("thaw", 3) },
            };
            var back = WatchdogReply.Parse("\n\n\n" + reply.Format(), "/");
            Assert.Single(back.Members);
            Assert.Equal(3, Assert.Single(back.Hooks).ExitCode);
            Assert.False(back.Hooks[0].Succeeded);
        }

        [Fact]
        public void A_failed_thaw_hook_becomes_one_HookFailed_error_with_its_output()
        {
            var errors = HookRunner.ThawFailures(new[] { Run("thaw", 0), Run("thaw", 2, "cannot unlock\n"), Run("freeze", 1) }, "/");
            var e = Assert.Single(errors);
            Assert.Equal(FreezeErrorKind.HookFailed, e.Kind);
            Assert.Contains("exit 2", e.Message);
            Assert.Contains("cannot unlock", e.Message);
        }
    }
}
