"""ed.load_model(path): a checkpoint as a callable model."""
import ctypes

import numpy as np

from . import _lib as _L
from . import Error, Tensor, _check, _out, no_grad, tensor

_lib = _L.lib
_L._decl("ed_model_load", [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)])
_L._decl("ed_model_free", [ctypes.c_void_p], None)
_L._decl("ed_model_forward", [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)])
for _n in ("ed_model_arch", "ed_model_config", "ed_model_task"):
    _L._decl(_n, [ctypes.c_void_p], ctypes.c_char_p)
for _n in ("ed_model_in_channels", "ed_model_out_channels", "ed_model_size_multiple"):
    _L._decl(_n, [ctypes.c_void_p])


class Model:
    """A loaded checkpoint. model(x) takes float32 (N, C, H, W) (a numpy
    array or an encdec.Tensor) and returns a numpy array (inference mode, no
    gradients)."""

    def __init__(self, path):
        h = ctypes.c_void_p()
        _check(_lib.ed_model_load(str(path).encode(), ctypes.byref(h)))
        self._h = h

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

    def __call__(self, x):
        if isinstance(x, Tensor):
            xt = x
        else:
            a = np.asarray(x)
            if a.dtype != np.float32:
                raise Error(f"{self.arch}: input must be float32 (N, C, H, W), got {a.dtype}")
            xt = tensor(a)
        o = _out()
        with no_grad():
            _check(_lib.ed_model_forward(self._h, xt._h, 0, ctypes.byref(o)))
        return Tensor(o).numpy()

    def __repr__(self):
        return f"encdec.Model(arch={self.arch!r}, task={self.task!r})"


def load_model(path):
    """Load a checkpoint written by encdec (encdec train / ed_model_save)."""
    return Model(path)
