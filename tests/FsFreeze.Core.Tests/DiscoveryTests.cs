using System.Collections.Generic;
using System.Linq;
using Xunit;

namespace FsFreeze.Tests
{
    /// <summary>
    /// -All's discovery on parsed mount tables only: never on this machine's own (discovery there would name its /).
    /// Visibility and loop backing files are given, so nothing here touches a real path.
    /// </summary>
    public class DiscoveryTests
    {
        // A host like the simulated ones and a typical VM: ext4 /, data filesystems, a bind mount, btrfs subvolumes,
        // pseudo, memory, network, FUSE and overlay mounts, and a loop filesystem whose image lives on /srv.
        private const string Host =
            "20 1 7:7 / / rw,relatime - ext4 /dev/loop7 rw\n" +
            "21 20 0:5 / /proc rw,nosuid - proc proc rw\n" +
            "22 20 0:20 / /sys rw,nosuid - sysfs sysfs rw\n" +
            "23 20 0:6 / /dev rw,nosuid - devtmpfs udev rw\n" +
            "24 23 0:22 / /dev/pts rw - devpts devpts rw\n" +
            "25 20 0:23 / /run rw,nosuid - tmpfs tmpfs rw\n" +
            "26 20 0:24 / /tmp rw - tmpfs tmpfs rw\n" +
            "27 22 0:25 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n" +
            "30 20 7:8 / /srv rw,relatime - xfs /dev/loop8 rw\n" +
            "31 20 7:8 /www /var/www rw,relatime - xfs /dev/loop8 rw\n" +
            "32 20 0:40 /@home /home rw - btrfs /dev/loop9 rw,subvol=/@home\n" +
            "33 20 0:40 /@snap /.snapshots rw - btrfs /dev/loop9 rw,subvol=/@snap\n" +
            "34 20 0:50 / /mnt/nfs rw - nfs4 server:/export rw\n" +
            "35 20 0:51 / /mnt/sshfs rw - fuse.sshfs user@host: rw\n" +
            "36 20 0:52 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw\n" +
            "37 30 7:10 / /srv/images/app rw - ext4 /dev/loop10 rw\n" +
            "38 20 0:53 / /pool rw - zfs tank/pool rw\n" +
            "39 20 8:1 / /boot/efi rw - vfat /dev/sda1 rw\n";

        private static DiscoveryResult Discover(string table, params string[] exclude)
            => Discovery.Discover(MountTable.Parse(table), exclude, _ => true,
                source => source == "/dev/loop10" ? "/srv/images/app.img" : null);

        [Fact]
        public void All_finds_every_local_filesystem_once_per_superblock_in_freeze_order()
        {
            var d = Discover(Host);
            // The loop filesystem on /srv's image before /srv; nested before parents; / last.
            Assert.Equal(new[] { "/srv/images/app", "/home", "/srv", "/" }, d.Members.Select(m => m.MountPoint));
            Assert.Equal(new[] { "7:10", "0:40", "7:8", "7:7" }, d.Members.Select(m => m.Device));
        }

        [Fact]
        public void Every_mount_left_out_has_its_reason()
        {
            var d = Discover(Host);
            var why = d.Skipped.ToDictionary(s => s.MountPoint, s => s.Reason);
            foreach (var mp in new[] { "/proc", "/sys", "/dev", "/dev/pts", "/run", "/tmp", "/sys/fs/cgroup", "/mnt/nfs", "/mnt/sshfs", "/var/lib/docker/overlay2/x/merged", "/boot/efi" })
            {
                Assert.Equal(SkipReason.Type, why[mp]);
            }
            Assert.Equal(SkipReason.NoBlockDevice, why["/pool"]);
            Assert.Equal(SkipReason.SameFilesystem, why["/var/www"]);
            Assert.Equal(SkipReason.SameFilesystem, why["/.snapshots"]);
            Assert.Contains("'/srv'", d.Skipped.Single(s => s.MountPoint == "/var/www").Why);
            Assert.Contains("network filesystem", d.Skipped.Single(s => s.MountPoint == "/mnt/nfs").Why);
            Assert.Contains("memory", d.Skipped.Single(s => s.MountPoint == "/run").Why);
            // Every mount is either a member or skipped, exactly once.
            Assert.Equal(MountTable.Parse(Host).Entries.Count, d.Members.Count + d.Skipped.Count);
        }

