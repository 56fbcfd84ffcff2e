using System;
using System.IO;
using System.Linq;
using System.Threading;
using FsFreeze.Protocol;
using FsFreeze.State;
using Xunit;

namespace FsFreeze.Tests
{
    /// <summary>Issue 9: the plan's waves (what may freeze side by side), the crew that runs a wave, and the wire and record fields that carry them.</summary>
    public class WaveTests
    {
        private const string Info =
            "21 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n" +
            "30 21 7:1 / /srv/a rw - ext4 /dev/loop1 rw\n" +
            "31 21 7:2 / /srv/b rw - ext4 /dev/loop2 rw\n" +
            "32 30 7:3 / /srv/a/nested rw - xfs /dev/loop3 rw\n" +
            "33 21 7:4 / /mnt/deep/er/c rw - ext4 /dev/loop4 rw\n" +
            "34 21 7:5 / /srv/loopy rw - ext4 /dev/loop5 rw\n" +
            "35 21 7:6 / /srv/ab rw - ext4 /dev/loop6 rw\n";

        private static Filesystem Fs(MountTable t, int id) => new Filesystem(t.FindById(id)!, t.FindById(id)!.MountPoint, t.FindById(id)!.MountPoint);

        [Fact]
        public void Independent_members_share_wave_0_whatever_their_depth()
        {
            var t = MountTable.Parse(Info);
            var plan = FilesystemResolver.Plan(new[] { Fs(t, 30), Fs(t, 31), Fs(t, 33), Fs(t, 35) }, t, _ => null);
            Assert.All(plan, fs => Assert.Equal(0, fs.Wave));
            // Within the wave the old order stays: deeper first, so freezing the list one by one is still valid.
            Assert.Equal("/mnt/deep/er/c", plan[0].MountPoint);
        }

        [Fact]
        public void A_nested_mount_is_a_wave_before_its_parent_and_a_sibling_prefix_is_not_nested()
        {
            var t = MountTable.Parse(Info);
            var plan = FilesystemResolver.Plan(new[] { Fs(t, 30), Fs(t, 32), Fs(t, 35), Fs(t, 31) }, t, _ => null);
            Assert.Equal(0, plan.Single(f => f.MountPoint == "/srv/a/nested").Wave);
            Assert.Equal(1, plan.Single(f => f.MountPoint == "/srv/a").Wave);
            Assert.Equal(0, plan.Single(f => f.MountPoint == "/srv/ab").Wave); // "/srv/ab" is not below "/srv/a"
            Assert.Equal(0, plan.Single(f => f.MountPoint == "/srv/b").Wave);
            Assert.Equal("/srv/a", plan[^1].MountPoint);
        }

        [Fact]
        public void A_loop_filesystem_is_a_wave_before_the_member_holding_its_image_and_chains_add_waves()
        {
            var t = MountTable.Parse(Info);
            // loopy's image is on /srv/a/nested, which is nested in /srv/a: three waves.
            var plan = FilesystemResolver.Plan(new[] { Fs(t, 30), Fs(t, 32), Fs(t, 34), Fs(t, 31) }, t,
                source => source == "/dev/loop5" ? "/srv/a/nested/images/loopy.img" : null);
            Assert.Equal(new[] { 0, 1, 2 }, new[] { "/srv/loopy", "/srv/a/nested", "/srv/a" }.Select(m => plan.Single(f => f.MountPoint == m).Wave));
            Assert.Equal(0, plan.Single(f => f.MountPoint == "/srv/b").Wave);
            Assert.Equal(plan.Select(f => f.Wave).OrderBy(w => w), plan.Select(f => f.Wave)); // listed in wave order
        }

        [Fact]
        public void When_the_two_orders_contradict_each_other_the_loop_order_wins()
        {
            var t = MountTable.Parse(Info);
            // /srv/a's own image on /srv/a/nested, which is mounted inside /srv/a: the kernel's order (loop first) wins.
            var plan = FilesystemResolver.Plan(new[] { Fs(t, 30), Fs(t, 32) }, t, source => source == "/dev/loop1" ? "/srv/a/nested/a.img" : null);
            Assert.Equal(0, plan.Single(f => f.MountPoint == "/srv/a").Wave);
            Assert.Equal(1, plan.Single(f => f.MountPoint == "/srv/a/nested").Wave);
        }

