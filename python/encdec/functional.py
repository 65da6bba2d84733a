"""The ops, named and called as torch.nn.functional's."""
import ctypes
import numbers

from . import _lib as _L
from . import Error, Tensor, _check, _h, _out, _t

_lib = _L.lib

__all__ = ["add", "sub", "mul", "matmul", "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax", "dropout",
           "dropout2d", "sum", "mean", "cat", "pad", "center_crop", "linear", "conv2d", "conv_transpose2d", "max_pool2d",
           "max_unpool2d", "avg_pool2d", "adaptive_avg_pool2d", "interpolate", "pixel_shuffle", "batch_norm",
           "group_norm", "cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "smooth_l1_loss",
           "dice_loss"]


_INT_MAX = 2 ** 31 - 1   # the C side takes int; larger values would be silently truncated by ctypes


def _int(v, name):
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        if abs(int(v)) > _INT_MAX:
            raise Error(f"{name} is out of range: {v}")
        return int(v)
    raise Error(f"{name} must be an int, got {v!r}")


def _pair(v, name):
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return (_int(v, name), _int(v, name))
    if isinstance(v, (tuple, list)) and len(v) in (1, 2) and all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in v):
        return (_int(v[0], name), _int(v[-1], name))
    raise Error(f"{name} must be an int or a pair of ints, got {v!r}")


def _r(x, name="input"):
    """A required tensor argument."""
    if x is None:
        raise Error(f"{name} is required, got None")
    return _t(x, name)


def _call(fn, *args):
    """Call a C op. Tensor arguments are unwrapped here, so the tuple args
    keeps every Tensor (including temporaries made from numpy arrays) alive
    until the C call has returned."""
    o = _out()
    raw = [a._h if isinstance(a, Tensor) else a for a in args]
    _check(getattr(_lib, fn)(*raw, ctypes.byref(o)))
    return Tensor(o)


def _binary(fn, a, b):
    a = _r(a)
    if b is None:
        raise Error("other is required, got None")
    if not isinstance(b, Tensor):
        import numpy as np
        b = _t(np.asarray(b, dtype=a.dtype))
    return _call(fn, a, b)


def add(input, other):
    return _binary("ed_add", input, other)


def sub(input, other):
    return _binary("ed_sub", input, other)


def mul(input, other):
    return _binary("ed_mul", input, other)


def matmul(input, other):
    return _binary("ed_matmul", input, other)


def relu(input, inplace=False):
    return _call("ed_relu", _r(input, "input"))


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _call("ed_leaky_relu", _r(input, "input"), float(negative_slope))


def sigmoid(input):
    return _call("ed_sigmoid", _r(input, "input"))


def tanh(input):
    return _call("ed_tanh", _r(input, "input"))


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        raise Error("softmax: dim is required")
    return _call("ed_softmax", _r(input, "input"), _int(dim, "dim"))


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        raise Error("log_softmax: dim is required")
    return _call("ed_log_softmax", _r(input, "input"), _int(dim, "dim"))


def dropout(input, p=0.5, training=True, inplace=False):
    return _call("ed_dropout", _r(input, "input"), float(p), int(bool(training)))


def dropout2d(input, p=0.5, training=True, inplace=False):
    return _call("ed_dropout2d", _r(input, "input"), float(p), int(bool(training)))


def _reduce(fn, input, dim, keepdim):
    if dim is None:
        dims, n = None, 0
    else:
        d = [dim] if isinstance(dim, numbers.Integral) else list(dim)
        dims, n = (ctypes.c_int * max(len(d), 1))(*[_int(v, "dim") for v in d]), len(d)
    return _call(fn, _r(input, "input"), dims, n, int(bool(keepdim)))


def sum(input, dim=None, keepdim=False):  # noqa: A001 - torch's name
    return _reduce("ed_sum", input, dim, keepdim)


def mean(input, dim=None, keepdim=False):
    return _reduce("ed_mean", input, dim, keepdim)


