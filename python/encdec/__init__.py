"""encdec: a thin ctypes binding over libencdec.so, numpy in and out.

    import encdec as ed
    x = ed.tensor(array, requires_grad=True)
    y = ed.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)
    ed.sum(y).backward(); x.grad.numpy()

Ops are named and called as in torch.nn.functional. Errors raise ed.Error
with the library's message; bad arguments never crash the interpreter."""
import ctypes

import numpy as np

from . import _lib as _L

__all__ = ["Error", "Tensor", "tensor", "no_grad", "manual_seed", "set_num_threads", "get_num_threads",
           "set_conv_precision", "get_conv_precision", "set_conv_algo", "get_conv_algo", "load_model",
           "imread", "imwrite", "metrics"]

_clib = _L.lib


class Error(Exception):
    """An error reported by libencdec (its message is the library's)."""


_DTYPES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.int64): 2, np.dtype(np.int32): 3,
           np.dtype(np.uint8): 4}
_NP = {v: k for k, v in _DTYPES.items()}


def _check(status):
    if status != 0:
        raise Error(_clib.ed_last_error().decode("utf-8", "replace"))


def _out():
    return ctypes.c_void_p()


class Tensor:
    """A libencdec tensor. Holds one reference; released when collected."""

    __slots__ = ("_h", "__weakref__")

    def __init__(self, handle):
        if not handle:
            raise Error("null tensor")
        self._h = ctypes.c_void_p(handle.value if isinstance(handle, ctypes.c_void_p) else handle)

    def __del__(self):
        h = getattr(self, "_h", None)
        if h and _clib is not None:
            _clib.ed_tensor_free(h)
            self._h = None

    @property
    def shape(self):
        n = _clib.ed_tensor_ndim(self._h)
        s = _clib.ed_tensor_shape(self._h)
        return tuple(int(s[i]) for i in range(n))

    @property
    def ndim(self):
        return _clib.ed_tensor_ndim(self._h)

    @property
    def dtype(self):
        return _NP.get(_clib.ed_tensor_dtype(self._h), None)

    def numel(self):
        return int(_clib.ed_tensor_numel(self._h))

    def numpy(self):
        """A copy of the data as a numpy array."""
        dt = self.dtype
        if dt is None:
            raise Error("tensor dtype has no numpy equivalent")
        n = self.numel()
        out = np.empty(self.shape, dtype=dt)
        if n:
            ctypes.memmove(out.ctypes.data, _clib.ed_tensor_data(self._h), n * dt.itemsize)
        return out

    def item(self):
        if self.numel() != 1:
            raise Error(f"item(): tensor has {self.numel()} elements, not 1")
        return self.numpy().reshape(()).item()

    @property
    def requires_grad(self):
        return bool(_clib.ed_tensor_requires_grad(self._h))

    @requires_grad.setter
    def requires_grad(self, flag):
        _check(_clib.ed_tensor_set_requires_grad(self._h, int(bool(flag))))

    def requires_grad_(self, flag=True):
        self.requires_grad = flag
        return self

    @property
    def grad(self):
        g = _clib.ed_tensor_grad(self._h)
        if not g:
            return None
        return Tensor(_clib.ed_tensor_retain(g))

    def zero_grad(self):
        _clib.ed_tensor_zero_grad(self._h)

    def backward(self, grad=None):
        """Backpropagate; grad is required unless the tensor has one element."""
        g = None
        if grad is not None:
            g = grad if isinstance(grad, Tensor) else tensor(np.asarray(grad, dtype=self.dtype))
        _check(_clib.ed_backward(self._h, g._h if g is not None else None))

    def detach(self):
        o = _out()
        _check(_clib.ed_tensor_detach(self._h, ctypes.byref(o)))
        return Tensor(o)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        arr = (ctypes.c_int64 * max(len(shape), 1))(*shape)
        o = _out()
        _check(_clib.ed_reshape(self._h, len(shape), arr, ctypes.byref(o)))
        return Tensor(o)

    def __add__(self, other):
        return add(self, other)

    def __sub__(self, other):
        return sub(self, other)

    def __mul__(self, other):
        if isinstance(other, (int, float)):
            return _unary_d("ed_scale", self, float(other))
        return mul(self, other)

    __rmul__ = __mul__

    def __matmul__(self, other):
        return matmul(self, other)

    def __repr__(self):
        return f"encdec.Tensor(shape={self.shape}, dtype={self.dtype}, requires_grad={self.requires_grad})"

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a.astype(dtype) if dtype is not None else a


