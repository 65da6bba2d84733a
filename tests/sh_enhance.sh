#!/bin/bash
# Enhancement end to end on a handful of real images: train (denoise and
# sr) for one short epoch, resume, eval with the README conventions, enhance
# in tiles (equal to the untiled result), and the errors users meet: a
# checkpoint of the other task, a wrong channel count, a corrupt file.
# Run by ctest with $ENCDEC and $ED_DATA_DIR set.
set -u
E=${ENCDEC:?ENCDEC must name the encdec binary}
D=${ED_DATA_DIR:-$(dirname "$0")/../../shared/data}
if [ ! -d "$D/denoise/set12" ] || [ ! -d "$D/sr/set5" ]; then echo "data not found at $D: skipped"; exit 0; fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
# A few images by link (the data stay where they are).
mkdir -p "$T/gray" "$T/grayval" "$T/rgb" "$T/rgbval"
for f in 01 02 03; do ln -s "$D/denoise/set12/$f.png" "$T/gray/$f.png"; done
ln -s "$D/denoise/set12/04.png" "$T/grayval/04.png"
for f in $(ls "$D/sr/set5" | head -2); do ln -s "$D/sr/set5/$f" "$T/rgb/$f"; done
ln -s "$D/sr/set5/$(ls "$D/sr/set5" | tail -1)" "$T/rgbval/"

# Denoising: train, files, resume, eval.
expect 0 "val PSNR" -- "$E" train --task denoise --arch dncnn --config '{"width":8,"depth":5}' --data "$T/gray" --val "$T/grayval" \
    --epochs 1 --steps 4 --batch 4 --patch 24 --out "$T/dn" --threads 2
for f in last.safetensors best.safetensors curves.png curves.svg; do [ -s "$T/dn/$f" ] && ok || bad "denoise: no $f"; done
expect 0 "epoch 2/2" -- "$E" train --task denoise --data "$T/gray" --val "$T/grayval" --epochs 2 --steps 2 --batch 4 --patch 24 \
    --out "$T/dn" --threads 2 --resume "$T/dn/last.safetensors"
expect 0 '"psnr":' -- "$E" eval --task denoise --model "$T/dn/best.safetensors" --data "$T/grayval" --sigma 25 --seed 0
out1=$("$E" eval --task denoise --model "$T/dn/best.safetensors" --data "$T/grayval" --sigma 25 --seed 0 --quiet 2>&1)
out2=$("$E" eval --task denoise --model "$T/dn/best.safetensors" --data "$T/grayval" --sigma 25 --seed 0 --quiet --tile 40 --overlap 8 --threads 1 2>&1)
[ "$out1" = "$out2" ] && ok || bad "eval differs with tiles/threads: $out1 vs $out2"
# Winograd convolutions: the same PSNR to 0.01 dB (they differ from direct ones by float rounding).
outw=$("$E" eval --task denoise --model "$T/dn/best.safetensors" --data "$T/grayval" --sigma 25 --seed 0 --quiet --conv-algo winograd 2>&1)
p1=$(echo "$out1" | tail -1 | sed 's/.*"psnr":\([0-9.]*\).*/\1/'); pw=$(echo "$outw" | tail -1 | sed 's/.*"psnr":\([0-9.]*\).*/\1/')
awk -v a="$p1" -v b="$pw" 'BEGIN { d = a - b; exit !(a > 0 && d < 0.01 && d > -0.01) }' && ok || bad "winograd eval PSNR $pw vs direct $p1"
expect 0 "Winograd where possible" -- "$E" train --task denoise --arch dncnn --config '{"width":16,"depth":3}' --data "$T/gray" \
    --epochs 1 --steps 2 --batch 2 --patch 24 --out "$T/dnw" --threads 2 --conv-algo winograd
expect 2 "direct or winograd" -- "$E" train --task denoise --data "$T/gray" --conv-algo fft
expect 2 "direct or winograd" -- "$E" eval --task denoise --model "$T/dn/best.safetensors" --data "$T/grayval" --conv-algo fast
expect 2 "direct or winograd" -- "$E" enhance --model "$T/dn/best.safetensors" "$T/grayval/04.png" -o "$T/w.png" --conv-algo fast
expect 0 "blind\|sigma 0..50" -- "$E" train --task denoise --arch rednet --config '{"width":8,"depth":4}' --data "$T/gray" \
    --sigma-range 0,50 --epochs 1 --steps 2 --batch 2 --patch 24 --out "$T/red" --threads 2

