"""Loading libencdec.so and declaring the C functions the binding calls.

Search order: $ENCDEC_LIB; libencdec.so beside this package; build/libencdec.so
of the source tree this package sits in; the system's library path."""
import ctypes
import ctypes.util
import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    env = os.environ.get("ENCDEC_LIB")
    if env:
        yield env
    yield os.path.join(_HERE, "libencdec.so")
    root = os.path.dirname(os.path.dirname(_HERE))
    yield os.path.join(root, "build", "libencdec.so")
    found = ctypes.util.find_library("encdec")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(path)
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({e})")
    raise ImportError("encdec: cannot find libencdec.so; build it with 'make' or set ENCDEC_LIB. Tried: " + ", ".join(tried))


lib = _load()

c_int, c_int64, c_double, c_void_p, c_char_p, c_size_t = (ctypes.c_int, ctypes.c_int64, ctypes.c_double,
                                                          ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t)
P = ctypes.POINTER
T = c_void_p               # ed_tensor *
PT = P(c_void_p)           # ed_tensor **


class Conv2dArgs(ctypes.Structure):
    _fields_ = [("stride", c_int * 2), ("padding", c_int * 2), ("dilation", c_int * 2), ("groups", c_int),
                ("padding_kind", c_int), ("relu", c_int)]


class ConvTranspose2dArgs(ctypes.Structure):
    _fields_ = [("stride", c_int * 2), ("padding", c_int * 2), ("output_padding", c_int * 2), ("groups", c_int),
                ("dilation", c_int * 2)]


class Pool2dArgs(ctypes.Structure):
    _fields_ = [("kernel_size", c_int * 2), ("stride", c_int * 2), ("padding", c_int * 2), ("dilation", c_int * 2),
                ("ceil_mode", c_int), ("count_include_pad", c_int), ("divisor_override", c_int)]


class InterpolateArgs(ctypes.Structure):
    _fields_ = [("size", c_int64 * 2), ("scale_factor", c_double * 2), ("mode", c_int), ("align_corners", c_int)]


class LossArgs(ctypes.Structure):
    _fields_ = [("reduction", c_int), ("weight", c_void_p), ("ignore_index", c_int64), ("label_smoothing", c_double),
                ("pos_weight", c_void_p), ("beta", c_double), ("smooth", c_double)]


def _decl(name, argtypes, restype=c_int):
    f = getattr(lib, name)
    f.argtypes = argtypes
    f.restype = restype
    return f


_decl("ed_last_error", [], c_char_p)
_decl("ed_tensor_new", [c_int, c_int, P(c_int64), PT])
_decl("ed_tensor_from_data", [c_int, c_int, P(c_int64), c_void_p, PT])
_decl("ed_tensor_retain", [T], T)
_decl("ed_tensor_free", [T], None)
_decl("ed_tensor_dtype", [T])
_decl("ed_tensor_ndim", [T])
_decl("ed_tensor_shape", [T], P(c_int64))
_decl("ed_tensor_numel", [T], c_int64)
_decl("ed_tensor_data", [T], c_void_p)
_decl("ed_tensor_set_requires_grad", [T, c_int])
_decl("ed_tensor_requires_grad", [T])
_decl("ed_tensor_grad", [T], T)
_decl("ed_tensor_zero_grad", [T], None)
_decl("ed_tensor_detach", [T, PT])
_decl("ed_backward", [T, T])
_decl("ed_no_grad_begin", [], None)
_decl("ed_no_grad_end", [], None)
_decl("ed_set_num_threads", [c_int], None)
_decl("ed_set_conv_precision", [c_int])
_decl("ed_get_conv_precision", [])
_decl("ed_set_conv_algo", [c_int])
_decl("ed_get_conv_algo", [])
_decl("ed_get_num_threads", [])
_decl("ed_manual_seed", [ctypes.c_uint64], None)
_decl("ed_reshape", [T, c_int, P(c_int64), PT])

for _n in ("ed_add", "ed_sub", "ed_mul", "ed_matmul"):
    _decl(_n, [T, T, PT])
for _n in ("ed_relu", "ed_sigmoid", "ed_tanh"):
    _decl(_n, [T, PT])
_decl("ed_scale", [T, c_double, PT])
_decl("ed_leaky_relu", [T, c_double, PT])
_decl("ed_softmax", [T, c_int, PT])
_decl("ed_log_softmax", [T, c_int, PT])
_decl("ed_dropout", [T, c_double, c_int, PT])
_decl("ed_dropout2d", [T, c_double, c_int, PT])
_decl("ed_sum", [T, P(c_int), c_int, c_int, PT])
_decl("ed_mean", [T, P(c_int), c_int, c_int, PT])
_decl("ed_cat", [P(c_void_p), c_int, c_int, PT])
_decl("ed_pad", [T, P(c_int64), c_int, c_int, c_double, PT])
_decl("ed_center_crop", [T, c_int64, c_int64, PT])
_decl("ed_linear", [T, T, T, PT])
_decl("ed_conv2d_args_default", [P(Conv2dArgs)], None)
_decl("ed_conv2d", [T, T, T, P(Conv2dArgs), PT])
_decl("ed_conv_transpose2d_args_default", [P(ConvTranspose2dArgs)], None)
_decl("ed_conv_transpose2d", [T, T, T, P(ConvTranspose2dArgs), PT])
_decl("ed_pool2d_args_default", [P(Pool2dArgs), c_int], None)
_decl("ed_max_pool2d", [T, P(Pool2dArgs), PT, PT])
_decl("ed_max_unpool2d", [T, T, P(Pool2dArgs), P(c_int64), PT])
_decl("ed_avg_pool2d", [T, P(Pool2dArgs), PT])
_decl("ed_adaptive_avg_pool2d", [T, c_int64, c_int64, PT])
_decl("ed_interpolate", [T, P(InterpolateArgs), PT])
_decl("ed_pixel_shuffle", [T, c_int, PT])
_decl("ed_batch_norm", [T, T, T, T, T, c_int, c_double, c_double, PT])
_decl("ed_group_norm", [T, c_int, T, T, c_double, PT])
_decl("ed_loss_args_default", [P(LossArgs)], None)
for _n in ("ed_cross_entropy", "ed_binary_cross_entropy_with_logits", "ed_mse_loss", "ed_l1_loss",
           "ed_smooth_l1_loss", "ed_dice_loss"):
    _decl(_n, [T, T, P(LossArgs), PT])
