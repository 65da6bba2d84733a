#!/bin/bash
# encdec eval on small files: index PNGs, image pairs and COCO JSON whose
# metrics were computed with numpy, skimage 0.26 and pycocotools 2.0.11 when
# this test was written. The PNGs are embedded below (base64); the COCO
# files are tests/golden/coco/. Checks the numbers in eval's closing JSON
# line, that the line is strict JSON (no bare inf or NaN), and the errors
# users see (exit 1 for bad input, named; 2 for bad usage). Run by ctest
# with $ENCDEC and $ED_SOURCE_DIR set.
set -u
E=${ENCDEC:?ENCDEC must name the encdec binary}
S=${ED_SOURCE_DIR:?ED_SOURCE_DIR must name the source tree}
COCO=$S/tests/golden/coco
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
# field NAME: the value of "NAME" in the last line of $OUT (numbers, strings, null).
field() { tail -n 1 <<<"$OUT" | grep -o "\"$1\":[^,}]*" | head -n 1 | cut -d: -f2- | tr -d '"'; }
# near NAME WANT: field NAME within 1e-6 (relative) of WANT.
near() {
    local got; got=$(field "$1")
    if awk -v g="$got" -v w="$2" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(g != "" && d <= 1e-6 * (w < 0 ? -w : w) + 1e-9) }'
    then ok; else bad "$1 is '$got', wanted $2: $(tail -n 1 <<<"$OUT")"; fi
}
is() { local got; got=$(field "$1"); [ "$got" = "$2" ] && ok || bad "$1 is '$got', wanted '$2': $(tail -n 1 <<<"$OUT")"; }
# The closing line must be strict JSON (Python's json would take bare Infinity/NaN; refuse them).
strict_json() {
    [ -x /usr/bin/python3 ] || return 0
    tail -n 1 <<<"$OUT" | /usr/bin/python3 -c 'import json, sys
def no(c): raise ValueError("bare " + c)
json.loads(sys.stdin.read(), parse_constant=no)' && ok || bad "last line is not strict JSON: $(tail -n 1 <<<"$OUT")"
}
put() { base64 -d <<<"$2" > "$1"; }

