#!/bin/sh
# Time to quality (issue 6): the same DnCNN-S recipe trained by `encdec train`
# and by PyTorch (bench/denoise_race_torch.py), one after the other on the
# same machine with the same thread count, each for at most TIME_LIMIT
# seconds of training; reports the training time each needs to first reach
# TARGET dB on Set12 and the ratio encdec / PyTorch (the issue asks <= 1/3).
#
# Recipe: DnCNN-S (gray, width 64, depth 17, residual), batch 64 of 40x40
# patches from denoise/train400 with the 8 flips/rotations, sigma 25 noise
# in float without clipping, MSE, Adam lr 1e-3 cosine to 1e-4 over
# EPOCHS * STEPS steps, validation on Set12 every STEPS steps (PSNR on
# 0..255 of the 8-bit output, noise of seed 0: both sides use the same noisy
# images, in float32). Training in bf16 (encdec --precision bf16; PyTorch
# bf16 autocast + channels_last), PRECISION=f32 for float32 on both.
# The clock is the training steps only (batches, forward, backward, update):
# validation and checkpoints are not counted, on either side.
#
# Environment: TIME_LIMIT (3600 s each), TARGET (29.5), THREADS (2),
# STEPS (100, steps between validations), EPOCHS (50: the cosine runs over
# EPOCHS * STEPS steps on both sides), PRECISION (bf16), SEED (0),
# VAL_LIMIT (0: all 12 images), BUILD (build), PYTHON (/tmp/peers/bin/python
# if present), DATA (../shared/data/denoise beside the repository, else
# /work/shared/data/denoise), RESULTS (out/race/<date>), ONLY (encdec|torch:
# one side; SUMMARY=1: no training, the summary again from RESULTS' logs,
# e.g. for another TARGET), SIMULTANEOUS (must stay unset: running both at once on 2 cores
# would measure the contention, not the trainers).
# Output in RESULTS: encdec.log, torch.log (everything each printed),
# encdec.txt, torch.txt ("elapsed_s psnr" after each validation), summary.txt.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
TIME_LIMIT=${TIME_LIMIT:-3600}
TARGET=${TARGET:-29.5}
THREADS=${THREADS:-2}
STEPS=${STEPS:-100}
EPOCHS=${EPOCHS:-50}
PRECISION=${PRECISION:-bf16}
SEED=${SEED:-0}
VAL_LIMIT=${VAL_LIMIT:-0}
ONLY=${ONLY:-}
[ "${SUMMARY:-0}" = 1 ] && ONLY=none
if [ -n "${SIMULTANEOUS:-}" ] && [ "${SIMULTANEOUS}" != 0 ]; then
  echo "denoise_race: SIMULTANEOUS is not supported: the two trainers run one after the other" >&2; exit 2
fi
if [ -z "${PYTHON:-}" ]; then
  if [ -x /tmp/peers/bin/python ]; then PYTHON=/tmp/peers/bin/python; else PYTHON=python3; fi
fi
if [ -z "${DATA:-}" ]; then
  if [ -d "$ROOT/../shared/data/denoise" ]; then DATA=$ROOT/../shared/data/denoise; else DATA=/work/shared/data/denoise; fi
fi
[ "$ONLY" = none ] && [ -z "${RESULTS:-}" ] && { echo "denoise_race: SUMMARY=1 needs RESULTS" >&2; exit 2; }
RESULTS=${RESULTS:-$ROOT/out/race/$(date +%Y%m%d-%H%M%S)}
for d in "$DATA/train400" "$DATA/set12"; do
  [ -d "$d" ] || { echo "denoise_race: $d not found (set DATA)" >&2; exit 1; }
done
[ -x "$BUILD/encdec" ] || { echo "denoise_race: $BUILD/encdec not found (set BUILD)" >&2; exit 1; }
mkdir -p "$RESULTS" || exit 1
# Both use libgomp; on a shared machine its default spinning collapses when
# a peer thread is descheduled (see bench/run.sh). Same setting for both.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
vl=""; [ "$VAL_LIMIT" -gt 0 ] && vl="--val-limit $VAL_LIMIT"

