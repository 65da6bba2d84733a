#!/bin/sh
# `make bench`: every workload of the performance targets, encdec then
# PyTorch in the same invocation, then a table of PyTorch ms / encdec ms
# (> 1: encdec is faster). Environment: BUILD (build), THREADS (2), REPS (5),
# OMP_WAIT_POLICY (passive), PYTHON (the interpreter with torch; /tmp/peers/bin/python if present),
# QUICK=1 for small sizes, SKIP_BF16=1 for the f32 rows only, SKIP_WINO=1 without the Winograd rows,
# ROUNDS (1): each workload runs encdec then PyTorch ROUNDS times in turn, and the table
# gives each side's median (the machine's drift between minutes moves both). Results are
# appended to $BUILD/bench-results.jsonl.
set -u
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
REPS=${REPS:-5}
if [ -z "${PYTHON:-}" ]; then
  if [ -x /tmp/peers/bin/python ]; then PYTHON=/tmp/peers/bin/python; else PYTHON=python3; fi
fi
# Both programs use libgomp. On a shared machine its default spinning
# collapses when a peer thread is descheduled (measured here: unet32 train
# 2.5 s/step active vs 0.17 s passive); both get the same setting.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp)
common="--threads $THREADS --reps $REPS"
if [ "${QUICK:-0}" = 1 ]; then B=2; S=64; else B=8; S=128; fi

ROUNDS=${ROUNDS:-1}
run() {  # label, then the arguments shared by both programs ($ENC: encdec's own extra options)
  label=$1; shift
  r=0
  while [ "$r" -lt "$ROUNDS" ]; do
    r=$((r + 1))
    echo "== $label (round $r of $ROUNDS): $* ${ENC:-}" >&2
    "$BUILD/encdec" bench "$@" $common ${ENC:-} | tee /dev/stderr | grep '^{' | sed "s/^{/{\"who\":\"encdec\",\"label\":\"$label\",/" >>"$OUT"
    "$PYTHON" "$HERE/peer_torch.py" "$@" $common | tee /dev/stderr | grep '^{' | sed "s/^{/{\"who\":\"torch\",\"label\":\"$label\",/" >>"$OUT"
  done
}

run conv2d op conv2d --batch $B
run conv_transpose2d op conv_transpose2d --batch $B
run max_pool2d op max_pool2d --batch $B
run unet32-train model unet32 --batch $B --size $S --train --precision f32
run unet32-infer-b1 model unet32 --batch 1 --size $S --infer --precision f32
run unet32-infer model unet32 --batch $B --size $S --infer --precision f32
# Winograd (encdec --conv-algo winograd, opt-in: results within ~1e-5 of
# direct) against the same PyTorch float32 runs. SKIP_WINO=1 skips.
if [ "${SKIP_WINO:-0}" != 1 ]; then
  ENC="--conv-algo winograd" run conv2d-wino op conv2d --batch $B
  ENC="--conv-algo winograd" run unet32-train-wino model unet32 --batch $B --size $S --train --precision f32
  ENC="--conv-algo winograd" run unet32-infer-b1-wino model unet32 --batch 1 --size $S --infer --precision f32
  ENC="--conv-algo winograd" run unet32-infer-wino model unet32 --batch $B --size $S --infer --precision f32
fi
# bf16: encdec --precision bf16 (convolutions in bf16, AMX where present)
# against PyTorch's bf16 autocast on the same workloads. SKIP_BF16=1 skips.
if [ "${SKIP_BF16:-0}" != 1 ]; then
  run conv2d-bf16 op conv2d --batch $B --precision bf16
  run conv_transpose2d-bf16 op conv_transpose2d --batch $B --precision bf16
  run unet32-train-bf16 model unet32 --batch $B --size $S --train --precision bf16
  run unet32-infer-b1-bf16 model unet32 --batch 1 --size $S --infer --precision bf16
  run unet32-infer-bf16 model unet32 --batch $B --size $S --infer --precision bf16
fi

cat "$OUT" >>"$BUILD/bench-results.jsonl"
"$PYTHON" - "$OUT" <<'PY'
import json, sys, platform
rows = [json.loads(l) for l in open(sys.argv[1])]
key = lambda r: (r["label"], r["mode"])
def medians(who):
    # Per workload, the row with the median ms of its rounds (the lower
    # middle one for an even count).
    groups = {}
    for r in rows:
        if r["who"] == who:
            groups.setdefault(key(r), []).append(r)
    return {k: sorted(g, key=lambda r: r["ms"])[(len(g) - 1) // 2] for k, g in groups.items()}
enc = medians("encdec")
tor = medians("torch")
rounds = max((sum(1 for r in rows if r["who"] == "encdec" and key(r) == k) for k in enc), default=1)
if rounds > 1:
    print(f"\n(each side's median of {rounds} alternating rounds)")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"\nmachine: {platform.node()} / {cpu}")
print(f"{'workload':<22}{'mode':<18}{'encdec ms':>10}{'torch ms':>10}{'ratio':>8}{'enc GF/s':>9}{'%peak':>7}{'enc MB':>8}{'torch MB':>9}")
for k, e in enc.items():
    t = tor.get(k)
    if not t:
        continue
    print(f"{k[0]:<22}{k[1]:<18}{e['ms']:>10.1f}{t['ms']:>10.1f}{t['ms'] / e['ms']:>8.2f}{e['gflops']:>9.1f}"
          f"{e['peak_pct']:>7.1f}{e['peak_rss_mb']:>8.0f}{t['peak_rss_mb']:>9.0f}  (torch {t['format']})")
PY
rm -f "$OUT"
