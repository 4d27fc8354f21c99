#!/bin/sh
# Installs the kipc C library into PREFIX/lib: the shared library as
# libkipc.so.X.Y.Z, with the links libkipc.so.0.Y (its soname, what programs
# record and the loader looks for; libkipc.so.X from version 1.0 on) and
# libkipc.so (what `-lkipc` finds), and the static library as libkipc.a;
# kipc.h into PREFIX/include; and two pkg-config files into
# PREFIX/lib/pkgconfig:
#   kipc.pc         links the shared library   (cc prog.c $(pkg-config --cflags --libs kipc))
#   kipc-static.pc  links the static library   (cc prog.c $(pkg-config --cflags --libs kipc-static))
#
# Usage:
#   cargo build --release -p kipc-ffi
#   ffi/install.sh PREFIX [LIBDIR]
#
# LIBDIR is where cargo put the libraries; default
# ${CARGO_TARGET_DIR:-<repo>/target}/release. PREFIX is created if needed.
# With PREFIX outside the linker's and pkg-config's default paths, set
#   PKG_CONFIG_PATH=PREFIX/lib/pkgconfig   (and LD_LIBRARY_PATH=PREFIX/lib to
#   run programs linked against the shared library).
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 PREFIX [LIBDIR]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
prefix=$1
libdir_src=${2:-${CARGO_TARGET_DIR:-$repo/target}/release}

for f in libkipc_ffi.a libkipc_ffi.so; do
    if [ ! -f "$libdir_src/$f" ]; then
        echo "$0: $libdir_src/$f not found: run 'cargo build --release -p kipc-ffi' first" >&2
        exit 1
    fi
done
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n 1)
case $version in
[0-9]*.[0-9]*.[0-9]*) ;;
*) echo "$0: no MAJOR.MINOR.PATCH version in $repo/Cargo.toml" >&2; exit 1 ;;
esac
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}
# The soname ffi/build.rs gives the library (Cargo semver: while the major
# version is 0, each minor version is its own ABI).
if [ "$major" = 0 ]; then soname=libkipc.so.0.$minor; else soname=libkipc.so.$major; fi

# A library built before build.rs set the soname would be installed under a
# name the loader never asks for: refuse it (when readelf can tell).
if command -v readelf >/dev/null 2>&1 &&
    ! readelf -d "$libdir_src/libkipc_ffi.so" | grep -q "(SONAME).*\[$soname\]"; then
    echo "$0: $libdir_src/libkipc_ffi.so has no soname $soname: rebuild it ('cargo build --release -p kipc-ffi')" >&2
    exit 1
fi

mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
prefix=$(cd "$prefix" && pwd)
install -m 0644 "$libdir_src/libkipc_ffi.a" "$prefix/lib/libkipc.a"
install -m 0755 "$libdir_src/libkipc_ffi.so" "$prefix/lib/libkipc.so.$version"
ln -sf "libkipc.so.$version" "$prefix/lib/$soname"
ln -sf "$soname" "$prefix/lib/libkipc.so"
install -m 0644 "$here/include/kipc.h" "$prefix/include/kipc.h"

# What a Rust std staticlib needs from the system on Linux
# (rustc --print native-static-libs).
static_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

write_pc() {
    # $1 file, $2 name, $3 Libs
    cat >"$1" <<PC
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: $2
Description: kipc: kernel-style IPC (lock-free rings, mailboxes, signals), C ABI
Version: $version
Cflags: -I\${includedir}
$3
PC
}
write_pc "$prefix/lib/pkgconfig/kipc.pc" kipc "Libs: -L\${libdir} -lkipc
Libs.private: $static_libs"
write_pc "$prefix/lib/pkgconfig/kipc-static.pc" kipc-static "Libs: \${libdir}/libkipc.a $static_libs"
echo "installed kipc $version ($soname) into $prefix"