# "epoch ... val PSNR P dB ... elapsed T s" lines -> "T P"
curve() { sed -n 's/.*val PSNR \([0-9.]*\) dB.* elapsed \([0-9.]*\) s.*/\2 \1/p' "$1"; }
# first elapsed_s at which psnr >= TARGET, or empty
reach() { awk -v t="$TARGET" '$2 + 0 >= t + 0 { print $1; exit }' "$1"; }

[ "$ONLY" != none ] && {
  echo "denoise race: TIME_LIMIT=$TIME_LIMIT s each, TARGET=$TARGET dB, THREADS=$THREADS, STEPS=$STEPS, EPOCHS=$EPOCHS,"
  echo "  PRECISION=$PRECISION, SEED=$SEED, VAL_LIMIT=$VAL_LIMIT, OMP_WAIT_POLICY=$OMP_WAIT_POLICY, data $DATA"
  echo "  $(uname -n), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  git -C "$ROOT" log -1 --format='  encdec commit %h %s' 2>/dev/null
} | tee "$RESULTS/summary.txt"

if [ "$ONLY" != torch ] && [ "$ONLY" != none ]; then
  echo "== encdec (log: $RESULTS/encdec.log)" >&2
  # shellcheck disable=SC2086
  "$BUILD/encdec" train --task denoise --arch dncnn --config '{"channels":1,"width":64,"depth":17}' \
    --data "$DATA/train400" --val "$DATA/set12" $vl --sigma 25 --patch 40 --batch 64 \
    --epochs "$EPOCHS" --steps "$STEPS" --lr 1e-3 --lr-min 1e-4 --seed "$SEED" --threads "$THREADS" \
    --precision "$PRECISION" --time-limit "$TIME_LIMIT" --target-psnr "$TARGET" --out "$RESULTS/encdec-ckpt" 2>&1 |
    tr '\r' '\n' | grep -v '^train ' | tee "$RESULTS/encdec.log" | grep -v '^$' >&2
fi
if [ "$ONLY" != encdec ] && [ "$ONLY" != none ]; then
  echo "== torch (log: $RESULTS/torch.log)" >&2
  # shellcheck disable=SC2086
  "$PYTHON" "$HERE/denoise_race_torch.py" --data "$DATA/train400" --val "$DATA/set12" $vl --sigma 25 --patch 40 \
    --batch 64 --width 64 --depth 17 --epochs "$EPOCHS" --steps "$STEPS" --lr 1e-3 --lr-min 1e-4 --seed "$SEED" \
    --threads "$THREADS" --precision "$PRECISION" --time-limit "$TIME_LIMIT" --target-psnr "$TARGET" 2>&1 |
    tee "$RESULTS/torch.log" >&2
fi

for who in encdec torch; do
  [ -f "$RESULTS/$who.log" ] && { echo "elapsed_s psnr"; curve "$RESULTS/$who.log"; } >"$RESULTS/$who.txt"
done
te=""; tt=""; tlast=""
{
  echo "time to reach $TARGET dB on Set12 (training seconds, validation not counted):"
  for who in encdec torch; do
    f=$RESULTS/$who.txt
    [ -f "$f" ] || continue
    r=$(reach "$f")
    last=$(tail -n 1 "$f")
    if [ -n "$r" ]; then printf '  %-6s %s s\n' "$who" "$r"
    else printf '  %-6s not reached in %s s (last validation: %s dB)\n' "$who" "${last% *}" "${last#* }"; fi
    if [ "$who" = encdec ]; then te=$r; else tt=$r; tlast=${last% *}; fi
  done
  if [ -n "$te" ] && [ -n "$tt" ]; then
    awk -v e="$te" -v t="$tt" 'BEGIN { r = e / t; printf "  ratio encdec/torch %.3f (issue 6 asks <= 0.333): %s\n", r, r <= 1 / 3 ? "met" : "not met" }'
  elif [ -n "$te" ] && [ -f "$RESULTS/torch.txt" ]; then
    awk -v e="$te" -v t="$tlast" 'BEGIN { printf "  ratio encdec/torch < %.3f (torch did not reach the target)\n", e / t }'
  else
    echo "  ratio: not available"
  fi
} | if [ "$ONLY" = none ]; then cat; else tee -a "$RESULTS/summary.txt"; fi
echo "results in $RESULTS"
