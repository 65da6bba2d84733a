"""Writing golden files for the C tests.

Each tests/golden/gen_<family>.py builds cases with torch and calls
write(name, cases); make_golden.py runs them all. Rerun with torch
installed (any 2.x, CPU):  python3 tests/golden/make_golden.py

A golden file is safetensors: case k's tensors are named "<k>.<what>" and its
arguments are the JSON object in metadata key "<k>"; metadata "cases" holds
the count and "torch" the version that wrote it. The C side reads them with
tests/check.h (golden_open, golden_tensor, golden_args)."""
import json
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))

_DT = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8"}


def write(name, cases):
    """cases: list of (args: dict, tensors: dict[str, torch.Tensor])."""
    header, blobs, off = {}, [], 0
    meta = {"cases": str(len(cases)), "torch": torch.__version__}
    for k, (args, tensors) in enumerate(cases):
        meta[str(k)] = json.dumps(args, sort_keys=True)
        for what, t in tensors.items():
            t = t.detach().contiguous().cpu()
            b = t.numpy().tobytes()
            header[f"{k}.{what}"] = {"dtype": _DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
            blobs.append(b)
            off += len(b)
    header["__metadata__"] = meta
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    path = os.path.join(HERE, name + ".safetensors")
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)
    print(f"{path}: {len(cases)} cases, {off} bytes")


def seeded(seed):
    g = torch.Generator().manual_seed(seed)
    return g
