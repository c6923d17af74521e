#!/usr/bin/env bash
# Installs yingji's C library under PREFIX:
#   PREFIX/lib/libyingji_c.so.X.Y.Z  (+ the SONAME link libyingji_c.so.0.Y and libyingji_c.so)
#   PREFIX/lib/libyingji_c.a
#   PREFIX/include/yingji.h
#   PREFIX/lib/pkgconfig/yingji.pc          (pkg-config --cflags --libs yingji)
#   PREFIX/lib/cmake/yingji/yingjiConfig.cmake, yingjiConfigVersion.cmake
#                                           (find_package(yingji) → yingji::yingji, yingji::yingji_static)
#
# usage: bindings/c/install.sh [--debug] [--no-build] PREFIX
#   --debug     install the debug build (tests; the default is the small release build)
#   --no-build  install what is already built (cargo build [--release] --locked in bindings/c)
# Then: gcc app.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs yingji)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
profile=release
build=1
while [ $# -gt 1 ]; do
    case "$1" in
        --debug) profile=debug ;;
        --no-build) build=0 ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ $# -ne 1 ] || [ -z "$1" ] || [ "${1#-}" != "$1" ]; then
    echo "usage: $0 [--debug] [--no-build] PREFIX" >&2
    exit 2
fi
mkdir -p "$1"
prefix="$(cd "$1" && pwd)"
cd "$here"
if [ "$build" = 1 ]; then
    if [ "$profile" = release ]; then cargo build --locked --release; else cargo build --locked; fi
fi
target="$(cargo metadata --format-version 1 --no-deps --locked | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
built="$target/$profile"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
major="${version%%.*}"
rest="${version#*.}"
minor="${rest%%.*}"
if [ "$major" = 0 ]; then abi="0.$minor"; else abi="$major"; fi
soname="libyingji_c.so.$abi"
for f in libyingji_c.so libyingji_c.a; do
    [ -f "$built/$f" ] || { echo "install.sh: $built/$f is missing (build first, or drop --no-build)" >&2; exit 1; }
done
if command -v readelf >/dev/null && ! readelf -d "$built/libyingji_c.so" | grep -q "SONAME.*\[$soname\]"; then
    echo "install.sh: $built/libyingji_c.so has no SONAME $soname (built by an older build.rs?)" >&2
    exit 1
fi

lib="$prefix/lib"
install -d "$lib/pkgconfig" "$lib/cmake/yingji" "$prefix/include"
install -m 0755 "$built/libyingji_c.so" "$lib/libyingji_c.so.$version"
ln -sfn "libyingji_c.so.$version" "$lib/$soname"
ln -sfn "$soname" "$lib/libyingji_c.so"
install -m 0644 "$built/libyingji_c.a" "$lib/libyingji_c.a"
install -m 0644 include/yingji.h "$prefix/include/yingji.h"
subst() {
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" -e "s|@SONAME@|$soname|g" \
        -e "s|@VERSION_MAJOR@|$major|g" -e "s|@VERSION_MINOR@|$minor|g" "$1" > "$2"
}
subst pkg/yingji.pc.in "$lib/pkgconfig/yingji.pc"
subst pkg/yingjiConfig.cmake.in "$lib/cmake/yingji/yingjiConfig.cmake"
subst pkg/yingjiConfigVersion.cmake.in "$lib/cmake/yingji/yingjiConfigVersion.cmake"
echo "installed yingji $version ($profile, SONAME $soname) under $prefix"