# ---- fixtures -------------------------------------------------------------------
# Label maps, 6 x 5, classes 0..2 and 3 = void. Over both images the confusion
# matrix (rows gt, void left out) is [[15,3,0],[0,17,0],[0,2,15]].
SEG_GT_A=iVBORw0KGgoAAAANSUhEUgAAAAYAAAAFCAAAAABDM8I6AAAAHElEQVR42l3HsQEAAAiDMCj//+xutkRCTJrQ/DsDWAAv+xIg2QAAAABJRU5ErkJggg==
SEG_PR_A=iVBORw0KGgoAAAANSUhEUgAAAAYAAAAFCAAAAABDM8I6AAAAIElEQVR42i3HoQEAAAjDsHb8f/MQICKi0kI8RJhQwm8BSWsDFLdrgaAAAAAASUVORK5CYII=
SEG_GT_B=iVBORw0KGgoAAAANSUhEUgAAAAYAAAAFCAAAAABDM8I6AAAAE0lEQVR42mNgYGRCIAYIgwFFEAACLgAfsL7CNwAAAABJRU5ErkJggg==
SEG_PR_B=iVBORw0KGgoAAAANSUhEUgAAAAYAAAAFCAAAAABDM8I6AAAAGklEQVR42mNgYGRCIAYIgwHCZWRkYGBgYAAAAiQAG/GjFH4AAAAASUVORK5CYII=
# Image pairs: gray 14 x 16 and RGB 13 x 14.
IQ_GT_G=iVBORw0KGgoAAAANSUhEUgAAAA4AAAAQCAAAAAAD/xHmAAAA+0lEQVR42gHwAA//AUAYPeIHLNH2G8BlCq9UA5fOI/kOJPkPJPrP5TrQAyc70Ob7Eeb8Eef8Eif9BB+lT/QZveMI9tX39yLtBPP5/wULEfoOI/v9IrvsBMdN0wD+5e//9/0DCQ8BBBshAgarUPUav+QJBeP4BO/1+wcHDQgZHwkPMQr+BEPI7RJb3AEN8/n/BQsEBBcdEBivYgesUfabE+UKBOvx+f0DiQ0ym/wnLRgQBL/a/+9X7hO47wL7AQeNBBMZBSWr9Bk+IAgt0vdhBOftC/n/BQsR+g6jWP2iBDvsEbZbAKXl7//3/QMJAa3yF7zhBivQ9Ro/5AkuNdltcCjiFGYAAAAASUVORK5CYII=
IQ_PR_G=iVBORw0KGgoAAAANSUhEUgAAAA4AAAAQCAAAAAAD/xHmAAAA+0lEQVR42gHwAA//AQQlSu8UOd4DKM35F7xhA7bzSB4z0OL3DeL0Cl/1A+sjuc7kNgshNgyo+hDlBFy3aAEmUvAVOt8YHiQXAwm9E+j+ECU7UCbCFKq/BASK6A0cevwh++tANSD/BN/l7v53dgInzA6b1uAFBCwy9Bn80QgE4/doQeYLBAeN+h9ECA4qAoQiCuwRAcTbACXK9hS5XgOoTfIXAxHL4fbM3vNJ3nsNIvgNAvwCCA6UISetszI4PkTKAUbtEjfcASZL8Jw63wQpA0cPJDoPrP4T6TvQZjvRAzT/FapAUuc9Eq/BFuzBAbX/JMnumjjdAidM8RY7v3NlpEf9jmsAAAAASUVORK5CYII=
IQ_GT_RGB=iVBORw0KGgoAAAANSUhEUgAAAA0AAAAOCAIAAAB7HQGFAAAAF0lEQVR42mNkMErhJQIwsRMHRtUNb3UAVWMQY93nmnkAAAAASUVORK5CYII=
IQ_PR_RGB=iVBORw0KGgoAAAANSUhEUgAAAA0AAAAOCAIAAAB7HQGFAAAAhklEQVR42oWPWwrCMBQFk4upj2oHP6J7cF3u/Yga6BL8CLQ12uT8DQzcO97d7iHmpZhiitO+0Bx5QohpS9zAaENDOoBHnVUl4I2cwKqSUMxoVQmxz2C0O6CTtaWjGGl2iCc6r3bsZrzC6X/HAJcZt6sdDl7Fnd+OAB71S2lQ2dGDR6F45gEfxp55XzgeTasAAAAASUVORK5CYII=

mkdir -p "$T/seg/gt" "$T/seg/pred" "$T/seg/same" "$T/iq/gt" "$T/iq/pred"
put "$T/seg/gt/a.png" $SEG_GT_A;   put "$T/seg/pred/a.png" $SEG_PR_A;  put "$T/seg/same/a.png" $SEG_GT_A
put "$T/seg/gt/b.png" $SEG_GT_B;   put "$T/seg/pred/b.png" $SEG_PR_B;  put "$T/seg/same/b.png" $SEG_GT_B
put "$T/iq/gt/g.png" $IQ_GT_G;     put "$T/iq/pred/g.png" $IQ_PR_G
put "$T/iq/gt/rgb.png" $IQ_GT_RGB; put "$T/iq/pred/rgb.png" $IQ_PR_RGB

# ---- semseg -----------------------------------------------------------------------
expect 0 "mean IoU" -- "$E" eval --task semseg --pred "$T/seg/same" --gt "$T/seg/gt" --num-classes 3 --ignore-index 3
is miou 1; is global_accuracy 1; is class_accuracy 1; is pixels 52; is images 2; strict_json

expect 0 "Building" -- "$E" eval --task semseg --pred "$T/seg/pred" --gt "$T/seg/gt" --num-classes 3 \
    --ignore-index 3 --names Sky,Building,Road --report "$T/rep/seg.html"
near miou 0.8294711824123588; near global_accuracy 0.9038461538461539; near class_accuracy 0.9052287581699346
is pixels 52; is ignore_index 3; strict_json
tail -n 1 <<<"$OUT" | grep -q '"iou":\[0.833333333333,0.772727272727,0.882352941176\]' && ok || bad "iou list: $OUT"
tail -n 1 <<<"$OUT" | grep -q '"classes":\["Sky","Building","Road"\]' && ok || bad "class names: $OUT"
[ -s "$T/rep/seg.html" ] && grep -q "Building" "$T/rep/seg.html" && ok || bad "no report"
[ -s "$T/rep/seg_confusion.png" ] && ok || bad "no heat map"
ls "$T/rep" | grep -q '\.tmp' && bad "temporary file left behind" || ok