# Super-resolution: FSRCNN x3 and EDSR x2 on RGB images (Y channel).
expect 0 "val PSNR" -- "$E" train --task sr --arch fsrcnn --scale 3 --data "$T/rgb" --val "$T/rgbval" --epochs 1 --steps 3 --batch 4 \
    --patch 16 --out "$T/sr3" --threads 2
expect 0 '"scale":3' -- "$E" eval --task sr --model "$T/sr3/best.safetensors" --data "$T/rgbval"
expect 0 "val PSNR" -- "$E" train --task sr --arch edsr --config '{"scale":2,"width":8,"blocks":2}' --scale 2 --data "$T/rgb" \
    --val "$T/rgbval" --epochs 1 --steps 2 --batch 2 --patch 16 --out "$T/sr2" --threads 2
# Fine-tuning x4 from the x2 model: all but the second upsampling convolution carry over.
expect 0 "initialised 16 of 18 tensors.*new: tail.0.2.weight, tail.0.2.bias" -- "$E" train --task sr --arch edsr \
    --config '{"scale":4,"width":8,"blocks":2}' --scale 4 --data "$T/rgb" --epochs 1 --steps 1 --batch 2 --patch 8 \
    --init "$T/sr2/last.safetensors" --out "$T/sr4" --threads 2
expect 1 "no tensor matches this fsrcnn model" -- "$E" train --task sr --arch fsrcnn --scale 2 --data "$T/rgb" \
    --init "$T/sr2/last.safetensors" --out "$T/x"
# --rescale: each image also enters at 0.9x and 0.6x (2 Set5 images of
# at least 256 px: 6 training images at x2 with 16x16 LR patches).
expect 0 "on 2 images" -- "$E" train --task sr --arch edsr --config '{"scale":2,"width":8,"blocks":1}' --scale 2 --data "$T/rgb" \
    --epochs 1 --steps 1 --batch 2 --patch 16 --out "$T/rs0" --threads 2
expect 0 "on 6 images" -- "$E" train --task sr --arch edsr --config '{"scale":2,"width":8,"blocks":1}' --scale 2 --data "$T/rgb" \
    --epochs 1 --steps 1 --batch 2 --patch 16 --rescale 0.9,0.6 --out "$T/rs" --threads 2
expect 0 "encdec.train.rescale: 0.9,0.6" -- "$E" info "$T/rs/last.safetensors"
# --stop-step cuts a run mid-epoch as --time-limit does, repeatably.
expect 0 "stopping: --stop-step 4 reached" -- "$E" train --task sr --arch edsr --config '{"scale":2,"width":8,"blocks":1}' --scale 2 \
    --data "$T/rgb" --epochs 2 --steps 3 --batch 2 --patch 16 --stop-step 4 --out "$T/st" --threads 2
expect 0 "encdec.train.step: 4" -- "$E" info "$T/st/last.safetensors"
expect 2 "--rescale takes up to 8 factors" -- "$E" train --task sr --data "$T/rgb" --rescale 0.9,1.5
expect 2 "--rescale takes up to 8 factors" -- "$E" train --task sr --data "$T/rgb" --rescale 0.9,
expect 2 "give one of them" -- "$E" train --task sr --data "$T/rgb" --init "$T/sr2/last.safetensors" --resume "$T/sr2/last.safetensors"

# Enhance: tiles smaller than the image give the untiled result: byte for
# byte with oneDNN; the reference GEMM rounds its tail columns differently
# from full tiles, so there a pixel may flip by one 8-bit level (PSNR stays
# above 80 dB, where one wrong level in a whole image is ~110 dB).
same_image() {
    cmp -s "$1" "$2" && return 0
    mkdir -p "$T/cmp_a" "$T/cmp_b"; cp "$1" "$T/cmp_a/x.png"; cp "$2" "$T/cmp_b/x.png"
    local psnr; psnr=$("$E" eval --task images --pred "$T/cmp_a" --gt "$T/cmp_b" 2>/dev/null | tail -1 | sed 's/.*"psnr":\([^,]*\),.*/\1/' | head -1)
    echo "  (tiled vs untiled: not byte-identical, PSNR $psnr dB)" >&2
    awk -v p="$psnr" 'BEGIN { exit !(p == "\"Infinity\"" || p + 0 >= 80) }'
}
# Enhance: tiles smaller than the image give the untiled result.
expect 0 "wrote" -- "$E" enhance --model "$T/dn/best.safetensors" "$T/grayval/04.png" -o "$T/t.png" --tile 64 --overlap 24
expect 0 "wrote" -- "$E" enhance --model "$T/dn/best.safetensors" "$T/grayval/04.png" -o "$T/u.png" --tile 4096
same_image "$T/t.png" "$T/u.png" && ok || bad "tiled denoising differs from untiled"
img=$(ls "$T/rgbval")
expect 0 "wrote" -- "$E" enhance --model "$T/sr3/best.safetensors" "$T/rgbval/$img" -o "$T/st.png" --tile 48 --overlap 16
expect 0 "wrote" -- "$E" enhance --model "$T/sr3/best.safetensors" "$T/rgbval/$img" -o "$T/su.png" --tile 4096
same_image "$T/st.png" "$T/su.png" && ok || bad "tiled super-resolution differs from untiled"
# The Python callable of an SR model: RGB in, RGB x3 out, as enhance (up to 8-bit rounding).
PY=${PYTHON:-/usr/bin/python3}   # Debian's, with python3-numpy from scripts/install-deps.sh
if ENCDEC_LIB=${ENCDEC_LIB:-} $PY -c "import numpy" 2>/dev/null && [ -n "${ENCDEC_LIB:-}" ]; then
    cat > "$T/sr.py" <<'PYEOF'
