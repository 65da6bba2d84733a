"""ed.imread / ed.imwrite: PNG and JPEG files as numpy arrays.

Samples come back as the file stores them (no gamma, colour profile or EXIF
orientation, as PIL): a one-channel image is (H, W), others (H, W, C) with C
2 (gray+alpha), 3 (RGB) or 4 (RGBA); uint8, or uint16 for 16-bit PNGs.
Palette PNGs come back as their indices, (H, W) uint8, because in this field
they are label maps; with_palette=True also returns the palette. Gray PNGs
of 1, 2 or 4 bits are scaled to 0..255 as PIL does."""
import ctypes
import os

import numpy as np

from . import _lib as _L
from . import Error, _check

_lib = _L.lib

_KEEP_PALETTE = 1   # ED_IMAGE_KEEP_PALETTE


class _Image(ctypes.Structure):
    """struct ed_image (include/encdec/image.h)."""
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("channels", ctypes.c_int),
                ("bit_depth", ctypes.c_int), ("data", ctypes.c_void_p), ("indexed", ctypes.c_int),
                ("palette_size", ctypes.c_int), ("palette", (ctypes.c_uint8 * 4) * 256)]


_PImage = ctypes.POINTER(_Image)
_L._decl("ed_image_new", [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.POINTER(_PImage)])
_L._decl("ed_image_free", [_PImage], None)
_L._decl("ed_image_load", [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_PImage)])
_L._decl("ed_image_save_png", [ctypes.c_char_p, _PImage])


def _path(p):
    return os.fsencode(p)


def imread(path, with_palette=False):
    """The image at path (PNG or JPEG, told apart by content) as a numpy array.

    with_palette=True returns (array, palette): palette is (N, 3) uint8 RGB,
    or (N, 4) RGBA when the file gives some entry transparency (tRNS); None
    for images without a palette."""
    p = _PImage()
    _check(_lib.ed_image_load(_path(path), _KEEP_PALETTE, ctypes.byref(p)))
    try:
        im = p.contents
        dt = np.uint16 if im.bit_depth == 16 else np.uint8
        shape = (im.height, im.width) if im.channels == 1 else (im.height, im.width, im.channels)
        out = np.empty(shape, dtype=dt)
        ctypes.memmove(out.ctypes.data, im.data, out.nbytes)
        pal = None
        if im.indexed:
            pal = np.array([list(im.palette[i]) for i in range(im.palette_size)], dtype=np.uint8).reshape(-1, 4)
            if (pal[:, 3] == 255).all():
                pal = np.ascontiguousarray(pal[:, :3])
    finally:
        _lib.ed_image_free(p)
    return (out, pal) if with_palette else out


def imwrite(path, array, palette=None):
    """Write array as a PNG: uint8 or uint16, (H, W) or (H, W, C) with C 1..4
    (gray, gray+alpha, RGB, RGBA). With palette ((N, 3) or (N, 4) uint8,
    N <= 256) array must be (H, W) uint8 indices below N and the file is a
    palette PNG. The file is written whole to path + ".tmp" and renamed over
    path, so a failed write leaves no half-written file."""
    a = np.asarray(array)
    if a.dtype.kind == "f":
        raise Error(f"imwrite: {os.fspath(path)}: array is {a.dtype}; convert to uint8 first "
                    "(e.g. (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8))")
    if a.dtype not in (np.uint8, np.uint16):
        raise Error(f"imwrite: {os.fspath(path)}: dtype must be uint8 or uint16, got {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or not 1 <= a.shape[2] <= 4:
        raise Error(f"imwrite: {os.fspath(path)}: shape must be (H, W) or (H, W, C) with C 1..4, "
                    f"got {np.shape(array)}")
    h, w, c = a.shape
    if h == 0 or w == 0:
        raise Error(f"imwrite: {os.fspath(path)}: the image is empty ({h} x {w})")
    pal = None
    if palette is not None:
        pal = np.asarray(palette)
        if pal.ndim != 2 or pal.shape[1] not in (3, 4) or not 1 <= pal.shape[0] <= 256:
            raise Error(f"imwrite: {os.fspath(path)}: palette must be (N, 3) or (N, 4) with N 1..256, "
                        f"got {pal.shape}")
        if pal.dtype.kind not in "ui" or pal.min() < 0 or pal.max() > 255:
            raise Error(f"imwrite: {os.fspath(path)}: palette entries must be integers 0..255")
        if c != 1 or a.dtype != np.uint8:
            raise Error(f"imwrite: {os.fspath(path)}: a palette image takes (H, W) uint8 indices, "
                        f"got {np.shape(array)} {a.dtype}")
    p = _PImage()
    _check(_lib.ed_image_new(w, h, c, 16 if a.dtype == np.uint16 else 8, ctypes.byref(p)))
    try:
        im = p.contents
        src = np.ascontiguousarray(a)
        ctypes.memmove(im.data, src.ctypes.data, src.nbytes)
        if pal is not None:
            im.indexed = 1
            im.palette_size = pal.shape[0]
            for i, row in enumerate(pal):
                im.palette[i][0], im.palette[i][1], im.palette[i][2] = int(row[0]), int(row[1]), int(row[2])
                im.palette[i][3] = int(row[3]) if pal.shape[1] == 4 else 255
        _check(_lib.ed_image_save_png(_path(path), p))
    finally:
        _lib.ed_image_free(p)
