"""ed.load_model(path): a checkpoint as a callable model.

Denoising models take and return float32 (N, C, H, W) in [0, 1] (noisy
values may leave [0, 1]), any H and W: a model that downsamples (drunet,
unet) gets its input padded by edge replication to its size multiple and
the result cropped back, as `encdec enhance` does. Super-resolution models (task "sr") work on the
BT.601 luma: the callable takes RGB (N, 3, H, W) (or gray/Y (N, 1, H, W))
in [0, 1] and returns it `scale` times larger, the Y channel through the
network and Cb/Cr upscaled with MATLAB's bicubic, as `encdec enhance` does
(without its 8-bit rounding)."""
import ctypes

import numpy as np

from . import _lib as _L
from . import Error, Tensor, _check, _out, no_grad, tensor

_lib = _L.lib
_L._decl("ed_model_load", [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)])
_L._decl("ed_model_free", [ctypes.c_void_p], None)
_L._decl("ed_model_freeze", [ctypes.c_void_p, ctypes.c_int])
_L._decl("ed_model_forward", [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)])
for _n in ("ed_model_arch", "ed_model_config", "ed_model_task"):
    _L._decl(_n, [ctypes.c_void_p], ctypes.c_char_p)
for _n in ("ed_model_in_channels", "ed_model_out_channels", "ed_model_size_multiple"):
    _L._decl(_n, [ctypes.c_void_p])
_L._decl("ed_imresize_bicubic_f32", [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                                     ctypes.c_int64, ctypes.c_int64, ctypes.c_double, ctypes.c_double, ctypes.c_int])

# MATLAB's rgb2ycbcr for [0, 1] images (ITU-R BT.601), and its exact inverse.
_YCC = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255.0
_YCC_OFF = np.array([16.0, 128.0, 128.0]) / 255.0
_YCC_INV = np.linalg.inv(_YCC)


def _bicubic(planes, s):
    """planes (P, h, w) float32 -> (P, h*s, w*s), MATLAB imresize bicubic."""
    a = np.ascontiguousarray(planes, dtype=np.float32)
    p, h, w = a.shape
    out = np.empty((p, h * s, w * s), dtype=np.float32)
    _check(_lib.ed_imresize_bicubic_f32(a.ctypes.data, p, h, w, out.ctypes.data, h * s, w * s, float(s), float(s), 1))
    return out


class Model:
    """A loaded checkpoint. model(x) takes float32 (N, C, H, W) (a numpy
    array or an encdec.Tensor) and returns a numpy array (inference mode, no
    gradients; the weights frozen, as a deployed model's)."""

    def __init__(self, path):
        h = ctypes.c_void_p()
        _check(_lib.ed_model_load(str(path).encode(), ctypes.byref(h)))
        self._h = h
        # The parameters are not reachable from Python: frozen, the weight
        # cache trusts them instead of re-reading them at every call.
        _check(_lib.ed_model_freeze(h, 1))

    def __del__(self):
        if getattr(self, "_h", None):
            _lib.ed_model_free(self._h)
            self._h = None

    arch = property(lambda s: _lib.ed_model_arch(s._h).decode())
    task = property(lambda s: _lib.ed_model_task(s._h).decode())
    config = property(lambda s: __import__("json").loads(_lib.ed_model_config(s._h).decode()))
    in_channels = property(lambda s: _lib.ed_model_in_channels(s._h))
    out_channels = property(lambda s: _lib.ed_model_out_channels(s._h))
    size_multiple = property(lambda s: _lib.ed_model_size_multiple(s._h))

    @property
    def scale(self):
        """The upscaling factor (1 for models that keep the size)."""
        return int(self.config.get("scale", 1)) if self.task == "sr" else 1

    def __call__(self, x, ensemble=False):
        """ensemble=True: the mean over the 8 flips and quarter turns of the
        input, each result turned back (EDSR+'s self-ensemble; `encdec
        enhance --ensemble`), for a little more PSNR at 8 times the time."""
        run = self._ensemble if ensemble else self._run
        if self.task == "sr":
            return self._sr(x, run)
        return run(x)

    def _ensemble(self, x):
        a = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
        acc = None
        for f in (False, True):
            for k in range(4):
                t = np.ascontiguousarray(np.rot90(a[..., ::-1] if f else a, k, axes=(2, 3)))
                y = np.rot90(self._run(t), -k, axes=(2, 3))
                y = y[..., ::-1] if f else y
                acc = y.astype(np.float64) if acc is None else acc + y
        return (acc / 8).astype(np.float32)

    def _sr(self, x, run):
        a = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
        if a.dtype != np.float32 or a.ndim != 4 or a.shape[1] not in (1, 3):
            raise Error(f"{self.arch}: input must be float32 (N, 3, H, W) RGB or (N, 1, H, W) Y in [0, 1], "
                        f"got {a.dtype} {tuple(a.shape)}")
        if a.shape[1] == 1:
            return run(a)
        ycc = np.einsum("ij,njhw->nihw", _YCC, a.astype(np.float64)) + _YCC_OFF[None, :, None, None]
        y = run(np.ascontiguousarray(ycc[:, :1], dtype=np.float32)).astype(np.float64)
        s = self.scale
        cbcr = np.stack([_bicubic(ycc[n, 1:].astype(np.float32), s) for n in range(a.shape[0])]).astype(np.float64)
        hr = np.concatenate([y, cbcr], axis=1) - _YCC_OFF[None, :, None, None]
        return np.einsum("ij,njhw->nihw", _YCC_INV, hr).astype(np.float32)

    def _run(self, x):
        k = self.size_multiple
        if isinstance(x, Tensor) and (k == 1 or x.numpy().ndim != 4):
            xt, ph, pw = x, 0, 0
        else:
            a = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
            if a.dtype != np.float32:
                raise Error(f"{self.arch}: input must be float32 (N, C, H, W), got {a.dtype}")
            ph = pw = 0
            if k > 1 and a.ndim == 4:   # any size: pad by replication to the model's multiple, crop back
                ph, pw = -a.shape[2] % k, -a.shape[3] % k
                if ph or pw:
                    a = np.pad(a, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="edge")
            xt = tensor(np.ascontiguousarray(a))
        o = _out()
        with no_grad():
            _check(_lib.ed_model_forward(self._h, xt._h, 0, ctypes.byref(o)))
        y = Tensor(o).numpy()
        if ph or pw:
            s = self.scale
            y = np.ascontiguousarray(y[:, :, :y.shape[2] - ph * s, :y.shape[3] - pw * s])
        return y

    def __repr__(self):
        return f"encdec.Model(arch={self.arch!r}, task={self.task!r})"


def load_model(path):
    """Load a checkpoint written by encdec (encdec train / ed_model_save)."""
    return Model(path)
