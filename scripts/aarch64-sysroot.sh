#!/usr/bin/env bash
# An arm64 sysroot for cross-building nnjoule on Debian 12 amd64: the cross compiler and
# qemu-user from Debian, and the arm64 libraries nnjoule links unpacked into DIR (default
# build-aarch64/sysroot). Multiarch co-installation cannot be used: libxnnpack-dev,
# libpthreadpool-dev and libxgboost-dev are not Multi-Arch: same, so installing their arm64
# packages would remove the amd64 ones (../shared/notes/aarch64.md).
# Then: cmake -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake ...
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/build-aarch64/sysroot}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $sudo dpkg --add-architecture arm64
  $sudo apt-get update -qq
fi
for p in crossbuild-essential-arm64 qemu-user; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    $sudo apt-get install -y -qq --no-install-recommends crossbuild-essential-arm64 qemu-user
    break
  fi
done
# The libraries nnjoule links, their run-time dependencies (arm64), and the header-only and
# architecture-independent packages among them.
dev=(libxnnpack-dev libpthreadpool-dev libcpuinfo-dev libonnx-dev libprotobuf-dev
  libxgboost-dev xgboost libssl-dev libsqlite3-dev libpq-dev libfmt-dev libgtest-dev libgmock-dev
  libpng-dev)
mapfile -t arm < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances --no-pre-depends "${dev[@]/%/:arm64}" |
  grep -E '^[a-z0-9][^ ]*:arm64$' | sort -u)
# Unpacked once: the stamp lists the packages (name=version) it was made from.
stamp="$dir/.nnjoule-sysroot"
want=$(apt-cache show --no-all-versions "${arm[@]}" googletest nlohmann-json3-dev libcli11-dev |
  awk '/^Package:/{p=$2} /^Architecture:/{a=$2} /^Version:/{v=$2} /^$/{if(p)print p":"a"="v; p=""}' | sort)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "aarch64-sysroot: $dir is current (${#arm[@]} arm64 packages)"
  exit 0
fi
debs="$dir.debs"
# A sysroot this script made from other versions is made again, not unpacked over.
if [ -f "$stamp" ]; then rm -rf "$dir"; fi
rm -rf "$debs"
mkdir -p "$dir" "$debs"
(cd "$debs" && apt-get download "${arm[@]}" googletest nlohmann-json3-dev libcli11-dev >/dev/null)
for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$dir"; done
echo "$want" >"$stamp"
echo "aarch64-sysroot: ${#arm[@]} arm64 packages unpacked into $dir"
