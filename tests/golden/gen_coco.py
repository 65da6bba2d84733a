"""Golden cases for tests/test_coco.c, from pycocotools (2.0.11, whose maskApi
has the corrected rleToBbox). Needs: pip install pycocotools.

Evaluation cases: random small datasets (images of ~40x50 and one ~120x100
so that small, medium and large areas all occur; categories with sparse
ids, one with detections only and one empty; gt as polygons (several parts
too), uncompressed RLE (crowd regions) and compressed RLE; images with no gt
or no detections; one gt with id 0 in one case (pycocotools counts its
matches as unmatched)) and their detections: jittered copies of the gt and
false positives, scores rounded to 2 decimals so that ties occur, integer
boxes so that IoUs hit the thresholds exactly, and one image with more than
100 detections. Written as COCO JSON into tests/golden/coco/, results in
three flavours (boxes only; compressed RLE only; both, where loadRes takes
the area from the box). Stats: COCOeval(gt, gt.loadRes(res), t).stats for t
in bbox and segm.

Mask cases: polygons (outside the image, negative, fractional, repeated
and collinear points, odd coordinate counts) and boxes through frPyObjects
+ decode; masks through encode/decode (all zero, all one, starting with a 1,
long runs whose string needs negative differences); merge of polygons; IoU
of masks and of boxes with crowd flags.
Run: /tmp/peers/bin/python tests/golden/gen_coco.py
"""
import json
import os

import numpy as np
import torch
from pycocotools import mask as mu
from pycocotools import _mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
import contextlib
import io

import golden_common

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "coco")
rng = np.random.default_rng(2024)


def star(cx, cy, r, n, jitter=0.35):
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * (1 + rng.uniform(-jitter, jitter, n))
    xy = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
    return [round(float(v), 2) for v in xy.reshape(-1)]


def blob(h, w, cx, cy, rx, ry):
    yy, xx = np.mgrid[0:h, 0:w]
    m = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    m &= rng.uniform(size=(h, w)) > 0.08   # ragged, many runs
    return m.astype(np.uint8)


def uncompressed(m):
    flat = np.asarray(m, dtype=np.uint8).reshape(-1, order="F")
    counts, p, c = [], 0, 0
    for v in flat:
        if v != p:
            counts.append(c)
            c, p = 0, v
        c += 1
    counts.append(c)
    return {"size": [int(m.shape[0]), int(m.shape[1])], "counts": counts}


def encode(m):
    r = mu.encode(np.asfortranarray(m.astype(np.uint8)))
    r["counts"] = r["counts"].decode()
    return r


def ann_mask(segm, h, w):
    if isinstance(segm, list):
        return mu.decode(mu.merge(mu.frPyObjects(segm, h, w)))
    if isinstance(segm["counts"], list):
        return mu.decode(mu.frPyObjects(segm, h, w))
    return mu.decode(segm)


