#!/bin/bash
# The encdec command: a short training run end to end, then what users see
# when they get something wrong (exit 1 for bad input, 2 for bad usage,
# messages starting "encdec: error:"). Run by ctest with $ENCDEC set.
set -u
E=${ENCDEC:?ENCDEC must name the encdec binary}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"

# A short real run on generated images (no data folder).
expect 0 "denoised" -- "$E" demo --data "$T/nowhere" --epochs 1 --out "$T/demo" --threads 2
[ -s "$T/demo/denoise_grid.png" ] && ok || bad "no grid picture"
[ -s "$T/demo/dae.safetensors" ] && ok || bad "no checkpoint"
ls "$T/demo" | grep -q '\.tmp' && bad "temporary file left behind" || ok
expect 0 "architecture: dae" -- "$E" info "$T/demo/dae.safetensors"
expect 0 "wrote" -- "$E" enhance --model "$T/demo/dae.safetensors" "$T/demo/denoise_grid.png" -o "$T/enh.png"
[ -s "$T/enh.png" ] && ok || bad "enhance wrote nothing"

# Usage errors: exit 2.
expect 2 "unknown verb" -- "$E" frobnicate
expect 2 "unknown option" -- "$E" demo --bogus
expect 2 "positive integer" -- "$E" demo --epochs -3
expect 2 "needs a value" -- "$E" demo --epochs
expect 2 "is required" -- "$E" train --data "$T"
expect 2 "not available" -- "$E" train --task segment --data "$T"
expect 2 "known:" -- "$E" data fetch nosuchset
expect 0 "usage" -- "$E" train --help

# Input errors: exit 1, named.
expect 1 "encdec: error: cannot open" -- "$E" info "$T/missing.safetensors"
head -c 100 "$T/demo/dae.safetensors" > "$T/trunc.safetensors"
expect 1 "truncated" -- "$E" info "$T/trunc.safetensors"
expect 1 "truncated" -- "$E" enhance --model "$T/trunc.safetensors" "$T/enh.png" -o "$T/x.png"
printf 'not a png at all' > "$T/bad.png"
expect 1 "encdec: error:" -- "$E" enhance --model "$T/demo/dae.safetensors" "$T/bad.png" -o "$T/x.png"
[ -e "$T/x.png" ] && bad "output written despite the error" || ok
expect 1 "cannot open folder" -- "$E" train --task denoise --data "$T/nowhere"
mkdir -p "$T/empty"
expect 1 "no image files" -- "$E" train --task denoise --data "$T/empty"

# Label maps: a histogram, and out-of-range values named (real data when present).
if [ -d "${ED_DATA_DIR:-}/camvid/valannot" ]; then
    expect 0 "(ignore)" -- "$E" data info "$ED_DATA_DIR/camvid/valannot" --labels 11 --ignore 11
    expect 1 "outside 0..4" -- "$E" data info "$ED_DATA_DIR/camvid/valannot" --labels 5
fi
expect 2 "class count" -- "$E" data info "$T" --labels 0
# Fetching fails cleanly (offline: a local mirror that lacks the file).
expect 1 "cannot fetch pennfudan" -- env ENCDEC_DATA_MIRROR="file://$T/nomirror" "$E" data fetch pennfudan --to "$T/fetch"
[ -e "$T/fetch/pennfudan.zip.part" ] && bad "partial download left behind" || ok

finish
