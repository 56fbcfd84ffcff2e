using System.Linq;
using Xunit;

namespace FsFreeze.Tests
{
    public class FilesystemTests
    {
        private const string Info =
            "21 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n" +
            "30 21 7:1 / /srv/data rw,relatime shared:2 - ext4 /dev/loop1 rw\n" +
            "31 30 7:2 / /srv/data/nested rw - xfs /dev/loop2 rw\n" +
            "32 21 0:40 / /srv/with\\040space rw - btrfs /dev/loop3 rw\n" +
            "33 21 0:41 / /run rw - tmpfs tmpfs rw\n" +
            "34 21 7:1 /sub /srv/bind rw - ext4 /dev/loop1 rw\n";

        [Fact]
        public void Mountinfo_is_parsed_with_escapes_and_looked_up_by_id_and_path()
        {
            var t = MountTable.Parse(Info);
            Assert.Equal(6, t.Entries.Count);
            Assert.Equal("/srv/with space", t.FindById(32)!.MountPoint);
            Assert.Null(t.FindById(99));
            Assert.Equal(31, t.FindByPath("/srv/data/nested/x")!.MountId);
            Assert.Equal(30, t.FindByPath("/srv/data/nestedx")!.MountId);
            Assert.Equal("7:1", t.FindById(34)!.Device);
        }

        [Fact]
        public void The_plan_dedupes_by_superblock_and_puts_nested_mounts_first()
        {
            var t = MountTable.Parse(Info);
            Filesystem Fs(int id, string path) => new Filesystem(t.FindById(id)!, path, path);
            var plan = FilesystemResolver.Plan(new[] { Fs(30, "/srv/data"), Fs(31, "/srv/data/nested"), Fs(34, "/srv/bind") }, t, _ => null);
            Assert.Equal(new[] { "7:2", "7:1" }, plan.Select(f => f.Device));
            Assert.Equal(new[] { "/srv/data", "/srv/bind" }, plan[1].RequestedPaths);
        }

        [Fact]
        public void The_plan_freezes_a_loop_filesystem_before_the_member_holding_its_image()
        {
            var t = MountTable.Parse(Info);
            Filesystem Fs(int id) => new Filesystem(t.FindById(id)!, t.FindById(id)!.MountPoint, t.FindById(id)!.MountPoint);
            // /srv/with space (loop3) has its image on /srv/data/nested, which would otherwise come first (it is deeper).
            var plan = FilesystemResolver.Plan(new[] { Fs(31), Fs(32) }, t, source => source == "/dev/loop3" ? "/srv/data/nested/img" : null);
            Assert.Equal(new[] { "0:40", "7:2" }, plan.Select(f => f.Device));
        }

        [Theory]
        [InlineData("ext4", FilesystemClass.Freezable)]
        [InlineData("xfs", FilesystemClass.Freezable)]
        [InlineData("tmpfs", FilesystemClass.Memory)]
        [InlineData("proc", FilesystemClass.Pseudo)]
        [InlineData("nfs4", FilesystemClass.Network)]
        [InlineData("fuse.sshfs", FilesystemClass.Fuse)]
        [InlineData("overlay", FilesystemClass.Overlay)]
        [InlineData("vfat", FilesystemClass.NoFreezeSupport)]
        [InlineData("zzfs", FilesystemClass.Unknown)]
        public void Filesystem_types_have_one_classification(string type, FilesystemClass expected)
        {
            Assert.Equal(expected, FilesystemTypes.Classify(type));
            Assert.Equal(expected is FilesystemClass.Freezable or FilesystemClass.Unknown, FilesystemTypes.MayFreeze(type));
            Assert.Equal(FilesystemTypes.MayFreeze(type), FilesystemTypes.WhyNot(type) == null);
        }

        [Fact]
        public void Only_memory_filesystems_can_hold_the_state()
        {
            Assert.True(FilesystemTypes.IsNeverFrozen("tmpfs"));
            Assert.False(FilesystemTypes.IsNeverFrozen("ext4"));
            Assert.False(FilesystemTypes.IsNeverFrozen("zzfs"));
        }
    }
}
