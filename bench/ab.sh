#!/bin/bash
# Before/after timing of two encdec builds on the same machine, alternated
# (old, new, old, new) so drift hits both: unet32 training (f32, bf16) and
# inference from `encdec bench`, and the step time of the two enhancement
# training recipes (DnCNN-S: batch 64 of 40x40; EDSR x3 16 x 64: batch 16 of
# 40x40; bf16, `encdec train` elapsed / 30 steps, the first step included).
# Usage: OLD=path/to/old/encdec NEW=build/encdec [ROUNDS=2] [THREADS=2] [DATA=../shared/data] bench/ab.sh
# Needs a quiet machine; prints one line per measurement.
set -u
OLD=${OLD:?OLD must name the old encdec binary}
NEW=${NEW:-build/encdec}
ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-2}
D=${DATA:-${ENCDEC_DATA:-$(dirname "$0")/../../shared/data}}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
field() { grep -o "\"$1\":[0-9.]*" | cut -d: -f2; }
for round in $(seq "$ROUNDS"); do
  for who in old new; do
    B=$OLD; [ "$who" = new ] && B=$NEW
    for prec in f32 bf16; do
      echo "round $round $who unet32-train-$prec ms $("$B" bench model unet32 --batch 8 --size 128 --train --threads "$THREADS" --reps 7 --precision $prec 2>&1 | field ms)"
    done
    echo "round $round $who unet32-infer-f32 ms $("$B" bench model unet32 --batch 8 --size 128 --infer --threads "$THREADS" --reps 7 --precision f32 2>&1 | field ms)"
    s=$("$B" train --task denoise --arch dncnn --data "$D/denoise/train400" --sigma 25 --patch 40 --batch 64 --epochs 1 --steps 30 \
        --precision bf16 --threads "$THREADS" --seed 0 --out "$T/dn" 2>&1 | field elapsed_s)
    echo "round $round $who dncnn-s-step-bf16 s/step $(awk -v s="$s" 'BEGIN { printf "%.3f", s / 30 }')"
    s=$("$B" train --task sr --arch edsr --config '{"scale":3,"width":64,"blocks":16}' --scale 3 --data "$D/sr/t91" --patch 40 --batch 16 \
        --epochs 1 --steps 30 --precision bf16 --threads "$THREADS" --seed 0 --out "$T/sr" 2>&1 | field elapsed_s)
    echo "round $round $who edsr-x3-step-bf16 s/step $(awk -v s="$s" 'BEGIN { printf "%.3f", s / 30 }')"
  done
done