def tensor(data, requires_grad=False, dtype=None):
    """A new tensor holding a copy of data (numpy array or nested lists).
    float32, float64, int64, int32 and uint8 keep their type; Python floats
    become float32 and ints int64, as torch.tensor does."""
    if isinstance(data, Tensor):
        data = data.numpy()
    a = np.asarray(data, dtype=dtype)
    if dtype is None and a.dtype == np.float64 and not isinstance(data, np.ndarray):
        a = a.astype(np.float32)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    if a.dtype not in _DTYPES:
        raise Error(f"tensor: unsupported dtype {a.dtype} (float32, float64, int64, int32, uint8)")
    if not a.flags.c_contiguous:   # (np.ascontiguousarray would turn 0-d into 1-d)
        a = a.copy(order="C")
    shape = (ctypes.c_int64 * max(a.ndim, 1))(*a.shape)
    o = _out()
    _check(_clib.ed_tensor_from_data(_DTYPES[a.dtype], a.ndim, shape, a.ctypes.data_as(ctypes.c_void_p), ctypes.byref(o)))
    t = Tensor(o)
    if requires_grad:
        t.requires_grad = True
    return t


def _t(x, name="input", dtype=None):
    """Accept a Tensor or array-like; arrays are copied into a new tensor."""
    if x is None:
        return None
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (list, tuple, np.ndarray, float, int, np.generic)):
        return tensor(x, dtype=dtype)
    raise Error(f"{name}: expected an encdec.Tensor or numpy array, got {type(x).__name__}")


def _h(x):
    return x._h if x is not None else None


class no_grad:
    """Context manager: ops inside record no autograd history."""

    def __enter__(self):
        _clib.ed_no_grad_begin()

    def __exit__(self, *exc):
        _clib.ed_no_grad_end()
        return False


def manual_seed(seed):
    _clib.ed_manual_seed(int(seed))


def set_num_threads(n):
    _clib.ed_set_num_threads(int(n))


def get_num_threads():
    return _clib.ed_get_num_threads()


_PRECISIONS = {"f32": 0, "bf16": 1}
_ALGOS = {"direct": 0, "winograd": 1}


def set_conv_precision(p):
    """'f32' (default) or 'bf16': convolutions multiply in bfloat16 (oneDNN builds, AMX where
    present) with float32 tensors, sums and gradients; as `encdec train --precision`."""
    if p not in _PRECISIONS:
        raise Error(f"set_conv_precision: precision must be 'f32' or 'bf16', got {p!r}")
    _check(_clib.ed_set_conv_precision(_PRECISIONS[p]))


def get_conv_precision():
    return {v: k for k, v in _PRECISIONS.items()}[_clib.ed_get_conv_precision()]


def set_conv_algo(a):
    """'direct' (default) or 'winograd': 3x3 float32 convolutions by Winograd's F(4x4, 3x3) where
    the CPU has a kernel (about 2x faster; results within ~1e-5 of direct ones)."""
    if a not in _ALGOS:
        raise Error(f"set_conv_algo: algorithm must be 'direct' or 'winograd', got {a!r}")
    _check(_clib.ed_set_conv_algo(_ALGOS[a]))


def get_conv_algo():
    return {v: k for k, v in _ALGOS.items()}[_clib.ed_get_conv_algo()]


def _unary_d(fn, x, v):
    o = _out()
    t = _t(x)   # named, so a temporary made from an array outlives the C call
    _check(getattr(_clib, fn)(t._h, v, ctypes.byref(o)))
    return Tensor(o)


from .functional import *  # noqa: E402,F401,F403
from .functional import __all__ as _fall  # noqa: E402
from .models import load_model  # noqa: E402
from . import metrics  # noqa: E402,F401
from .image import imread, imwrite  # noqa: E402
from . import crf  # noqa: E402,F401
from .crf import DenseCRF, DenseCRF2D  # noqa: E402,F401

__all__ += _fall
