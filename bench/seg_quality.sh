#!/bin/sh
# bf16 against f32 training quality on a small segmentation run (issue 4:
# within 0.5 mIoU point): bench/seg_quality.c for each seed, f32 then bf16,
# one run after the other, then a table of the val mIoU.
#   cmake --build build --target seg_quality && bench/seg_quality.sh
#   SEEDS="0 1 2" STEPS=1500 THREADS=2 BUILD=build OUT=out/seg_quality
set -eu
BUILD=${BUILD:-build}
SEEDS=${SEEDS:-0 1 2}
STEPS=${STEPS:-1500}
THREADS=${THREADS:-2}
OUT=${OUT:-out/seg_quality/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
for s in $SEEDS; do
    for p in f32 bf16; do
        log="$OUT/seed$s-$p.log"
        echo "== seed $s, $p -> $log"
        "$BUILD/seg_quality" --precision "$p" --seed "$s" --steps "$STEPS" --threads "$THREADS" "$@" >"$log.tmp"
        mv "$log.tmp" "$log"
        tail -n 2 "$log"
    done
done
echo
echo "seed   f32 mIoU  bf16 mIoU  bf16 - f32   (f32 / bf16 training s)"
for s in $SEEDS; do
    f=$(tail -n 1 "$OUT/seed$s-f32.log")
    b=$(tail -n 1 "$OUT/seed$s-bf16.log")
    python3 -c "import json,sys; f=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]);
print('%-6s %9.2f %10.2f %+11.2f   (%.0f / %.0f s)' % (sys.argv[3], f['mean_iou'], b['mean_iou'], b['mean_iou'] - f['mean_iou'], f['train_s'], b['train_s']))" "$f" "$b" "$s"
done
