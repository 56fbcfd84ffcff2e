#!/bin/bash
# Builds the simulated hosts' root filesystem once: a minimal Debian bookworm (mmdebstrap, minbase, with
# openssh-server and what .NET needs) plus the .NET runtime under /opt/dotnet and pwsh under /opt/pwsh, packed
# as a read-only tar.zst. Called by SimHost.psm1 (Initialize-SimHostImage), which picks the output name from a
# key over everything that goes in, so a change of recipe, runtime or pwsh builds a new one.
#
#   Build-SimHostImage.sh OUT.tar.zst DOTNET_ROOT PWSH_DIR KEY
#
# Concurrent callers wait on a lock; the artifact appears atomically (rename), mode 0444; an existing one is kept.
set -euo pipefail

out=$1 dotnet_root=$2 pwsh_dir=$3 key=$4
[ "$(id -u)" = 0 ] || { echo "Build-SimHostImage: needs root" >&2; exit 2; }
command -v mmdebstrap >/dev/null || { echo "Build-SimHostImage: mmdebstrap is missing (bash .ci/setup installs it)" >&2; exit 2; }
[ -x "$dotnet_root/dotnet" ] && [ -d "$dotnet_root/host" ] && [ -d "$dotnet_root/shared/Microsoft.NETCore.App" ] ||
  { echo "Build-SimHostImage: no .NET runtime in $dotnet_root" >&2; exit 2; }
[ -f "$pwsh_dir/pwsh.dll" ] || { echo "Build-SimHostImage: no pwsh.dll in $pwsh_dir" >&2; exit 2; }

mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock -w 600 9 || { echo "Build-SimHostImage: another build holds $out.lock" >&2; exit 1; }
[ -s "$out" ] && exit 0

stage=$(mktemp -d /var/tmp/fsfreeze-simhost-build.XXXXXX)
trap 'rm -rf "$stage"' EXIT
start=$(date +%s)

# minbase: apt, dpkg, coreutils, util-linux (fsfreeze), bash. openssh-server for the fleet tests (sshd with pwsh
# as its powershell subsystem); python3 for Ansible's modules on the fleet hosts; libicu72, libssl3 and
# ca-certificates for .NET.
mmdebstrap --quiet --variant=minbase --include=openssh-server,libicu72,libssl3,ca-certificates,python3 \
  bookworm "$stage/root"

mkdir -p "$stage/root/opt/dotnet/shared" "$stage/root/opt/pwsh"
cp -a "$dotnet_root/dotnet" "$dotnet_root/host" "$stage/root/opt/dotnet/"
cp -a "$dotnet_root/shared/Microsoft.NETCore.App" "$stage/root/opt/dotnet/shared/"
cp -a "$pwsh_dir/." "$stage/root/opt/pwsh/"
echo "$key" > "$stage/root/etc/fsfreeze-simhost-version"

tar -C "$stage/root" --numeric-owner --zstd -cf "$stage/rootfs.tar.zst" .
chmod 0444 "$stage/rootfs.tar.zst"
mv "$stage/rootfs.tar.zst" "$out"
echo "Build-SimHostImage: built $out ($(du -h "$out" | cut -f1)) in $(( $(date +%s) - start )) s"