# A class absent from both gt and prediction: NaN IoU, written as null, left out of the mean.
expect 0 "n/a" -- "$E" eval --task semseg --pred "$T/seg/same" --gt "$T/seg/gt" --num-classes 5 --ignore-index 3
is miou 1; strict_json
tail -n 1 <<<"$OUT" | grep -q '"iou":\[1,1,1,null,null\]' && ok || bad "null for absent classes: $OUT"

expect 1 "ground-truth label 3 at (y 0, x 1).*is outside 0..2.*gt/a.png" -- \
    "$E" eval --task semseg --pred "$T/seg/pred" --gt "$T/seg/gt" --num-classes 3
mkdir -p "$T/seg/bad"; cp "$T/seg/gt/a.png" "$T/seg/bad/a.png"
mkdir -p "$T/seg/gt2"; cp "$T/seg/pred/a.png" "$T/seg/gt2/a.png"
expect 1 "predicted label 3 .*bad/a.png" -- "$E" eval --task semseg --pred "$T/seg/bad" --gt "$T/seg/gt2" --num-classes 3
rm "$T/seg/same/b.png"
expect 1 "no prediction for .*gt/b.png" -- "$E" eval --task semseg --pred "$T/seg/same" --gt "$T/seg/gt" --num-classes 4
cp "$S/tests/golden/images/gray8.png" "$T/seg/same/b.png"
expect 1 "size mismatch.*same/b.png" -- "$E" eval --task semseg --pred "$T/seg/same" --gt "$T/seg/gt" --num-classes 256
mkdir -p "$T/seg/rgb"; cp "$S/tests/golden/images/rgba8.png" "$T/seg/rgb/x.png"
expect 1 "not a label map" -- "$E" eval --task semseg --pred "$T/seg/rgb" --gt "$T/seg/rgb" --num-classes 4
expect 1 "cannot open folder" -- "$E" eval --task semseg --pred "$T/seg/pred" --gt "$T/nowhere" --num-classes 3

# ---- images -------------------------------------------------------------------------
# skimage: gray 17.24286365117956 dB / SSIM 0.6615671720767217, RGB 27.22994217961988 / 0.91838755677455.
expect 0 "mean" -- "$E" eval --task images --pred "$T/iq/pred" --gt "$T/iq/gt"
near psnr 22.236402915399722; near ssim 0.7899773644256358; is y_channel false; strict_json
# --y-channel: luma of the RGB pair, the gray pair as it is (BasicSR); both cropped by 1.
expect 0 "Y channel" -- "$E" eval --task images --pred "$T/iq/pred" --gt "$T/iq/gt" --y-channel --crop-border 1
near psnr 24.850120448944452; near ssim 0.7961214448280745; is crop_border 1; strict_json
# Identical images: PSNR is infinite, written "Infinity" in JSON and "inf" in the table.
expect 0 "inf" -- "$E" eval --task images --pred "$T/iq/gt" --gt "$T/iq/gt"
is psnr Infinity; is ssim 1; strict_json
mkdir -p "$T/iq/p2"; cp "$T/iq/pred/g.png" "$T/iq/p2/g.png"
expect 1 "no prediction for .*rgb.png" -- "$E" eval --task images --pred "$T/iq/p2" --gt "$T/iq/gt"
cp "$T/iq/pred/g.png" "$T/iq/p2/rgb.png"
expect 1 "size mismatch" -- "$E" eval --task images --pred "$T/iq/p2" --gt "$T/iq/gt"
mkdir -p "$T/iq/small"; cp "$S/tests/golden/images/gray8.png" "$T/iq/small/x.png"
expect 1 "small/x.png: ssim: the 11 x 11 window" -- "$E" eval --task images --pred "$T/iq/small" --gt "$T/iq/small"
mkdir -p "$T/iq/ch"; cp "$S/tests/golden/images/rgb8_interlaced.png" "$T/iq/ch/x.png"
mkdir -p "$T/iq/ch2"; cp "$S/tests/golden/images/rgb8_interlaced.png" "$T/iq/ch2/x.png"
expect 0 "" -- "$E" eval --task images --pred "$T/iq/ch" --gt "$T/iq/ch2" --y-channel
is psnr Infinity