def cat(tensors, dim=0):
    ts = [_t(x) for x in tensors]
    if not ts:
        raise Error("cat: expected a non-empty list of tensors")
    arr = (ctypes.c_void_p * len(ts))(*[x._h.value for x in ts])
    return _call("ed_cat", arr, len(ts), _int(dim, "dim"))


_PAD_MODES = {"constant": 0, "reflect": 1, "replicate": 2}


def pad(input, pad, mode="constant", value=None):
    if mode not in _PAD_MODES:
        raise Error(f"pad: mode must be one of {sorted(_PAD_MODES)}, got {mode!r}")
    p = [_int(v, "pad") for v in pad]
    arr = (ctypes.c_int64 * max(len(p), 1))(*p)
    return _call("ed_pad", _r(input, "input"), arr, len(p), _PAD_MODES[mode], float(value or 0.0))


def center_crop(input, output_size):
    h, w = _pair(output_size, "output_size")
    return _call("ed_center_crop", _r(input, "input"), h, w)


def linear(input, weight, bias=None):
    return _call("ed_linear", _r(input, "input"), _r(weight, "weight"), _t(bias))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    a = _L.Conv2dArgs()
    _lib.ed_conv2d_args_default(ctypes.byref(a))
    a.stride[:] = _pair(stride, "stride")
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise Error(f"conv2d: padding string must be 'same' or 'valid', got {padding!r}")
        a.padding_kind = 1 if padding == "same" else 2
    else:
        a.padding[:] = _pair(padding, "padding")
    a.dilation[:] = _pair(dilation, "dilation")
    a.groups = _int(groups, "groups")
    return _call("ed_conv2d", _r(input, "input"), _r(weight, "weight"), _t(bias), ctypes.byref(a))


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    a = _L.ConvTranspose2dArgs()
    _lib.ed_conv_transpose2d_args_default(ctypes.byref(a))
    a.stride[:] = _pair(stride, "stride")
    a.padding[:] = _pair(padding, "padding")
    a.output_padding[:] = _pair(output_padding, "output_padding")
    a.groups = _int(groups, "groups")
    a.dilation[:] = _pair(dilation, "dilation")
    return _call("ed_conv_transpose2d", _r(input, "input"), _r(weight, "weight"), _t(bias), ctypes.byref(a))


def _pool_args(kernel_size, stride, padding, dilation=1, ceil_mode=False, count_include_pad=True, divisor_override=None):
    a = _L.Pool2dArgs()
    k = _pair(kernel_size, "kernel_size")
    _lib.ed_pool2d_args_default(ctypes.byref(a), k[0])
    a.kernel_size[:] = k
    a.stride[:] = (0, 0) if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else _pair(stride, "stride")
    a.padding[:] = _pair(padding, "padding")
    a.dilation[:] = _pair(dilation, "dilation")
    a.ceil_mode = int(bool(ceil_mode))
    a.count_include_pad = int(bool(count_include_pad))
    a.divisor_override = 0 if divisor_override is None else _int(divisor_override, "divisor_override")
    if divisor_override is not None and a.divisor_override == 0:
        raise Error("avg_pool2d: divisor must be not zero")
    return a


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    a = _pool_args(kernel_size, stride, padding, dilation, ceil_mode)
    o, idx = _out(), _out()
    x = _r(input, "input")   # named, so it outlives the C call
    _check(_lib.ed_max_pool2d(x._h, ctypes.byref(a), ctypes.byref(o),
                              ctypes.byref(idx) if return_indices else None))
    if return_indices:
        return Tensor(o), Tensor(idx)
    return Tensor(o)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    a = _pool_args(kernel_size, stride, padding)
    size = None
    if output_size is not None:
        s = list(output_size)[-2:]
        size = (ctypes.c_int64 * 2)(*[_int(v, "output_size") for v in s])
    return _call("ed_max_unpool2d", _r(input, "input"), _r(indices, "indices"), ctypes.byref(a), size)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    a = _pool_args(kernel_size, stride, padding, 1, ceil_mode, count_include_pad, divisor_override)
    return _call("ed_avg_pool2d", _r(input, "input"), ctypes.byref(a))


