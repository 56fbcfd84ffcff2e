#!/bin/bash
# The first process of a simulated host: run by SimHost.psm1 (New-SimHost) as
#   setsid unshare --mount --pid --uts --fork --propagation private bash simhost-init.sh
# so it is PID 1 of a new pid namespace, in a new mount and UTS namespace. It fills and mounts the host's
# own loop filesystems, pivots into the root one, detaches everything of this machine, prints
# SIMHOST-READY and becomes the host's init.
#
# Everything comes in through the environment (no quoting of paths into a command line):
#   SIMHOST_NAME       hostname
#   SIMHOST_STAGE      an empty directory of the harness, where the root filesystem is mounted before the pivot
#   SIMHOST_ROOT_DEV   the root filesystem's loop device (already made with mkfs)
#   SIMHOST_ROOTFS     the cached root filesystem tarball (tar.zst) extracted into it
#   SIMHOST_MODULE     optional: a folder copied to /opt/fsfreeze/FsFreeze (the built FsFreeze module)
#   SIMHOST_DATA       optional: lines "DEVICE MOUNTPOINT" of data filesystems mounted inside the host
#   SIMHOST_LOOPS      the host's loop devices (/dev/loopN ...): the only block devices its /dev gets
#   SIMHOST_SYSFS      1: mount sysfs read-only (only sensible in a network namespace of its own: sysfs belongs
#                      to the network namespace, so without one it is this machine's sysfs superblock)
#   SIMHOST_TEST_BIND  optional, for the harness's own tests only: "OUTSIDE_DIR INSIDE_DIR", a bind mount of a
#                      directory of THIS machine into the host, which Assert-SimHostIsolated must refuse
#
# Never bind-mount this machine's /dev (or any directory of it): a bind mount shows this machine's superblock,
# and the host could then freeze it. Device nodes are made with mknod on a tmpfs of the host's own.
set -euo pipefail

fail() { echo "simhost-init: $*" >&2; exit 1; }
[ "$$" = 1 ] || fail "not PID 1 of a new pid namespace (pid $$)"
[ -d "$SIMHOST_STAGE" ] || fail "no stage directory $SIMHOST_STAGE"

# Nothing done here may reach this machine's mount namespace.
mount --make-rprivate /
hostname "$SIMHOST_NAME"

new=$SIMHOST_STAGE
mount "$SIMHOST_ROOT_DEV" "$new"
tar -C "$new" --numeric-owner --zstd -xf "$SIMHOST_ROOTFS"
echo "$SIMHOST_NAME" > "$new/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$SIMHOST_NAME" > "$new/etc/hosts"

if [ -n "${SIMHOST_MODULE:-}" ]; then
  mkdir -p "$new/opt/fsfreeze/FsFreeze"
  cp -a "$SIMHOST_MODULE/." "$new/opt/fsfreeze/FsFreeze/"
fi

if [ -n "${SIMHOST_DATA:-}" ]; then
  while read -r dev mp; do
    [ -n "$dev" ] || continue
    mkdir -p "$new$mp"
    mount "$dev" "$new$mp"
  done <<< "$SIMHOST_DATA"
fi

if [ -n "${SIMHOST_TEST_BIND:-}" ]; then
  read -r outside inside <<< "$SIMHOST_TEST_BIND"
  mkdir -p "$new$inside"
  mount --bind "$outside" "$new$inside"
fi

# The loop mount is a mount point already, as pivot_root needs: no bind mount of it on itself.
cd "$new"
mkdir -p oldroot
pivot_root . oldroot
cd /

# The host's own pseudo filesystems: a proc of its pid namespace, tmpfs for /run, /tmp and /dev.
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t tmpfs -o mode=0755,nosuid,nodev,size=64m tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev,size=256m tmpfs /tmp
mount -t tmpfs -o mode=0755,nosuid,size=4m simhost-dev /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/full c 1 7
mknod -m 666 /dev/random c 1 8
mknod -m 666 /dev/urandom c 1 9
mknod -m 666 /dev/tty c 5 0
for loop in $SIMHOST_LOOPS; do
  n=${loop#/dev/loop}
  mknod -m 660 "/dev/loop$n" b 7 "$n"
done
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
mkdir -m 1777 /dev/shm
if [ "${SIMHOST_SYSFS:-0}" = 1 ]; then
  mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys
fi

# This machine's filesystems leave the host's mount table.
umount -l /oldroot
rmdir /oldroot

echo SIMHOST-READY
# No descriptor of this machine's filesystems stays open (the log file was one), then become init: reap
# the orphans that nsenter'd commands leave, and wait for SIGKILL from the harness (Remove-SimHost).
exec /bin/bash -c 'exec </dev/null >/dev/null 2>&1; trap "" TERM INT HUP; while :; do sleep 3600 & wait $!; done'
