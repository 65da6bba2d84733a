#!/bin/bash
# encdec crf: refinement from probabilities (.npy) and from an index PNG,
# and the errors users meet (exit 1 for bad input naming the file, 2 for bad
# usage). The .npy files are written here byte by byte, so no Python is
# needed; a CamVid val frame is used when $ED_DATA_DIR has one.
set -u
E=${ENCDEC:?ENCDEC must name the encdec binary}
SRC=${ED_SOURCE_DIR:-$(dirname "$0")/..}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"

# npy FILE DESCR FORTRAN "SHAPE" BODY-FUNCTION: a version 1.0 .npy whose
# header is padded to 64 bytes as np.save does.
npy() {
    local f=$1 descr=$2 fortran=$3 shape=$4 body=$5
    local h="{'descr': '$descr', 'fortran_order': $fortran, 'shape': ($shape), }"
    while [ $(( (10 + ${#h} + 1) % 64 )) != 0 ]; do h="$h "; done
    h="$h"$'\n'
    local n=${#h}
    { printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $((n & 255)))\\x$(printf %02x $((n >> 8)))"; printf '%s' "$h"; $body; } > "$f"
}
F075='\x00\x00\x40\x3f'; F025='\x00\x00\x80\x3e'; F_THIRD='\xab\xaa\xaa\x3e'
# (2, 13, 19): label 0 likely left of x = 9, label 1 right of it.
probs2() {
    for l in 0 1; do for y in $(seq 0 12); do for x in $(seq 0 18); do
        if { [ $x -lt 9 ] && [ $l = 0 ]; } || { [ $x -ge 9 ] && [ $l = 1 ]; }; then printf "$F075"; else printf "$F025"; fi
    done; done; done
}
# (3, 13, 19): labels 0, 1, 2 in vertical bands.
probs3() {
    for l in 0 1 2; do for y in $(seq 0 12); do for x in $(seq 0 18); do
        if [ $((x / 7)) = $l ]; then printf "$F075"; else printf "$F_THIRD"; fi
    done; done; done
}
IMG="$SRC/tests/golden/images/rgb8_interlaced.png"   # 19 x 13 RGB
npy "$T/p.npy" '<f4' False '2, 13, 19' probs2
npy "$T/p3.npy" '<f4' False '3, 13, 19' probs3

# Refinement from probabilities and from labels.
expect 0 "wrote $T/out.png (19x13, 2 labels" -- "$E" crf --image "$IMG" --probs "$T/p.npy" -o "$T/out.png" --threads 2
[ -s "$T/out.png" ] && ok || bad "no output"
expect 0 "5 iterations" -- "$E" crf --image "$IMG" --probs "$T/p3.npy" -o "$T/out3.png" --palette voc --overlay "$T/ov.png"
[ -s "$T/ov.png" ] && ok || bad "no overlay"
expect 0 "wrote $T/re.png (19x13, 3 labels, 2 iterations" -- "$E" crf --image "$IMG" --labels "$T/out3.png" -o "$T/re.png" \
    --iters 2 --gt-prob 0.6 --sxy-gaussian 2 --compat-gaussian 0 --sxy-bilateral 30 --srgb 20 --compat-bilateral 5
expect 0 "changed 0 of" -- "$E" crf --image "$IMG" --labels "$T/out3.png" -o "$T/re0.png" --iters 0
expect 0 "of 247 pixels" -- "$E" crf --image "$IMG" --labels "$T/out.png" --unsure 7 -o "$T/re1.png" --n-labels 4
ls "$T" | grep -q '\.tmp' && bad "temporary file left behind" || ok

# Bad input: exit 1, naming the file and what was expected.
small() { for i in $(seq 240); do printf "$F025"; done; }
npy "$T/small.npy" '<f4' False '2, 10, 12' small
expect 1 "small.npy is (2, 10, 12) = (n_labels, H, W), 12x10 (W x H), but .*rgb8_interlaced.png is 19x13" -- \
    "$E" crf --image "$IMG" --probs "$T/small.npy" -o "$T/x.png"
npy "$T/hwc.npy" '<f4' False '13, 19, 2' probs2
expect 1 "looks like (H, W, n_labels)" -- "$E" crf --image "$IMG" --probs "$T/hwc.npy" -o "$T/x.png"
npy "$T/f8.npy" '<f8' False '1, 13, 19' probs2
expect 1 "dtype '<f8' (float64); float32" -- "$E" crf --image "$IMG" --probs "$T/f8.npy" -o "$T/x.png"
npy "$T/fo.npy" '<f4' True '2, 13, 19' probs2
expect 1 "Fortran order" -- "$E" crf --image "$IMG" --probs "$T/fo.npy" -o "$T/x.png"
head -c 1000 "$T/p.npy" > "$T/trunc.npy"
expect 1 "trunc.npy is truncated" -- "$E" crf --image "$IMG" --probs "$T/trunc.npy" -o "$T/x.png"
head -c 100 "$T/p.npy" > "$T/trunch.npy"
expect 1 "truncated in its header" -- "$E" crf --image "$IMG" --probs "$T/trunch.npy" -o "$T/x.png"
printf 'not an npy file' > "$T/junk.npy"
expect 1 "junk.npy is not a .npy file" -- "$E" crf --image "$IMG" --probs "$T/junk.npy" -o "$T/x.png"
{ cat "$T/p.npy"; printf 'xx'; } > "$T/extra.npy"
expect 1 "bytes after" -- "$E" crf --image "$IMG" --probs "$T/extra.npy" -o "$T/x.png"
expect 1 "n-labels is 3 but .* holds 2 labels" -- "$E" crf --image "$IMG" --probs "$T/p.npy" --n-labels 3 -o "$T/x.png"
expect 1 "cannot open .*missing.npy" -- "$E" crf --image "$IMG" --probs "$T/missing.npy" -o "$T/x.png"
expect 1 "encdec: error: .*missing.png" -- "$E" crf --image "$T/missing.png" --probs "$T/p.npy" -o "$T/x.png"
expect 1 "has label 2 at (x 14, y 0) but there are 2 labels (0..1)" -- \
    "$E" crf --image "$IMG" --labels "$T/out3.png" --n-labels 2 -o "$T/x.png"
expect 1 "is 12x10 but .* is 19x13" -- "$E" crf --image "$IMG" --labels "$SRC/tests/golden/images/gray8.png" -o "$T/x.png"
expect 1 "index PNG" -- "$E" crf --image "$IMG" --labels "$IMG" -o "$T/x.png"
[ -e "$T/x.png" ] && bad "output written despite an error" || ok

# Bad usage: exit 2.
expect 2 "give one of --probs" -- "$E" crf --image "$IMG" -o "$T/x.png"
expect 2 "give one of --probs" -- "$E" crf --image "$IMG" --probs "$T/p.npy" --labels "$T/out.png" -o "$T/x.png"
expect 2 "--image IMG is required" -- "$E" crf --probs "$T/p.npy" -o "$T/x.png"
expect 2 "-o OUT.png is required" -- "$E" crf --image "$IMG" --probs "$T/p.npy"
expect 2 "--iters takes" -- "$E" crf --image "$IMG" --probs "$T/p.npy" -o "$T/x.png" --iters -1
expect 2 "--srgb takes a number > 0" -- "$E" crf --image "$IMG" --probs "$T/p.npy" -o "$T/x.png" --srgb 0
expect 2 "--gt-prob takes" -- "$E" crf --image "$IMG" --labels "$T/out.png" -o "$T/x.png" --gt-prob 1
expect 2 "goes with --labels" -- "$E" crf --image "$IMG" --probs "$T/p.npy" -o "$T/x.png" --gt-prob 0.6
expect 2 "--palette takes" -- "$E" crf --image "$IMG" --probs "$T/p.npy" -o "$T/x.png" --palette rainbow
expect 2 "needs a value" -- "$E" crf --image "$IMG" --probs "$T/p.npy" -o "$T/x.png" --sxy-bilateral
expect 2 "unknown option" -- "$E" crf --image "$IMG" --probs "$T/p.npy" -o "$T/x.png" --bogus
expect 0 "usage: encdec crf" -- "$E" crf --help

# A CamVid val frame and its annotation (void 11 unsure), when present.
D=${ED_DATA_DIR:-}/camvid
F=0016E5_07959.png
if [ -f "$D/val/$F" ] && [ -f "$D/valannot/$F" ]; then
    expect 0 "480x360, 11 labels" -- "$E" crf --image "$D/val/$F" --labels "$D/valannot/$F" --unsure 11 --n-labels 11 \
        --palette camvid --overlay "$T/cv_ov.png" -o "$T/cv.png"
    [ -s "$T/cv_ov.png" ] && ok || bad "no CamVid overlay"
    expect 1 "has label 11 at .* --unsure" -- "$E" crf --image "$D/val/$F" --labels "$D/valannot/$F" --n-labels 5 -o "$T/x.png"
    expect 0 "12 labels" -- "$E" crf --image "$D/val/$F" --labels "$D/valannot/$F" --iters 1 -o "$T/cv12.png"
    expect 1 "camvid has 12 colours but there are 13" -- "$E" crf --image "$D/val/$F" --labels "$D/valannot/$F" \
        --n-labels 13 --palette camvid --iters 1 -o "$T/x.png"
else
    echo "no CamVid val frame under ${ED_DATA_DIR:-\$ED_DATA_DIR}: CamVid checks skipped"
fi

finish