import sys, numpy as np, encdec as ed
m = ed.load_model(sys.argv[1])
img = ed.imread(sys.argv[2])
y = m((img.astype(np.float32) / 255).transpose(2, 0, 1)[None].copy())
assert y.shape == (1, 3, img.shape[0] * m.scale, img.shape[1] * m.scale), y.shape
q = np.floor(np.clip(y[0].transpose(1, 2, 0), 0, 1) * 255 + 0.5)
d = np.abs(q - ed.imread(sys.argv[3]).astype(np.float64))
assert d.max() <= 1 and (d > 0).mean() < 1e-3, (d.max(), (d > 0).mean())
print("python sr ok")
PYEOF
    expect 0 "python sr ok" -- env PYTHONPATH="${ED_SOURCE_DIR:-$(dirname "$0")/..}/python" $PY "$T/sr.py" "$T/sr3/best.safetensors" "$T/rgbval/$img" "$T/su.png"
    # A downsampling denoiser (drunet, multiples of 4) on an odd-sized image:
    # Python pads and crops back as enhance does.
    expect 0 "val PSNR" -- "$E" train --task denoise --arch drunet --config '{"width":4,"levels":2,"blocks":1}' --data "$T/gray" \
        --val "$T/grayval" --epochs 1 --steps 2 --batch 2 --patch 16 --out "$T/dru" --threads 2
    cat > "$T/odd.py" <<'PYEOF'
import sys, numpy as np, encdec as ed
img = ed.imread(sys.argv[2])[:37, :41]
ed.imwrite(sys.argv[3], img)
m = ed.load_model(sys.argv[1])
assert m.size_multiple == 4
y = m((img.astype(np.float32) / 255)[None, None] if img.ndim == 2 else (img.astype(np.float32) / 255).transpose(2, 0, 1)[None].copy())
assert y.shape == (1, 1, 37, 41), y.shape
np.save(sys.argv[4], np.floor(np.clip(y[0, 0], 0, 1) * 255 + 0.5))
print("python odd ok")
PYEOF
    expect 0 "python odd ok" -- env PYTHONPATH="${ED_SOURCE_DIR:-$(dirname "$0")/..}/python" $PY "$T/odd.py" "$T/dru/best.safetensors" \
        "$T/grayval/04.png" "$T/odd.png" "$T/odd.npy"
    expect 0 "wrote" -- "$E" enhance --model "$T/dru/best.safetensors" "$T/odd.png" -o "$T/odd_enh.png"
    expect 0 "same as enhance" -- env PYTHONPATH="${ED_SOURCE_DIR:-$(dirname "$0")/..}/python" $PY -c "
import sys, numpy as np, encdec as ed
a = np.load('$T/odd.npy'); b = ed.imread('$T/odd_enh.png').astype(np.float64)
b = b if b.ndim == 2 else b[..., 0]
assert a.shape == b.shape and np.abs(a - b).max() <= 1, (a.shape, b.shape, np.abs(a - b).max())
print('same as enhance')"
    # --ensemble is the mean of the model over the 8 flips and quarter turns.
    expect 0 "wrote" -- "$E" enhance --model "$T/dru/best.safetensors" "$T/grayval/04.png" -o "$T/ens.png" --ensemble --tile 4096
    expect 0 "ensemble ok" -- env PYTHONPATH="${ED_SOURCE_DIR:-$(dirname "$0")/..}/python" $PY -c "