def make_case(k, n_img, big, crowd, zero_id, many):
    cats = [{"id": c, "name": f"c{c}", "supercategory": "thing"} for c in (1, 3, 7, 12)]
    sizes = [(int(rng.integers(36, 46)), int(rng.integers(44, 56))) for _ in range(n_img)]
    if big:
        sizes.append((100, 120))
    images = [{"id": 10 * k + i + 5, "width": w, "height": h, "file_name": f"img{i}.png"}
              for i, (h, w) in enumerate(sizes)]
    anns, dets = [], []
    aid = 0 if zero_id else 1
    for i, im in enumerate(images):
        h, w = im["height"], im["width"]
        if i == 1:
            continue   # no gt here (detections only)
        n = int(rng.integers(2, 6))
        for j in range(n):
            cat = int(rng.choice([1, 3, 7]))
            kind = rng.choice(["poly", "poly", "poly2", "rle", "crle"])
            iscrowd = 0
            r = float(rng.uniform(3, 12))
            big_one = im["width"] == 120 and j == 0
            if big_one:
                r = 64.0
            cx, cy = float(rng.uniform(r * 0.5, w - r * 0.5)), float(rng.uniform(r * 0.5, h - r * 0.5))
            if big_one:
                cx, cy = 60.0, 50.0
            if big_one:
                kind = "poly"
            elif crowd and j == n - 1:
                kind, iscrowd = "rle", 1
            if kind in ("poly", "poly2"):
                segm = [star(cx, cy, r, 10 if big_one else int(rng.integers(3, 9)), 0.1 if big_one else 0.35)]
                if kind == "poly2":
                    segm.append(star(float(rng.uniform(5, w - 5)), float(rng.uniform(5, h - 5)), 3, 5))
            else:
                m = blob(h, w, cx, cy, r, r * float(rng.uniform(0.6, 1.4)))
                if m.sum() == 0:
                    m[int(cy), int(cx)] = 1
                segm = uncompressed(m) if kind == "rle" else encode(m)
            mask = ann_mask(segm, h, w)
            rle = encode(mask)
            area = float(mu.area(rle))
            bbox = [float(v) for v in mu.toBbox(rle)]
            anns.append({"id": aid, "image_id": im["id"], "category_id": cat, "segmentation": segm,
                         "area": area, "bbox": bbox, "iscrowd": iscrowd})
            aid += 1
    # detections: jittered gt and false positives
    for a in anns:
        im = next(x for x in images if x["id"] == a["image_id"])
        h, w = im["height"], im["width"]
        mask = ann_mask(a["segmentation"], h, w)
        for rep in range(int(rng.integers(0, 3))):
            dx, dy = [int(v) for v in rng.choice([-1, 0, 0, 0, 1], 2)]
            m = np.roll(np.roll(mask, dx, 1), dy, 0)
            if rng.uniform() < 0.3:
                m = m & (rng.uniform(size=m.shape) > 0.2)
            if m.sum() == 0:
                continue
            x, y, bw, bh = a["bbox"]
            box = [x + dx, y + dy, bw + int(rng.integers(-1, 2)), bh + int(rng.integers(-1, 2))]
            if rng.uniform() < 0.5:
                box = [float(round(v)) for v in box]
            else:
                box = [round(float(v + rng.uniform(-0.5, 0.5)), 2) for v in box]
            cat = a["category_id"] if rng.uniform() < 0.85 else 12
            dets.append({"image_id": im["id"], "category_id": cat, "bbox": box,
                         "segmentation": encode(m.astype(np.uint8)),
                         "score": round(float(rng.uniform(0.05, 1)), 2)})
    for im in images:
        h, w = im["height"], im["width"]
        if im is images[-1] and not big and rng.uniform() < 0.5:
            continue
        nfp = int(rng.integers(0, 4))
        if many and im is images[0]:
            nfp = 104
        for _ in range(nfp):
            bw, bh = int(rng.integers(2, 14)), int(rng.integers(2, 14))
            x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            m = np.zeros((h, w), np.uint8)
            m[y:y + bh, x:x + bw] = 1
            cat = 3 if nfp > 100 else int(rng.choice([1, 3, 7, 12]))   # > 100 in one group: cut to 100
            dets.append({"image_id": im["id"], "category_id": cat,
                         "bbox": [float(x), float(y), float(bw), float(bh)], "segmentation": encode(m),
                         "score": round(float(rng.uniform(0.05, 1)), 2)})
    order = rng.permutation(len(dets))
    dets = [dets[i] for i in order]
    return {"images": images, "categories": cats, "annotations": anns}, dets


