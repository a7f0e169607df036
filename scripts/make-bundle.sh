#!/usr/bin/env bash
# Packs a dynamically linked nnjoule binary with every shared library it needs and the dynamic
# loader into one folder, started by a launcher script, so it runs on a machine without
# Debian's packages (a board, a phone under /data/local/tmp, a container image of another
# distribution).
#   scripts/make-bundle.sh BINARY OUT_DIR [LIBDIR...]
# LIBDIRs are searched for the libraries in order (default: this machine's multiarch folders);
# a cross build passes its sysroot's, since the libraries are resolved from the ELF headers
# (readelf), never by running the binary.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: make-bundle.sh BINARY OUT_DIR [LIBDIR...]" >&2
  exit 2
fi
binary=$1
out=$2
shift 2
if [ ! -f "$binary" ]; then
  echo "make-bundle: no binary at '$binary'" >&2
  exit 2
fi
if [ $# -gt 0 ]; then
  libdirs=("$@")
else
  triplet=$(gcc -print-multiarch 2>/dev/null || true)
  libdirs=("/lib/$triplet" "/usr/lib/$triplet" /lib /usr/lib)
fi

interp=$(readelf -l "$binary" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
if [ -z "$interp" ]; then
  echo "make-bundle: '$binary' names no dynamic loader (static binary? nothing to bundle)" >&2
  exit 2
fi

find_lib() {
  local d
  for d in "${libdirs[@]}"; do
    if [ -e "$d/$1" ]; then
      echo "$d/$1"
      return 0
    fi
  done
  return 1
}

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
declare -A seen=()
queue=("$binary")
while [ ${#queue[@]} -gt 0 ]; do
  file=${queue[0]}
  queue=("${queue[@]:1}")
  for name in $(needed "$file"); do
    if [ -n "${seen[$name]:-}" ]; then continue; fi
    seen[$name]=1
    if ! path=$(find_lib "$name"); then
      echo "make-bundle: $name (needed by $(basename "$file")) is in none of: ${libdirs[*]}" >&2
      exit 1
    fi
    cp -L "$path" "$out/lib/$name"
    queue+=("$path")
  done
done
loader=$(basename "$interp")
if ! loader_path=$(find_lib "$loader"); then loader_path=$interp; fi
cp -L "$loader_path" "$out/lib/$loader"
cp -L "$binary" "$out/bin/$(basename "$binary")"

# The launcher runs the binary through the bundled loader, so the host's loader and glibc are
# never used; the host's own library path still follows ours, so drivers loaded at run time
# with dlopen (libnvidia-ml.so.1) are found where the host keeps them. NNJOULE_EMULATOR (say
# "qemu-aarch64") runs a bundle of another architecture on this machine, with nothing but the
# bundle's own files. Android has no /bin/sh: there, start it as `sh ./nnjoule`.
name=$(basename "$binary")
cat >"$out/$name" <<EOF
#!/bin/sh
here=\$(cd "\$(dirname "\$0")" && pwd)
exec \${NNJOULE_EMULATOR:-} "\$here/lib/$loader" \\
  --library-path "\$here/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" "\$here/bin/$name" "\$@"
EOF
chmod +x "$out/$name" "$out/lib/$loader"
echo "make-bundle: $out/$name ($(ls "$out/lib" | wc -l) libraries, $(du -sh "$out" | cut -f1))"
