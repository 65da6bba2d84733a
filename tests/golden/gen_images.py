"""Odd PNG and JPEG files for tests/test_image.c, with the pixels they decode to.

Writes tests/golden/images/*.{png,jpg} and tests/golden/images_expected.safetensors.
PNGs are written by the small encoder below (so every bit depth, colour type,
filter type and Adam7 interlacing is under control); their expected pixels are
the arrays they were made from, and PIL's decode is checked to agree wherever PIL
can represent the image. JPEGs are written by PIL (libjpeg-turbo) and their
expected pixels are PIL's decode (islow IDCT, fancy upsampling).

Case k's args: file, flags (1 = ED_IMAGE_KEEP_PALETTE), then either the expected
channels / bit_depth / indexed with tensors "pixels" (H, W, C; uint8, or int32
holding uint16) and "palette" (n, 4), or status ("format", "unsupported") and msg,
a substring of the error. Run: /tmp/peers/bin/python tests/golden/gen_images.py
"""
import io
import os
import struct
import zlib

import numpy as np
import torch
from PIL import Image, features

import golden_common

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "images")
rng = np.random.default_rng(20240605)

# ---- a small PNG encoder ------------------------------------------------------------


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_row(row, depth):
    """row: (w, ch) ints -> bytes of one scanline (without the filter byte)."""
    flat = row.reshape(-1)
    if depth == 16:
        return flat.astype(">u2").tobytes()
    if depth == 8:
        return flat.astype(np.uint8).tobytes()
    per = 8 // depth
    out = bytearray((len(flat) * depth + 7) // 8)
    for i, v in enumerate(flat):
        out[i // per] |= int(v) << (8 - depth * (i % per + 1))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filter_rows(rows, bpp):
    """Filters each scanline with type y % 5, so all five types are decoded."""
    out, prev = bytearray(), bytes(len(rows[0]))
    for y, cur in enumerate(rows):
        f = y % 5
        line = bytearray([f])
        for i, x in enumerate(cur):
            a = cur[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][f]
            line.append((x - pred) & 0xFF)
        out += line
        prev = cur
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]


def png_bytes(samples, depth, color_type, interlace=False, plte=None, trns=None):
    """samples: (h, w, ch) integer array of the stored samples (indices for palettes)."""
    h, w, ch = samples.shape
    bpp = max(1, ch * depth // 8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    raw = b""
    for sy, sx, dy, dx in passes:
        sub = samples[sy::dy, sx::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        raw += filter_rows([pack_row(r, depth) for r in sub], bpp)
    z = zlib.compress(raw, 9)
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))
    if plte is not None:
        body += chunk(b"PLTE", bytes(np.asarray(plte, np.uint8).reshape(-1)))
    if trns is not None:
        body += chunk(b"tRNS", trns)
    half = len(z) // 2   # two IDAT chunks: the decoder must join them
    body += chunk(b"IDAT", z[:half]) + chunk(b"IDAT", z[half:]) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


# ---- cases --------------------------------------------------------------------------
cases = []


def save(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def ok_case(name, pixels, flags=0, indexed=0, palette=None, bit_depth=8):
    pixels = np.ascontiguousarray(pixels)
    t = {"pixels": torch.from_numpy(pixels.astype(np.int32) if bit_depth == 16 else pixels.astype(np.uint8))}
    if palette is not None:
        t["palette"] = torch.from_numpy(np.ascontiguousarray(palette, dtype=np.uint8))
    cases.append(({"file": name, "flags": flags, "channels": int(pixels.shape[2]), "bit_depth": bit_depth,
                   "indexed": indexed}, t))


def err_case(name, status, msg, flags=0):
    cases.append(({"file": name, "flags": flags, "status": status, "msg": msg}, {}))


def pil(name, mode=None):
    im = Image.open(os.path.join(OUT, name))
    im.load()
    if mode:
        im = im.convert(mode)
    a = np.asarray(im)
    return a[:, :, None] if a.ndim == 2 else a


def agree(name, expected, mode=None):
    got = pil(name, mode)
    assert got.shape == expected.shape and (got.astype(np.int64) == expected.astype(np.int64)).all(), name


def png_cases():
    # 1, 2, 4-bit gray: decoders scale to 8 bits (x255, x85, x17), as PIL does.
    for depth, scale, (h, w) in [(1, 255, (7, 13)), (2, 85, (9, 11)), (4, 17, (5, 19))]:
        s = rng.integers(0, 1 << depth, (h, w, 1))
        name = f"gray{depth}.png"
        save(name, png_bytes(s, depth, 0))
        agree(name, s * scale, "L")
        ok_case(name, s * scale)
    s = rng.integers(0, 16, (11, 9, 1))   # 4-bit gray, interlaced: packing per pass
    save("gray4_interlaced.png", png_bytes(s, 4, 0, interlace=True))
    agree("gray4_interlaced.png", s * 17, "L")
    ok_case("gray4_interlaced.png", s * 17)

    s = rng.integers(0, 256, (10, 12, 1))
    save("gray8.png", png_bytes(s, 8, 0))
    agree("gray8.png", s)
    ok_case("gray8.png", s)

    s = rng.integers(0, 65536, (6, 7, 1))
    save("gray16.png", png_bytes(s, 16, 0))
    agree("gray16.png", s)            # PIL: mode I;16
    ok_case("gray16.png", s, bit_depth=16)

    s = rng.integers(0, 65536, (5, 9, 3))
    save("rgb16.png", png_bytes(s, 16, 2))   # PIL cannot hold 16-bit RGB: source only
    ok_case("rgb16.png", s, bit_depth=16)

    s = rng.integers(0, 65536, (4, 6, 4))
    save("rgba16_interlaced.png", png_bytes(s, 16, 6, interlace=True))
    ok_case("rgba16_interlaced.png", s, bit_depth=16)

    s = rng.integers(0, 65536, (3, 5, 2))
    save("ga16.png", png_bytes(s, 16, 4))
    ok_case("ga16.png", s, bit_depth=16)

    s = rng.integers(0, 256, (8, 6, 2))
    save("ga8.png", png_bytes(s, 8, 4))
    agree("ga8.png", s)
    ok_case("ga8.png", s)

    s = rng.integers(0, 256, (13, 19, 3))
    save("rgb8_interlaced.png", png_bytes(s, 8, 2, interlace=True))
    agree("rgb8_interlaced.png", s)
    ok_case("rgb8_interlaced.png", s)

    s = rng.integers(0, 256, (9, 10, 4))
    save("rgba8.png", png_bytes(s, 8, 6))
    agree("rgba8.png", s)
    ok_case("rgba8.png", s)

    # RGB with a tRNS colour key: alpha 0 where the colour matches, else 255.
    s = rng.integers(0, 4, (7, 8, 3)) * 60
    key = s[0, 0]
    save("rgb8_trns.png", png_bytes(s, 8, 2, trns=struct.pack(">HHH", *map(int, key))))
    alpha = np.where((s == key).all(axis=2, keepdims=True), 0, 255)
    exp = np.concatenate([s, alpha], axis=2)
    agree("rgb8_trns.png", exp, "RGBA")
    ok_case("rgb8_trns.png", exp)

    # 8-bit palette of 20 colours, tRNS for the first 5: RGBA, or indices with the flag.
    pal = rng.integers(0, 256, (20, 3))
    trns = rng.integers(0, 256, 5)
    idx = rng.integers(0, 20, (12, 7, 1))
    save("pal8_trns.png", png_bytes(idx, 8, 3, plte=pal, trns=bytes(trns.astype(np.uint8))))
    alpha_tab = np.concatenate([trns, np.full(15, 255)])
    pal4 = np.concatenate([pal, alpha_tab[:, None]], axis=1)
    exp = pal4[idx[:, :, 0]]
    agree("pal8_trns.png", exp, "RGBA")
    ok_case("pal8_trns.png", exp)
    agree("pal8_trns.png", idx)          # PIL mode P: the indices
    ok_case("pal8_trns.png", idx, flags=1, indexed=1, palette=pal4)

    # 2-bit palette, interlaced, no tRNS: RGB; the flag keeps the indices unscaled.
    pal = rng.integers(0, 256, (4, 3))
    idx = rng.integers(0, 4, (10, 13, 1))
    save("pal2_interlaced.png", png_bytes(idx, 2, 3, interlace=True, plte=pal))
    exp = pal[idx[:, :, 0]]
    agree("pal2_interlaced.png", exp, "RGB")
    ok_case("pal2_interlaced.png", exp)
    ok_case("pal2_interlaced.png", idx, flags=1, indexed=1,
            palette=np.concatenate([pal, np.full((4, 1), 255)], axis=1))

    # Broken files.
    good = png_bytes(rng.integers(0, 256, (16, 16, 3)), 8, 2)
    save("truncated.png", good[: len(good) * 2 // 3])
    err_case("truncated.png", "format", "truncated")
    bad = bytearray(good)
    first_idat = 8 + 25          # signature, IHDR chunk
    n = struct.unpack(">I", good[first_idat:first_idat + 4])[0]
    bad[first_idat + 8 + n] ^= 0x55   # the first IDAT's CRC itself: only the CRC check can fail
    save("badcrc.png", bytes(bad))
    err_case("badcrc.png", "format", "CRC")
    save("badsig.png", b"GIF89a this is not a PNG at all\n")
    err_case("badsig.png", "format", "not a PNG or JPEG")
    ihdr = lambda w, h: b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    save("zero_width.png", ihdr(0, 8) + chunk(b"IEND", b""))
    err_case("zero_width.png", "format", "zero")
    save("huge.png", ihdr(40000, 8) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    err_case("huge.png", "format", "past the limit")


def jpeg_cases():
    h, w = 23, 37
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 7 % 256, yy * 11 % 256, (xx * yy) % 256], axis=2).astype(np.uint8)
    rgb = np.clip(rgb.astype(int) + rng.integers(-20, 20, rgb.shape), 0, 255).astype(np.uint8)
    variants = [("baseline.jpg", {"quality": 90}),
                ("progressive.jpg", {"quality": 85, "progressive": True}),
                ("rgb444.jpg", {"quality": 95, "subsampling": 0})]
    for name, kw in variants:
        Image.fromarray(rgb).save(os.path.join(OUT, name), "JPEG", **kw)
        ok_case(name, pil(name))
    Image.fromarray(rgb[:, :, 1]).save(os.path.join(OUT, "gray.jpg"), "JPEG", quality=90)
    ok_case("gray.jpg", pil("gray.jpg"))
    Image.fromarray(rgb).convert("CMYK").save(os.path.join(OUT, "cmyk.jpg"), "JPEG", quality=90)
    err_case("cmyk.jpg", "unsupported", "CMYK JPEG is not supported")

    data = open(os.path.join(OUT, "baseline.jpg"), "rb").read()
    save("truncated.jpg", data[: len(data) // 2])
    err_case("truncated.jpg", "format", "truncated")
    # Set the frame header (SOF0) to 20000 x 20000: each side is allowed, the
    # pixel count is not.
    i = data.index(b"\xff\xc0")
    huge = bytearray(data)
    huge[i + 5:i + 9] = struct.pack(">HH", 20000, 20000)
    save("hugepix.jpg", bytes(huge))
    err_case("hugepix.jpg", "format", "past the limit")


def main():
    os.makedirs(OUT, exist_ok=True)
    png_cases()
    jpeg_cases()
    for args, _ in cases:
        args["pil"] = Image.__version__
        args["libjpeg_turbo"] = features.version("jpg")
    golden_common.write("images_expected", cases)


if __name__ == "__main__":
    main()
