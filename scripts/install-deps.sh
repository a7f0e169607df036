#!/usr/bin/env bash
# Installs every Debian package nnjoule's build and tests need; with --bench also what the
# benchmarks compare against (PyTorch, OpenCV, scikit-learn, and ONNX Runtime from npm into
# bench/ort/node_modules); with --aarch64 also the cross compiler, qemu-user and an arm64
# sysroot (scripts/aarch64-sysroot.sh) for cmake/toolchain-aarch64.cmake.
# Idempotent: packages already present are skipped and apt-get update runs at most once.
set -euo pipefail
bench=0
aarch64=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    --aarch64) aarch64=1 ;;
    *) echo "install-deps: unknown argument '$arg' (expected --bench or --aarch64)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake pkg-config git clang-format
  libonnx-dev libprotobuf-dev protobuf-compiler
  libxnnpack-dev libpthreadpool-dev libcpuinfo-dev
  libxgboost-dev xgboost
  libssl-dev
  libsqlite3-dev sqlite3
  libpq-dev postgresql
  libcli11-dev nlohmann-json3-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libpng-dev nodejs npm
  python3 python3-onnx python3-numpy
  python3-dev pybind11-dev python3-pytest
  chromium
)
if [ "$bench" = 1 ]; then
  packages+=(python3-torch python3-torchvision python3-sklearn libopencv-dev python3-opencv)
fi

# Node.js from another source (NodeSource bundles npm) conflicts with Debian's npm package:
# a working `node` and `npm` on the PATH are enough for the report's web assets.
skip_if_present() {
  case "$1" in
    nodejs) command -v node >/dev/null 2>&1 ;;
    npm) command -v npm >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

# ONNX Runtime's official CPU build, at the version pinned in bench/ort/package-lock.json.
install_ort() {
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/bench/ort"
  if [ -d "$dir/node_modules/onnxruntime-node" ]; then return 0; fi
  echo "install-deps: npm ci --ignore-scripts in bench/ort (onnxruntime-node)"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
}

# What the options add once the packages are in.
extras() {
  if [ "$bench" = 1 ]; then install_ort; fi
  if [ "$aarch64" = 1 ]; then "$(dirname "$0")/aarch64-sysroot.sh"; fi
}

missing=()
for p in "${packages[@]}"; do
  if skip_if_present "$p"; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  extras
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
extras