        [Fact]
        public void Layering_reports_a_cycle_and_takes_the_longest_path()
        {
            Assert.Null(FilesystemResolver.Waves(2, new[] { (0, 1), (1, 0) }));
            Assert.Equal(new[] { 0, 1, 2, 0 }, FilesystemResolver.Waves(4, new[] { (0, 1), (1, 2), (0, 2) }));
            Assert.True(FilesystemResolver.IsBelow("/a/b", "/a"));
            Assert.True(FilesystemResolver.IsBelow("/a", "/"));
            Assert.False(FilesystemResolver.IsBelow("/ab", "/a"));
            Assert.False(FilesystemResolver.IsBelow("/a", "/a"));
        }

        [Fact]
        public void A_crew_runs_the_steps_of_a_wave_at_the_same_time_and_collects_their_errors()
        {
            using var crew = new Crew();
            // Each step waits until all of them have started: only a crew that runs them side by side gets past it.
            const int n = 6;
            using var all = new Barrier(n);
            var errors = crew.Run(n, i =>
            {
                if (!all.SignalAndWait(TimeSpan.FromSeconds(20))) throw new TimeoutException("steps ran one after another");
                if (i == 3) throw new InvalidOperationException("step 3");
            });
            Assert.Equal(n, errors.Length);
            Assert.IsType<InvalidOperationException>(errors[3]);
            Assert.All(errors.Where((e, i) => i != 3), Assert.Null);
            // Again with the same threads, and a wave of one runs on the caller's thread.
            int caller = Environment.CurrentManagedThreadId, ran = -1;
            crew.Run(1, _ => ran = Environment.CurrentManagedThreadId);
            Assert.Equal(caller, ran);
            Assert.All(crew.Run(n, _ => all.SignalAndWait(TimeSpan.FromSeconds(20))), Assert.Null);
        }

        [Fact]
        public void A_busy_crew_hands_a_second_caller_a_crew_of_its_own()
        {
            using var crew = new Crew();
            using var inside = new ManualResetEventSlim();
            using var release = new ManualResetEventSlim();
            var first = new Thread(() => crew.Run(2, _ => { inside.Set(); release.Wait(TimeSpan.FromSeconds(20)); }));
            first.Start();
            Assert.True(inside.Wait(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken));
            using var both = new Barrier(2);
            var errors = crew.Run(2, _ => both.SignalAndWait(TimeSpan.FromSeconds(20)));
            release.Set();
            first.Join();
            Assert.All(errors, Assert.Null);
        }

        [Fact]
        public void Spawn_requests_carry_the_waves_and_end_with_an_empty_line_that_stops_the_reader()
        {
            var request = new SpawnRequest("id-9", 60, new ProcessIdentity(5, 6), true, true, "/run/x",
                new[] { new SpawnMember("/m/a", "7:1", 30, "/m/a", 0), new SpawnMember("/m", "7:2", 31, "/m", 1) });
            var text = request.Format() + "thaw\tid-9\t\t0\n"; // what a scope sends later on the same pipe
            var reader = new StringReader(text);
            var back = SpawnRequest.Parse(reader);
            Assert.Equal(new[] { 0, 1 }, back.Members.Select(m => m.Wave));
            Assert.Equal("thaw\tid-9\t\t0", reader.ReadLine()); // not consumed by the request
        }

        [Fact]
        public void A_thaw_request_names_several_devices_and_round_trips()
        {
            var r = new WatchdogRequest(RequestVerb.Thaw, "id-1", "7:1", MoreDevices: new[] { "7:2", "0:40" });
            var back = WatchdogRequest.Parse(r.Format());
            Assert.Equal(r, back);
            Assert.Equal(new[] { "7:1", "7:2", "0:40" }, back.Devices);
            Assert.Empty(new WatchdogRequest(RequestVerb.Thaw, "id-1").Devices);
            var framed = new WatchdogReply(null, null, Array.Empty<MemberReport>()).FormatFramed();
            Assert.EndsWith("\n\n", framed);
        }

        [Fact]
        public void Records_keep_each_members_wave_and_older_records_read_as_wave_0()
        {
            var r = new FreezeRecord { Id = "20261130T010203-abcdef012345", CreatedUtc = DateTime.UtcNow };
            r.Members.Add(new RecordedMember { MountPoint = "/a", Device = "7:1", Wave = 2 });
            var back = FreezeRecord.Parse(r.Serialize(), FreezeState.Frozen);
            Assert.Equal(2, back.Members[0].Wave);
            var old = string.Join("\n", r.Serialize().Split('\n').Select(l => l.StartsWith("member") ? l.Substring(0, l.LastIndexOf('\t')) : l));
            Assert.Equal(0, FreezeRecord.Parse(old, FreezeState.Frozen).Members[0].Wave);
            var copy = r.Clone();
            copy.Members[0].Wave = 5;
            Assert.Equal(2, r.Members[0].Wave);
        }
    }
}