        [Fact]
        public void Exclude_globs_leave_out_a_filesystem_through_any_of_its_mount_points()
        {
            var d = Discover(Host, "/var/www", "/srv/images/*");
            Assert.Equal(new[] { "/home", "/" }, d.Members.Select(m => m.MountPoint));
            var srv = d.Skipped.Single(s => s.MountPoint == "/srv");
            Assert.Equal(SkipReason.Excluded, srv.Reason);
            Assert.Contains("'/var/www'", srv.Why);
            Assert.Equal(SkipReason.Excluded, d.Skipped.Single(s => s.MountPoint == "/srv/images/app").Reason);
        }

        [Fact]
        public void A_hidden_mount_is_reached_through_another_mount_of_its_filesystem_or_skipped()
        {
            var table = MountTable.Parse(Host);
            // /srv is hidden (something was mounted over it): its filesystem is still frozen, through /var/www.
            var d = Discovery.Discover(table, null, e => e.MountPoint != "/srv", _ => null);
            Assert.Equal("/var/www", d.Members.Single(m => m.Device == "7:8").MountPoint);
            // /home and /.snapshots both hidden: nothing reaches that btrfs, so it is skipped with its reason.
            d = Discovery.Discover(table, null, e => e.Device != "0:40", _ => null);
            Assert.DoesNotContain(d.Members, m => m.Device == "0:40");
            Assert.All(d.Skipped.Where(s => s.Device == "0:40"), s => Assert.Equal(SkipReason.Hidden, s.Reason));
        }

        [Fact]
        public void An_unknown_type_on_a_block_device_is_a_member_and_FIFREEZE_decides()
        {
            var d = Discover("20 1 8:2 / / rw - ext4 /dev/sda2 rw\n21 20 8:3 / /data rw - zzfs /dev/sda3 rw\n");
            Assert.Equal(new[] { "/data", "/" }, d.Members.Select(m => m.MountPoint));
        }

        [Theory]
        [InlineData("/srv", "/srv", true)]
        [InlineData("/srv/", "/srv", true)]
        [InlineData("/srv", "/srv/x", false)]
        [InlineData("/srv*", "/srv/x/y", true)]
        [InlineData("/data?", "/data1", true)]
        [InlineData("/data?", "/data10", false)]
        [InlineData("/data[12]", "/data2", true)]
        [InlineData("/data[!12]", "/data2", false)]
        [InlineData("/data[0-9]", "/data7", true)]
        [InlineData("/mnt/a\\*b", "/mnt/a*b", true)]
        [InlineData("/mnt/a\\*b", "/mnt/axb", false)]
        [InlineData("*", "/", true)]
        [InlineData("/", "/", true)]
        public void Exclude_globs_match_mount_points(string pattern, string mountPoint, bool expected)
            => Assert.Equal(expected, Glob.IsMatch(pattern, mountPoint));

        [Theory]
        [InlineData("10-mysql", null)]
        [InlineData("20-app.sh", null)]
        [InlineData("mysql-flush.sh.sample", "sample")]
        [InlineData("app~", "~")]
        [InlineData("app.dpkg-old", "dpkg")]
        [InlineData("app.dpkg-new", "dpkg")]
        [InlineData("app.rpmnew", "rpmnew")]
        [InlineData("app.rpmsave", "rpmsave")]
        [InlineData(".hidden", "hidden")]
        public void Hook_names_are_skipped_like_qemu_ga_does(string name, string? because)
        {
            var why = HookDirectory.SkippedByName(name);
            if (because == null) Assert.Null(why);
            else Assert.Contains(because, why);
        }
    }
}