def adaptive_avg_pool2d(input, output_size):
    h, w = _pair(output_size, "output_size")
    return _call("ed_adaptive_avg_pool2d", _r(input, "input"), h, w)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    modes = {"nearest": 0, "bilinear": 1}
    if mode not in modes:
        raise Error(f"interpolate: mode must be 'nearest' or 'bilinear', got {mode!r}")
    if (size is None) == (scale_factor is None):
        raise Error("interpolate: give exactly one of size and scale_factor")
    if align_corners is not None and mode == "nearest":
        raise Error("interpolate: align_corners option can only be set with the interpolating modes")
    if recompute_scale_factor or antialias:
        raise Error("interpolate: recompute_scale_factor and antialias are not supported")
    a = _L.InterpolateArgs()
    if size is not None:
        a.size[:] = _pair(size, "size")
    else:
        sf = scale_factor if isinstance(scale_factor, (list, tuple)) else (scale_factor, scale_factor)
        if len(sf) != 2:
            raise Error("interpolate: scale_factor must be a number or a pair")
        a.scale_factor[:] = (float(sf[0]), float(sf[1]))
    a.mode = modes[mode]
    a.align_corners = int(bool(align_corners))
    return _call("ed_interpolate", _r(input, "input"), ctypes.byref(a))


def pixel_shuffle(input, upscale_factor):
    return _call("ed_pixel_shuffle", _r(input, "input"), _int(upscale_factor, "upscale_factor"))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-05):
    rm, rv = _t(running_mean), _t(running_var)
    return _call("ed_batch_norm", _r(input, "input"), rm, rv, _t(weight), _t(bias), int(bool(training)),
                 float(momentum), float(eps))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05):
    return _call("ed_group_norm", _r(input, "input"), _int(num_groups, "num_groups"), _t(weight), _t(bias), float(eps))


_REDUCTIONS = {"mean": 0, "sum": 1, "none": 2}


def _loss_args(reduction, weight=None, ignore_index=-100, label_smoothing=0.0, pos_weight=None, beta=1.0, smooth=1.0):
    if reduction not in _REDUCTIONS:
        raise Error(f"{reduction!r} is not a valid value for reduction (mean, sum, none)")
    a = _L.LossArgs()
    _lib.ed_loss_args_default(ctypes.byref(a))
    a.reduction = _REDUCTIONS[reduction]
    keep = []
    if weight is not None:
        w = _t(weight)
        keep.append(w)
        a.weight = w._h.value
    if pos_weight is not None:
        pw = _t(pos_weight)
        keep.append(pw)
        a.pos_weight = pw._h.value
    a.ignore_index = _int(ignore_index, "ignore_index")
    a.label_smoothing = float(label_smoothing)
    a.beta = float(beta)
    a.smooth = float(smooth)
    return a, keep


def _loss(fn, input, target, a, keep):
    import numpy as np
    x = _r(input)
    if target is None:
        raise Error("target is required, got None")
    tgt = target if isinstance(target, Tensor) else _t(np.asarray(target))
    r = _call(fn, x, tgt, ctypes.byref(a))
    del keep
    return r


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    a, keep = _loss_args(reduction, weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing)
    return _loss("ed_cross_entropy", input, target, a, keep)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    a, keep = _loss_args(reduction, weight=weight, pos_weight=pos_weight)
    return _loss("ed_binary_cross_entropy_with_logits", input, target, a, keep)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    a, keep = _loss_args(reduction)
    return _loss("ed_mse_loss", input, target, a, keep)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    a, keep = _loss_args(reduction)
    return _loss("ed_l1_loss", input, target, a, keep)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    a, keep = _loss_args(reduction, beta=beta)
    return _loss("ed_smooth_l1_loss", input, target, a, keep)


def dice_loss(input, target, ignore_index=-100, smooth=1.0, reduction="mean"):
    """Soft Dice (encdec's own; no torch equivalent): see include/encdec.h."""
    a, keep = _loss_args(reduction, ignore_index=ignore_index, smooth=smooth)
    return _loss("ed_dice_loss", input, target, a, keep)
