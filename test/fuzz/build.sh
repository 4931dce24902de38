#!/bin/sh
# test/fuzz/build.sh - builds the libFuzzer targets (test/fuzz/fuzz_*.c) into build-fuzz/.
#
# Why a script and not meson: the fuzzers want clang with -fsanitize=fuzzer, which the
# gcc builds of the project cannot take, and they are run by hand or by run.sh, not by
# `meson test`. Every library source is compiled once with ASan + UBSan and the
# fuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link) into one static archive;
# each target links that archive, so it only pulls in the objects it uses.
#
# Usage: test/fuzz/build.sh [TARGET...]   (default: every test/fuzz/fuzz_*.c)
# Needs: clang and libclang-rt-14-dev (Debian 12), plus the project's -dev packages.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${KL_FUZZ_BUILD:-$root/build-fuzz}
CC=${CC:-clang}
cd "$root"

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "build.sh: $CC not found (apt-get install clang libclang-rt-14-dev)" >&2
	exit 2
fi

mkdir -p "$out/obj"

# kl_version.h comes from meson's configure_file; make the same one here.
version=$(sed -n "s/^ *version: *'\([^']*\)'.*/\1/p" meson.build | head -n 1)
printf '#define KL_VERSION "%s-fuzz"\n' "${version:-0}" > "$out/kl_version.h.new"
if cmp -s "$out/kl_version.h.new" "$out/kl_version.h"; then
	rm -f "$out/kl_version.h.new"
else
	mv "$out/kl_version.h.new" "$out/kl_version.h"
fi

# kubeclient/k8s.pb.[ch] from the trimmed proto, as kubeclient/meson.build makes them
# (nanopb's generator; its runtime is Debian's libprotobuf-nanopb.a)
gen=$(command -v nanopb_generator.py || command -v nanopb_generator || true)
if [ -z "$gen" ]; then
	echo "build.sh: nanopb_generator not found (apt-get install nanopb protobuf-compiler)" >&2
	exit 2
fi
mkdir -p "$out/kubeclient"
if [ ! -f "$out/kubeclient/k8s.pb.c" ] || [ kubeclient/proto/k8s.proto -nt "$out/kubeclient/k8s.pb.c" ]; then
	"$gen" -q -I kubeclient/proto -D "$out/kubeclient" kubeclient/proto/k8s.proto
fi

pkgs="libuv libcurl yajl yaml-0.1 openssl"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Wformat=2 \
	-I$root -I$out $(pkg-config --cflags $pkgs)"
LIBS="$(pkg-config --libs $pkgs) -lhttp_parser -lprotobuf-nanopb -lm"

# The library: every source of the five layers (cmd/ has main() and stays out).
srcs="$(ls util/*.c config/*.c kubeclient/*.c notify/*.c controllers/*.c) $out/kubeclient/k8s.pb.c"
objs=""
pids=""
jobs=$(nproc 2>/dev/null || echo 2)
n=0
for src in $srcs; do
	obj="$out/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')"
	objs="$objs $obj"
	# rebuild when the source, or any header of the tree, is newer than the object
	if [ -f "$obj" ] && [ -z "$(find "$src" util config kubeclient notify controllers \
		-name '*.h' -newer "$obj" -o -path "$src" -newer "$obj" | head -n 1)" ]; then
		continue
	fi
	# shellcheck disable=SC2086
	$CC $CFLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$obj" &
	pids="$pids $!"
	n=$((n + 1))
	if [ "$n" -ge "$jobs" ]; then
		for p in $pids; do wait "$p"; done
		pids=""
		n=0
	fi
done
for p in $pids; do wait "$p"; done

rm -f "$out/libkl-fuzz.a"
# shellcheck disable=SC2086
ar rcs "$out/libkl-fuzz.a" $objs

if [ "$#" -gt 0 ]; then
	targets="$*"
else
	targets=$(cd test/fuzz && ls fuzz_*.c | sed 's/\.c$//')
fi
for t in $targets; do
	t=${t%.c}
	# shellcheck disable=SC2086
	$CC $CFLAGS -fsanitize=fuzzer "test/fuzz/$t.c" "$out/libkl-fuzz.a" $LIBS -o "$out/$t"
	echo "built $out/$t"
done