# ---- coco ---------------------------------------------------------------------------
expect 0 "Average Precision  (AP) @\[ IoU=0.50:0.95 | area=   all | maxDets=100 \] = 0.223" -- \
    "$E" eval --task coco --gt "$COCO/case0_gt.json" --results "$COCO/case0_res_both.json" --iou-type segm
near AP 0.22277227722772278; near AP50 0.47194719471947194; near AR1 0.15; is APm -1; strict_json
expect 0 "maxDets=  1" -- "$E" eval --task coco --gt "$COCO/case2_gt.json" --results "$COCO/case2_res_box.json" --iou-type bbox
near AP 0.24672324375294669; near AP75 0.32288228822882287; near APm 0.9999999999999998; near ARs 0.3222222222222222
is iou_type bbox; strict_json
expect 1 "encdec: error:.*nosuch.json" -- "$E" eval --task coco --gt "$COCO/case0_gt.json" --results "$T/nosuch.json"

# ---- usage --------------------------------------------------------------------------
expect 0 "usage" -- "$E" eval --help
expect 2 "--task is required" -- "$E" eval --gt "$T"
expect 2 "unknown task" -- "$E" eval --task frobnicate --gt "$T"
expect 2 "runs a model: --model M --data DIR" -- "$E" eval --task denoise --model m.safetensors --gt "$T"
expect 2 "--data is required" -- "$E" eval --task sr --model m.safetensors
expect 2 "needs --num-classes" -- "$E" eval --task semseg --pred "$T/seg/pred" --gt "$T/seg/gt"
expect 2 "1..256" -- "$E" eval --task semseg --pred "$T/seg/pred" --gt "$T/seg/gt" --num-classes 0
expect 2 "2 names for 3 classes" -- "$E" eval --task semseg --pred "$T/seg/pred" --gt "$T/seg/gt" --num-classes 3 --names a,b
expect 2 "--pred is required" -- "$E" eval --task images --gt "$T/iq/gt"
expect 2 "are for --task images" -- "$E" eval --task semseg --pred "$T/seg/pred" --gt "$T/seg/gt" --num-classes 3 --y-channel
expect 2 "needs --results" -- "$E" eval --task coco --gt "$COCO/case0_gt.json"
expect 2 "segm or bbox" -- "$E" eval --task coco --gt "$COCO/case0_gt.json" --results "$COCO/case0_res_box.json" --iou-type keypoints
expect 2 "unknown option" -- "$E" eval --task images --bogus
expect 2 "needs a value" -- "$E" eval --task images --gt

# --crf: each prediction refined over its image. A CamVid frame when the data
# is there (a perfect prediction keeps over 90% of its pixels; thin classes may erode), errors always.
if [ -d "${ED_DATA_DIR:-}/camvid/val" ]; then
    f=0016E5_07959.png
    mkdir -p "$T/crf/gt" "$T/crf/img"
    cp "$ED_DATA_DIR/camvid/valannot/$f" "$T/crf/gt/"
    cp "$ED_DATA_DIR/camvid/val/$f" "$T/crf/img/"
    out=$("$E" eval --task semseg --pred "$T/crf/gt" --gt "$T/crf/gt" --num-classes 12 --crf --images "$T/crf/img" --iters 2 2>&1)
    if grep -q '"crf":{"miou":[0-9.]*,"global_accuracy":0\.9' <<<"$(tail -1 <<<"$out")"; then ok; else bad "crf eval: $(tail -1 <<<"$out" | cut -c1-300)"; fi
    mkdir -p "$T/crf/noimg"
    expect 1 "needs the image of each prediction" -- "$E" eval --task semseg --pred "$T/crf/gt" --gt "$T/crf/gt" --num-classes 12 --crf --images "$T/crf/noimg"
fi
expect 2 "needs --images" -- "$E" eval --task semseg --pred "$T/seg/same" --gt "$T/seg/gt" --num-classes 3 --crf
expect 2 "need --crf" -- "$E" eval --task semseg --pred "$T/seg/same" --gt "$T/seg/gt" --num-classes 3 --srgb 5
expect 2 "for --task semseg" -- "$E" eval --task images --pred "$T/seg/same" --gt "$T/seg/gt" --crf
expect 2 "(0, 1)" -- "$E" eval --task semseg --pred "$T/seg/same" --gt "$T/seg/gt" --num-classes 3 --crf --images "$T" --gt-prob 1.5

finish