def make_corner_case():
    """Corners the random cases rarely reach: a group with more than 100
    detections whose 100th is a true positive (and later ones are cut);
    overlapping gts of sizes around 32^2 with crowd regions, so that a
    detection sees a non-ignored and an ignored gt above the threshold;
    ellipses whose box area and mask area fall in different ranges (the
    'both' flavour takes the box's); scores with one decimal (many ties)."""
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    images = [{"id": 1, "width": 60, "height": 60}, {"id": 2, "width": 64, "height": 64}]
    anns, dets = [], []

    def add_gt(im, cat, m, crowd=0):
        segm = uncompressed(m) if crowd else encode(m)
        anns.append({"id": len(anns) + 1, "image_id": im, "category_id": cat, "segmentation": segm,
                     "area": float(m.sum()), "bbox": [float(v) for v in mu.toBbox(encode(m))], "iscrowd": crowd})

    def add_dt(im, cat, m, score, box=None):
        r = encode(m)
        box = box if box is not None else [float(v) for v in mu.toBbox(r)]
        dets.append({"image_id": im, "category_id": cat, "bbox": box, "segmentation": r, "score": score})

    def rect(h, w, x, y, bw, bh):
        m = np.zeros((h, w), np.uint8)
        m[y:y + bh, x:x + bw] = 1
        return m

    def ellipse(h, w, cx, cy, rx, ry):
        yy, xx = np.mgrid[0:h, 0:w]
        return (((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1).astype(np.uint8)

    g = [rect(60, 60, 40, 40, 12, 12), rect(60, 60, 5, 42, 10, 9), rect(60, 60, 44, 3, 9, 11)]
    for m in g:
        add_gt(1, 1, m)
    for i in range(99):
        x, y = int(rng.integers(0, 30)), int(rng.integers(0, 30))
        add_dt(1, 1, rect(60, 60, x, y, 6, 6), round(float(rng.uniform(0.5, 0.99)), 2))
    add_dt(1, 1, g[0], 0.06)   # 100th by score
    add_dt(1, 1, g[1], 0.01)   # cut by maxDets 100
    add_dt(1, 1, g[2], 0.01)
    # image 2: crowd and small/medium gts overlapping
    big = ellipse(64, 64, 30, 30, 19, 18)      # box ~1400, mask ~1070
    mid = ellipse(64, 64, 33, 32, 17, 17)      # box 35x35 = 1225, mask ~ 900
    add_gt(2, 2, big)
    add_gt(2, 2, mid)
    crowd = rect(64, 64, 20, 20, 30, 30)
    add_gt(2, 2, crowd, 1)
    add_gt(2, 1, ellipse(64, 64, 12, 50, 8, 7))
    add_gt(2, 1, rect(64, 64, 40, 45, 20, 16), 1)
    for rep in range(14):
        cx, cy = 31 + float(rng.uniform(-3, 3)), 31 + float(rng.uniform(-3, 3))
        r = float(rng.uniform(14, 21))
        m = ellipse(64, 64, cx, cy, r, r * float(rng.uniform(0.85, 1.15)))
        add_dt(2, 2, m, round(float(rng.uniform(0.1, 1)), 1))
    for cx, cy in ((17, 17), (46, 14)):   # box area medium, mask area small: unmatched
        add_dt(2, 2, ellipse(64, 64, cx, cy, 17, 17) * (ellipse(64, 64, 31, 31, 19, 19) == 0), 0.9)
    for rep in range(6):
        m = ellipse(64, 64, 12 + float(rng.uniform(-2, 2)), 50 + float(rng.uniform(-2, 2)), 8, 7)
        add_dt(2, 1, m, round(float(rng.uniform(0.1, 1)), 1))
        x, y = int(rng.integers(36, 50)), int(rng.integers(40, 52))
        add_dt(2, 1, rect(64, 64, x, y, int(rng.integers(4, 14)), int(rng.integers(4, 12))), round(float(rng.uniform(0.1, 1)), 1))
    order = rng.permutation(len(dets))
    return {"images": images, "categories": cats, "annotations": anns}, [dets[i] for i in order]


def evaluate(gt_path, res, iou_type):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dt = gt.loadRes(res)
        e = COCOeval(gt, dt, iou_type)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return torch.tensor(np.array(e.stats, dtype=np.float64))


def eval_cases():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    specs = [dict(n_img=3, big=False, crowd=True, zero_id=False, many=False),
             dict(n_img=4, big=True, crowd=True, zero_id=False, many=False),
             dict(n_img=3, big=True, crowd=False, zero_id=True, many=False),
             dict(n_img=5, big=False, crowd=True, zero_id=False, many=False)]
    for k, spec in enumerate(specs + [None]):
        gt, dets = make_case(k, **spec) if spec else make_corner_case()
        gt_name = f"case{k}_gt.json"
        with open(os.path.join(OUT, gt_name), "w") as f:
            json.dump(gt, f, separators=(",", ":"))
        flavours = {
            "box": [{kk: d[kk] for kk in ("image_id", "category_id", "bbox", "score")} for d in dets],
            "rle": [{kk: d[kk] for kk in ("image_id", "category_id", "segmentation", "score")} for d in dets],
            "both": dets,
        }
        for fl, res in flavours.items():
            if fl == "both" and k % 2 and spec:
                continue   # keep the files small
            name = f"case{k}_res_{fl}.json"
            with open(os.path.join(OUT, name), "w") as f:
                json.dump(res, f, separators=(",", ":"))
            tensors = {t: evaluate(os.path.join(OUT, gt_name), os.path.join(OUT, name), t) for t in ("bbox", "segm")}
            cases.append(({"kind": "eval", "gt": gt_name, "res": name}, tensors))
            print(k, fl, [round(float(v), 4) for v in tensors["bbox"]], [round(float(v), 4) for v in tensors["segm"]])
    return cases


def col_major(m):
    return torch.from_numpy(np.asarray(m, dtype=np.uint8).reshape(-1, order="F").copy())


def mask_cases():
    cases = []
    polys = [
        (20, 25, [2.3, 3.1, 17.8, 4.2, 12.5, 15.9]),
        (20, 25, [-5.0, -3.0, 30.0, 2.0, 28.0, 30.0, 1.0, 18.0]),
        (16, 16, [0.0, 0.0, 15.0, 0.0, 15.0, 15.0, 0.0, 15.0]),
        (16, 16, [0.5, 0.5, 0.5, 0.5, 10.5, 0.5, 10.5, 9.5, 10.5, 9.5, 0.5, 9.5]),   # repeated points
        (16, 16, [1.0, 1.0, 5.0, 5.0, 9.0, 9.0, 1.0, 12.0]),                         # collinear
        (12, 18, [3.3, 2.2, 14.9, 5.5, 8.0, 11.7, 2.0]),                             # odd count
        (30, 40, [-0.24, 3.0, 39.9, -0.7, 38.2, 29.99, 5.5, 27.1, 20.0, 14.0]),
        (9, 7, [3.0, 4.0, 3.2, 4.1, 3.1, 4.3]),                                      # tiny
        (10, 10, [100.0, 100.0, 120.0, 100.0, 110.0, 130.0]),                        # outside
    ]
    for _ in range(8):
        h, w = int(rng.integers(8, 40)), int(rng.integers(8, 40))
        polys.append((h, w, star(w / 2, h / 2, min(h, w) * 0.45, int(rng.integers(3, 12)), 0.6)))
    for h, w, p in polys:
        r = mu.frPyObjects([p], h, w)[0]
        cases.append(({"kind": "poly", "h": h, "w": w, "string": r["counts"].decode()},
                      {"xy": torch.tensor(p, dtype=torch.float64), "mask": col_major(mu.decode(r)),
                       "area": torch.tensor([float(mu.area(r))], dtype=torch.float64),
                       "bbox": torch.tensor(mu.toBbox(r), dtype=torch.float64)}))
    for h, w, b in [(20, 25, [2.5, 3.5, 10.2, 7.7]), (20, 25, [-3.0, 4.0, 40.0, 9.0]), (12, 12, [4.0, 4.0, 0.0, 3.0])]:
        r = _mask.frBbox(np.array([b], dtype=np.float64), h, w)[0]
        cases.append(({"kind": "box", "h": h, "w": w, "string": r["counts"].decode()},
                      {"xy": torch.tensor(b, dtype=torch.float64), "mask": col_major(mu.decode(r))}))
    masks = [np.zeros((7, 9), np.uint8), np.ones((7, 9), np.uint8), (rng.uniform(size=(13, 11)) > 0.5).astype(np.uint8),
             np.pad(np.ones((110, 80), np.uint8), ((12, 8), (5, 15))),
             (rng.uniform(size=(60, 50)) > 0.97).astype(np.uint8)]
    m = np.zeros((40, 30), np.uint8)
    m[0, 0] = 1
    m[:, 10:12] = 1
    m[5:39, 20] = 1
    masks.append(m)
    for m in masks:
        r = mu.encode(np.asfortranarray(m))
        cases.append(({"kind": "rle", "h": m.shape[0], "w": m.shape[1], "string": r["counts"].decode()},
                      {"mask": col_major(m), "area": torch.tensor([float(mu.area(r))], dtype=torch.float64),
                       "bbox": torch.tensor(mu.toBbox(r), dtype=torch.float64)}))
    # merge of polygons
    for _ in range(3):
        h, w = int(rng.integers(15, 40)), int(rng.integers(15, 40))
        ps = [star(float(rng.uniform(0, w)), float(rng.uniform(0, h)), float(rng.uniform(3, 10)), 6) for _ in range(3)]
        r = mu.merge(mu.frPyObjects(ps, h, w))
        cases.append(({"kind": "merge", "h": h, "w": w, "polys": ps, "string": r["counts"].decode()},
                      {"mask": col_major(mu.decode(r))}))
    # IoU of masks and boxes, crowd flags
    for _ in range(3):
        h, w = int(rng.integers(20, 40)), int(rng.integers(20, 40))
        dm = [blob(h, w, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(3, 12), rng.uniform(3, 12)) for _ in range(4)]
        gm = [blob(h, w, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(3, 12), rng.uniform(3, 12)) for _ in range(3)]
        dm.append(gm[0].copy())
        dm.append(np.zeros((h, w), np.uint8))
        crowd = [0, 1, 0]
        dr = [mu.encode(np.asfortranarray(m)) for m in dm]
        gr = [mu.encode(np.asfortranarray(m)) for m in gm]
        iou = np.asarray(mu.iou(dr, gr, crowd), dtype=np.float64)
        db = np.array([[rng.integers(0, 20), rng.integers(0, 20), rng.integers(1, 15), rng.integers(1, 15)]
                       for _ in range(5)], dtype=np.float64) + rng.uniform(0, 1, (5, 4)).round(2)
        gb = np.array([[rng.integers(0, 20), rng.integers(0, 20), rng.integers(1, 15), rng.integers(1, 15)]
                       for _ in range(3)], dtype=np.float64)
        db[0] = gb[1]
        biou = np.asarray(mu.iou(db, gb, crowd), dtype=np.float64)
        cases.append(({"kind": "iou", "h": h, "w": w},
                      {"dt": torch.stack([col_major(m) for m in dm]), "gt": torch.stack([col_major(m) for m in gm]),
                       "crowd": torch.tensor(crowd, dtype=torch.uint8), "iou": torch.from_numpy(iou),
                       "dt_box": torch.from_numpy(db), "gt_box": torch.from_numpy(gb), "box_iou": torch.from_numpy(biou)}))
    return cases


if __name__ == "__main__":
    from importlib.metadata import version
    print("pycocotools", version("pycocotools"))
    golden_common.write("coco", eval_cases() + mask_cases())