import numpy as np, encdec as ed
m = ed.load_model('$T/dru/best.safetensors')
x = ed.imread('$T/grayval/04.png').astype(np.float32)[None, None] / 255
acc = 0
for f in (0, 1):
    for k in range(4):
        t = np.rot90(x[..., ::-1] if f else x, k, axes=(2, 3)).copy()
        y = np.rot90(m(t), -k, axes=(2, 3))
        acc = acc + (y[..., ::-1] if f else y)
q = np.floor(np.clip(acc[0, 0] / 8, 0, 1) * 255 + 0.5)
d = np.abs(q - ed.imread('$T/ens.png').astype(np.float64))
assert d.max() <= 1 and (d > 0).mean() < 1e-3, (d.max(), (d > 0).mean())
assert np.abs(m(x, ensemble=True) - acc / 8).max() < 1e-5
print('ensemble ok')"
else
    echo "python3 with numpy (or ENCDEC_LIB) not found: Python check skipped"
fi
expect 0 "architecture: fsrcnn" -- "$E" info "$T/sr3/best.safetensors"

# make demo's second half: the models of ./models on Set12 05 and Set5's
# butterfly. Bicubic x3 on the butterfly is the published 24.04 dB (Y,
# border 3), and the model's figure is the one encdec eval gives.
mkdir -p "$T/proj/models" "$T/bfly"
cp "$T/dn/best.safetensors" "$T/proj/models/denoise-gray-sigma25.safetensors"
cp "$T/sr3/best.safetensors" "$T/proj/models/sr-x3.safetensors"
ln -s "$D/sr/set5/butterfly_GT.png" "$T/bfly/"
demo=$(cd "$T/proj" && "$E" demo --data "$D" --epochs 1 --out "$T/proj/out" --threads 2 2>&1)
echo "$demo" | grep -q "Set12 05.png, gray, sigma 25: noisy 20.[0-9]* dB, encdec" && ok || bad "demo: no Set12 line: $demo"
echo "$demo" | grep -q "x3 super-resolution: bicubic 24.04 dB, encdec" && ok || bad "demo: no Set5 line with bicubic 24.04: $demo"
want=$("$E" eval --task sr --model "$T/sr3/best.safetensors" --data "$T/bfly" --scale 3 | tail -1 | sed 's/.*"psnr":\([0-9.]*\).*/\1/')
echo "$demo" | grep -q "encdec $(printf '%.2f' "$want") dB" && ok || bad "demo's x3 PSNR is not eval's $want"
[ -s "$T/proj/out/set12_denoise.png" ] && [ -s "$T/proj/out/set5_sr_x3.png" ] && ok || bad "demo pictures missing"

# Errors: exit 1 with a clear message, or 2 for usage.
expect 1 "is a 'denoise' checkpoint" -- "$E" eval --task sr --model "$T/dn/best.safetensors" --data "$T/rgbval"
expect 1 "is a 'sr' checkpoint" -- "$E" eval --task denoise --model "$T/sr3/best.safetensors" --data "$T/grayval"
expect 1 "upscales x3, not x2" -- "$E" eval --task sr --model "$T/sr3/best.safetensors" --data "$T/rgbval" --scale 2
expect 1 "3 colour channels but the model takes 1" -- "$E" enhance --model "$T/dn/best.safetensors" "$T/rgbval/$img" -o "$T/x.png"
head -c 300 "$T/dn/best.safetensors" > "$T/trunc.safetensors"
expect 1 "truncated" -- "$E" enhance --model "$T/trunc.safetensors" "$T/grayval/04.png" -o "$T/x.png"
expect 1 "truncated" -- "$E" eval --task denoise --model "$T/trunc.safetensors" --data "$T/grayval"
expect 1 "truncated" -- "$E" train --task denoise --data "$T/gray" --resume "$T/trunc.safetensors" --out "$T/x"
[ -e "$T/x.png" ] && bad "output written despite the error" || ok
expect 1 "has 1 channel but the model takes 3" -- "$E" train --task denoise --channels 3 --data "$T/gray" --epochs 1 --steps 1 --out "$T/x"
expect 2 "for --task denoise" -- "$E" train --task sr --sigma 25 --data "$T/rgb"
expect 2 "f32 or bf16" -- "$E" train --task denoise --precision f16 --data "$T/gray"
expect 2 "LO,HI" -- "$E" train --task denoise --sigma-range 50,10 --data "$T/gray"
expect 2 "--scale takes" -- "$E" eval --task sr --model "$T/sr3/best.safetensors" --data "$T/rgbval" --scale 5
expect 0 "usage" -- "$E" eval --task sr --help
expect 0 '"ensemble":true' -- "$E" eval --task denoise --model "$T/dn/best.safetensors" --data "$T/grayval" --ensemble

finish
