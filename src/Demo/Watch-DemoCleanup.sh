#!/usr/bin/env bash
# The demo's guardian: a separate process (in its own session, so Ctrl+C does not reach it) that cleans up
# the scratch filesystem when the demo dies without doing so itself (kill -9, SIGTERM, a crash). pwsh's
# finally blocks do not run then, and a frozen scratch filesystem would stay frozen with its writer stuck.
# It only touches what the demo made: the mount under TEMPDIR and the loop device backed by IMAGE.
# Bounded: after MAXSEC it thaws the scratch filesystem even if the demo is still alive, and exits.
# Usage: Watch-DemoCleanup.sh DEMOPID TEMPDIR MOUNTPOINT LOOPDEV IMAGE WRITERPID MAXSEC
set -u
demo=$1 tempdir=$2 mnt=$3 loop=$4 image=$5 writer=$6 maxsec=$7

deadline=$((SECONDS + maxsec))
while kill -0 "$demo" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.2; done

ours_mounted() { mountpoint -q "$mnt" 2>/dev/null; }

# A timed Use-FsFreeze is held by fsfreeze-watchdog, which keeps descriptors on the scratch filesystem until
# its deadline (they would make the umount below fail). SIGTERM makes it thaw what it froze and exit.
watchdogs_on_mount() {
    local p
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/exe" 2>/dev/null) == */fsfreeze-watchdog ]] || continue
        find "$p/fd" -maxdepth 1 \( -lname "$mnt" -o -lname "$mnt/*" \) 2>/dev/null | grep -q . && echo "${p#/proc/}"
    done
}
for pid in $(watchdogs_on_mount); do
    kill -TERM "$pid" 2>/dev/null && echo "FsFreeze demo guardian: thawed $mnt (fsfreeze-watchdog $pid, on SIGTERM)" >&2
done
for _ in $(seq 50); do [[ -z $(watchdogs_on_mount) ]] && break; sleep 0.1; done

if ours_mounted; then
    # Thaw first: an unmounted frozen filesystem stays frozen, and its writer with it.
    timeout 10 fsfreeze -u "$mnt" 2>/dev/null && echo "FsFreeze demo guardian: thawed $mnt" >&2
fi
if kill -0 "$demo" 2>/dev/null; then exit 0; fi   # timed out with the demo still alive: thawing was all we may do

# The writer only if that pid is still the demo's writer script.
if grep -qs Start-DemoWriter.sh "/proc/$writer/cmdline"; then kill -KILL "$writer" 2>/dev/null; fi
for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$writer" 2>/dev/null || break; sleep 0.2; done
if ours_mounted; then timeout 20 umount "$mnt" || timeout 20 umount -l "$mnt"; fi
# The loop device only if it is still ours: after the demo's own cleanup the name may belong to someone else.
if [[ $(losetup -n -O BACK-FILE "$loop" 2>/dev/null) == "$image"* ]]; then timeout 20 losetup -d "$loop"; fi
if ! ours_mounted; then rm -rf -- "$tempdir"; fi
