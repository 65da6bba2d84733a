#!/bin/sh
# Builds fuzz/fuzz_loaders (libFuzzer + AddressSanitizer + UBSan) from the
# sources of the loaders it reaches. Needs clang with its compiler-rt
# (Debian: clang-14 ships libclang_rt.fuzzer; if "-fsanitize=fuzzer" fails to
# link, apt-get install libclang-rt-14-dev). Usage: fuzz/build.sh [out_dir]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build-fuzz}
CC=${CC:-clang}
mkdir -p "$OUT"
# Only what the loaders need: core, the tape and backend table (tensors
# refer to them), image files, safetensors, COCO. OpenMP is left out: the
# pragmas are ignored and the loaders run single-threaded.
SRCS="$(ls "$ROOT"/src/core/*.c "$ROOT"/src/autograd/*.c "$ROOT"/src/backend/*.c \
          "$ROOT"/src/data/image*.c "$ROOT"/src/io/safetensors.c "$ROOT"/src/eval/coco_*.c)"
# shellcheck disable=SC2086
$CC -std=c11 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Wall -Wextra -Wno-unknown-pragmas -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
    -I"$ROOT/include" -I"$ROOT/src" \
    "$ROOT/fuzz/fuzz_loaders.c" $SRCS \
    -lcjson -lpng -ljpeg -lm -o "$OUT/fuzz_loaders"
echo "$OUT/fuzz_loaders"
