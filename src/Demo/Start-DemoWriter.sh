#!/usr/bin/env bash
# The demo's writer: keeps changing 28 files in DIR (4 logs, 8 data files, 16 documents; the demo waits
# until it has seen all 28) the way applications do (appends, in-place rewrites, write-then-rename), and
# never syncs, so the data sits in the page cache. After each change it logs one line
#   <start> <done> <op> <file> <sha256 of the file as it now is>
# to LOG, which lives outside DIR (on a filesystem that is never frozen). Timestamps are $EPOCHREALTIME,
# so the demo can see from the writer's own clock how long it was held.
# It stops when STOPFILE appears or after MAXSEC seconds, whichever is first: it never outlives a lost parent.
# Usage: Start-DemoWriter.sh DIR LOG STOPFILE MAXSEC
set -u
dir=$1 log=$2 stop=$3 maxsec=$4

exec 3>>"$log" 2>>"$log.err"   # its own errors go beside the log, not into the demo's report
deadline=$(( ${EPOCHREALTIME%.*} + maxsec ))

record() { # op file start
    local done=$EPOCHREALTIME sum
    sum=$(sha256sum < "$dir/$2") || return
    printf '%s %s %s %s %s\n' "$3" "$done" "$1" "$2" "${sum%% *}" >&3
}

i=0
while [[ ! -e $stop ]] && (( ${EPOCHREALTIME%.*} < deadline )); do
    i=$((i + 1))
    start=$EPOCHREALTIME
    case $((i % 3)) in
    0)  # append a few KB of text to one of 4 logs; start over past 2 MB so the image stays small
        f=log-$((i % 4)).txt
        if [[ -e $dir/$f ]] && (( $(stat -c %s "$dir/$f") > 2097152 )); then : > "$dir/$f"; fi
        head -c $((RANDOM % 6144 + 512)) /dev/urandom | base64 -w 76 >> "$dir/$f"
        record append "$f" "$start" ;;
    1)  # rewrite one of 8 data files in place, 128 KB to 1 MB
        f=data-$((i % 8)).bin
        head -c $(( (RANDOM % 8 + 1) * 131072 )) /dev/urandom > "$dir/$f"
        record rewrite "$f" "$start" ;;
    2)  # write a new version of one of 16 documents beside it, then rename it into place
        f=doc-$((i % 16)).txt
        head -c $(( (RANDOM % 64 + 1) * 1024 )) /dev/urandom | base64 -w 76 > "$dir/$f.tmp"
        mv -f "$dir/$f.tmp" "$dir/$f"
        record rename "$f" "$start" ;;
    esac
done
