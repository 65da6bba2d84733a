"""ed.crf: the dense CRF of libencdec (include/encdec/crf.h), called as
pydensecrf is, so code written for pydensecrf runs with only the import
changed:

    import encdec.crf as dcrf                  # was: import pydensecrf.densecrf as dcrf
    from encdec.crf import unary_from_softmax  # was: from pydensecrf.utils import ...
    d = dcrf.DenseCRF2D(W, H, n_labels)        # width first, as pydensecrf
    d.setUnaryEnergy(unary_from_softmax(probs))          # probs (n_labels, H, W)
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=img, compat=10)   # img (H, W, 3) uint8
    Q = d.inference(5)                         # (n_labels, H * W) float32 numpy
    labels = np.argmax(Q, axis=0).reshape(H, W)

Shapes are pydensecrf's: unary energies (n_labels, n_pixels), pairwise
features (n_feat, n_pixels), the image (H, W, 3), Q (n_labels, n_pixels);
pixel y * W + x. compat is a number (Potts), a 1-D array (one weight per
label) or an (n_labels, n_labels) matrix; kernel and normalization take
this module's constants (the same values as pydensecrf's).

Where pydensecrf asserts, crashes or silently reads the wrong thing, this
module raises ed.Error saying what it expected and what it got:
  - a unary or feature array of the wrong shape, including (n_labels, W, H)
    and an (W, H, 3) image for a DenseCRF2D(W, H) - the signs of width and
    height swapped somewhere (the error says so);
  - a compat array whose size is not n_labels or n_labels x n_labels;
  - an image that is not uint8 (a float image may be 0..1 or 0..255: convert
    it yourself), or not 3 channels;
  - labels outside 0..n_labels-1 (1..n_labels with zero_unsure) in
    unary_from_labels, where numpy would wrap negative ones round;
  - sdims or schan not matching the array in create_pairwise_*.
Conversions (documented, never a misread): unary energies, features and Q
of any floating dtype are converted to float32 by value (pydensecrf raises
for float64); probabilities of any real dtype are converted to float32
before unary_from_softmax (pydensecrf computes float64 input in float64: the
energies may differ in the last float32 bit); arrays of any strides are
copied (pydensecrf raises "ndarray is not C-contiguous").

Step-wise inference: startInference() returns (Q, tmp1, tmp2) with Q a
writable float32 numpy array; stepInference(Q, tmp1, tmp2) updates Q in
place by one mean-field iteration (tmp1 and tmp2 are accepted and unused);
klDivergence(Q) is pydensecrf's. Work is spread over ed.set_num_threads()
threads; the results do not depend on the count."""
import ctypes
import numbers

import numpy as np

from . import _lib as _L
from . import Error, _check, Tensor, tensor

__all__ = ["DenseCRF", "DenseCRF2D", "CONST_KERNEL", "DIAG_KERNEL", "FULL_KERNEL", "NO_NORMALIZATION",
           "NORMALIZE_BEFORE", "NORMALIZE_AFTER", "NORMALIZE_SYMMETRIC", "unary_from_softmax", "unary_from_labels",
           "create_pairwise_gaussian", "create_pairwise_bilateral"]

# pydensecrf's enum values (ed_crf_kernel, ed_crf_norm).
CONST_KERNEL, DIAG_KERNEL, FULL_KERNEL = 0, 1, 2
NO_NORMALIZATION, NORMALIZE_BEFORE, NORMALIZE_AFTER, NORMALIZE_SYMMETRIC = 0, 1, 2, 3
_KERNELS = {0: "CONST_KERNEL", 1: "DIAG_KERNEL", 2: "FULL_KERNEL"}
_NORMS = {0: "NO_NORMALIZATION", 1: "NORMALIZE_BEFORE", 2: "NORMALIZE_AFTER", 3: "NORMALIZE_SYMMETRIC"}
_POTTS, _DIAG, _MATRIX = 0, 1, 2      # ed_crf_compat_kind

_lib = _L.lib
_c = ctypes
_T, _PT = _L.T, _L.PT


class _Pairwise(_c.Structure):
    """struct ed_crf_pairwise."""
    _fields_ = [("compat", _c.c_int), ("potts", _c.c_double), ("weights", _c.c_void_p), ("kernel", _c.c_int),
                ("kernel_params", _c.c_void_p), ("normalization", _c.c_int)]


_L._decl("ed_densecrf_new", [_c.c_int64, _c.c_int, _PT])
_L._decl("ed_densecrf_new_2d", [_c.c_int, _c.c_int, _c.c_int, _PT])
_L._decl("ed_densecrf_free", [_c.c_void_p], None)
_L._decl("ed_densecrf_set_unary", [_c.c_void_p, _T])
_L._decl("ed_densecrf_add_pairwise", [_c.c_void_p, _T, _c.POINTER(_Pairwise)])
_L._decl("ed_densecrf_add_gaussian", [_c.c_void_p, _c.c_double, _c.c_double, _c.POINTER(_Pairwise)])
_L._decl("ed_densecrf_add_bilateral", [_c.c_void_p] + [_c.c_double] * 5 + [_T, _c.POINTER(_Pairwise)])
_L._decl("ed_densecrf_inference", [_c.c_void_p, _c.c_int, _PT])
_L._decl("ed_densecrf_start_inference", [_c.c_void_p, _PT])
_L._decl("ed_densecrf_step_inference", [_c.c_void_p, _T])
_L._decl("ed_densecrf_kl_divergence", [_c.c_void_p, _T, _c.POINTER(_c.c_double)])
_L._decl("ed_crf_unary_from_softmax", [_T, _c.c_double, _c.c_double, _PT])
_L._decl("ed_crf_unary_from_labels", [_T, _c.c_int, _c.c_double, _c.c_int, _PT])


def _new_tensor(fn, *args):
    o = _c.c_void_p()
    _check(fn(*args, _c.byref(o)))
    return Tensor(o)


def _int(op, name, v, lo=None):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise Error(f"{op}: {name} must be an integer, got {v!r}")
    v = int(v)
    if lo is not None and v < lo:
        raise Error(f"{op}: {name} must be >= {lo}, got {v}")
    return v


def _float32(op, name, a, want):
    """a as a C-contiguous float32 array; floating dtypes are converted by
    value, anything else is refused (an integer array here is a mistake)."""
    if isinstance(a, Tensor):
        a = a.numpy()
    if a is None:
        raise Error(f"{op}: {name} is required: float32 {want}")
    a = np.asarray(a)
    if a.dtype.kind != "f":
        raise Error(f"{op}: {name} must be float32 {want}, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)


def _pair(op, name, v, n):
    """A number repeated n times, or a sequence of n positive numbers."""
    if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)):
        v = (v,) * n
    try:
        v = tuple(float(x) for x in v)
    except (TypeError, ValueError):
        raise Error(f"{op}: {name} must be a number or {n} numbers, got {v!r}") from None
    if len(v) != n:
        raise Error(f"{op}: {name} must be a number or {n} numbers, got {len(v)}: {v}")
    for x in v:
        if not (x > 0 and np.isfinite(x)):
            raise Error(f"{op}: {name} must be > 0 and finite, got {v}")
    return v


class DenseCRF:
    """A fully connected CRF over n_pixels variables and n_labels labels
    (pydensecrf.densecrf.DenseCRF)."""

    _name = "DenseCRF"

    def __init__(self, n_pixels, n_labels):
        op = self._name
        n_pixels = _int(op, "n_pixels", n_pixels, 1)
        self._nlabel = _int(op, "n_labels", n_labels, 1)
        self._nvar = n_pixels
        self._crf = None
        h = _c.c_void_p()
        _check(_lib.ed_densecrf_new(n_pixels, self._nlabel, _c.byref(h)))
        self._crf = h

    def __del__(self):
        h = getattr(self, "_crf", None)
        if h and _lib is not None:
            _lib.ed_densecrf_free(h)
            self._crf = None

    def __repr__(self):
        return f"encdec.crf.{self._name}(n_pixels={self._nvar}, n_labels={self._nlabel})"

    # ---- shape checks with pydensecrf's names -----------------------------------
    def _lp_array(self, op, name, a):
        L, N = self._nlabel, self._nvar
        a = _float32(op, name, a, f"(n_labels, n_pixels) = ({L}, {N})")
        if a.shape != (L, N):
            raise Error(f"{op}: {name} must be (n_labels, n_pixels) = ({L}, {N}), got {a.shape}{self._hint(a.shape)}")
        return a

    def _hint(self, shape):
        if len(shape) == 2 and shape == (self._nvar, self._nlabel):
            return " (transposed? pixels go second)"
        return ""

    def _pairwise(self, op, compat, kernel, normalization):
        """A filled _Pairwise, and the tensor its weights point at (kept alive
        by the caller until the C call returns)."""
        p = _Pairwise()
        if kernel not in _KERNELS:
            raise Error(f"{op}: kernel must be CONST_KERNEL, DIAG_KERNEL or FULL_KERNEL (0, 1, 2), got {kernel!r}")
        if normalization not in _NORMS:
            raise Error(f"{op}: normalization must be NO_NORMALIZATION, NORMALIZE_BEFORE, NORMALIZE_AFTER or "
                        f"NORMALIZE_SYMMETRIC (0..3), got {normalization!r}")
        p.kernel, p.normalization = int(kernel), int(normalization)
        L = self._nlabel
        if isinstance(compat, (bool, np.bool_)):
            raise Error(f"{op}: compat must be a number, ({L},) or ({L}, {L}) array, got {compat!r}")
        if isinstance(compat, numbers.Real):
            p.compat, p.potts = _POTTS, float(compat)
            if not np.isfinite(p.potts):
                raise Error(f"{op}: compat must be finite, got {compat!r}")
            return p, None
        try:
            w = np.asarray(compat)
        except Exception:
            w = np.asarray(None)
        if w.dtype.kind not in "iuf":
            raise Error(f"{op}: compat must be a number, ({L},) or ({L}, {L}) array, got {type(compat).__name__}"
                        f" of dtype {w.dtype}")
        if w.ndim == 0:
            p.compat, p.potts = _POTTS, float(w)
            return p, None
        if w.ndim == 1 and w.shape == (L,):
            p.compat = _DIAG
        elif w.ndim == 2 and w.shape == (L, L):
            p.compat = _MATRIX
        else:
            raise Error(f"{op}: compat must be a number (Potts), ({L},) (diagonal) or ({L}, {L}) (matrix) for "
                        f"{L} labels, got an array of shape {w.shape}")
        wt = tensor(np.ascontiguousarray(w, dtype=np.float32))
        p.weights = wt._h.value
        return p, wt

    # ---- pydensecrf's methods -----------------------------------------------------
    def setUnaryEnergy(self, u, f=None):
        """u: float32 (n_labels, n_pixels) energies (-log probabilities)."""
        op = f"{self._name}.setUnaryEnergy"
        if f is not None:
            raise Error(f"{op}: the logistic unary (argument f) is not supported; pass energies only")
        t = tensor(self._unary(op, u))     # (kept in a name: a temporary would be freed before the call)
        _check(_lib.ed_densecrf_set_unary(self._crf, t._h))

    def _unary(self, op, u):
        return self._lp_array(op, "unary", u)

    def addPairwiseEnergy(self, features, compat, kernel=DIAG_KERNEL, normalization=NORMALIZE_SYMMETRIC):
        """features: float32 (n_feat, n_pixels), already divided by their
        standard deviations (see create_pairwise_gaussian/_bilateral)."""
        op = f"{self._name}.addPairwiseEnergy"
        N = self._nvar
        f = _float32(op, "features", features, f"(n_feat, n_pixels) = (?, {N})")
        if f.ndim != 2 or f.shape[1] != N or f.shape[0] < 1:
            hint = " (transposed? pixels go second)" if f.ndim == 2 and f.shape[0] == N else ""
            raise Error(f"{op}: features must be (n_feat, n_pixels) = (?, {N}), got {f.shape}{hint}")
        p, keep = self._pairwise(op, compat, kernel, normalization)
        t = tensor(f)
        _check(_lib.ed_densecrf_add_pairwise(self._crf, t._h, _c.byref(p)))
        del keep, t

    def inference(self, n_iterations):
        """Q after n_iterations of mean field: float32 (n_labels, n_pixels)."""
        n = _int(f"{self._name}.inference", "n_iterations", n_iterations, 0)
        return _new_tensor(_lib.ed_densecrf_inference, self._crf, n).numpy()

    def startInference(self):
        """(Q, tmp1, tmp2): Q = softmax(-unary), float32 (n_labels, n_pixels);
        tmp1 and tmp2 are empty placeholders kept for pydensecrf's calls."""
        q = _new_tensor(_lib.ed_densecrf_start_inference, self._crf).numpy()
        return q, np.empty((0, 0), np.float32), np.empty((0, 0), np.float32)

    def stepInference(self, Q, tmp1=None, tmp2=None):
        """One mean-field iteration, updating Q (a numpy array) in place."""
        op = f"{self._name}.stepInference"
        L, N = self._nlabel, self._nvar
        if not isinstance(Q, np.ndarray) or Q.dtype.kind != "f" or Q.shape != (L, N) or not Q.flags.writeable:
            got = (f"{type(Q).__name__}" if not isinstance(Q, np.ndarray) else
                   f"shape {Q.shape}, dtype {Q.dtype}{'' if Q.flags.writeable else ', read-only'}")
            raise Error(f"{op}: Q must be the writable float32 ({L}, {N}) array startInference returned, got {got}")
        t = tensor(np.ascontiguousarray(Q, dtype=np.float32))
        _check(_lib.ed_densecrf_step_inference(self._crf, t._h))
        Q[...] = t.numpy()

    def klDivergence(self, Q):
        """pydensecrf's KL divergence (up to a constant) of Q from the CRF."""
        q = self._lp_array(f"{self._name}.klDivergence", "Q", Q)
        kl = _c.c_double()
        t = tensor(q)
        _check(_lib.ed_densecrf_kl_divergence(self._crf, t._h, _c.byref(kl)))
        return kl.value


class DenseCRF2D(DenseCRF):
    """A CRF over a W x H image, pixel y * W + x (pydensecrf's DenseCRF2D:
    width first)."""

    _name = "DenseCRF2D"

    def __init__(self, w, h, n_labels):
        op = self._name
        self.w, self.h = _int(op, "w", w, 1), _int(op, "h", h, 1)
        self._nlabel = _int(op, "n_labels", n_labels, 1)
        self._nvar = self.w * self.h
        self._crf = None
        hd = _c.c_void_p()
        _check(_lib.ed_densecrf_new_2d(self.w, self.h, self._nlabel, _c.byref(hd)))
        self._crf = hd

    def __repr__(self):
        return f"encdec.crf.DenseCRF2D(w={self.w}, h={self.h}, n_labels={self.n_labels})"

    @property
    def n_labels(self):
        return self._nlabel

    def _unary(self, op, u):
        """(n_labels, n_pixels), or (n_labels, H, W) flattened."""
        L, W, H = self._nlabel, self.w, self.h
        if isinstance(u, np.ndarray) and u.ndim == 3:
            if u.shape == (L, H, W):
                u = u.reshape(L, H * W)
            elif u.shape == (L, W, H):
                raise Error(f"{op}: unary must be (n_labels, n_pixels) = ({L}, {W * H}) or (n_labels, H, W) = "
                            f"({L}, {H}, {W}), got {u.shape}: width and height swapped? DenseCRF2D takes "
                            f"(w, h, n_labels) and arrays are (H, W)")
        return self._lp_array(op, "unary", u)

    def addPairwiseGaussian(self, sxy=3, compat=3, kernel=DIAG_KERNEL, normalization=NORMALIZE_SYMMETRIC):
        """Features (x / sx, y / sy); sxy a number or (sx, sy)."""
        op = "DenseCRF2D.addPairwiseGaussian"
        sx, sy = _pair(op, "sxy", sxy, 2)
        p, keep = self._pairwise(op, compat, kernel, normalization)
        _check(_lib.ed_densecrf_add_gaussian(self._crf, sx, sy, _c.byref(p)))
        del keep

    def addPairwiseBilateral(self, sxy=80, srgb=13, rgbim=None, compat=10, kernel=DIAG_KERNEL,
                             normalization=NORMALIZE_SYMMETRIC):
        """Features (x / sx, y / sy, r / sr, g / sg, b / sb); rgbim uint8
        (H, W, 3); sxy a number or 2, srgb a number or 3."""
        op = "DenseCRF2D.addPairwiseBilateral"
        sx, sy = _pair(op, "sxy", sxy, 2)
        sr, sg, sb = _pair(op, "srgb", srgb, 3)
        W, H = self.w, self.h
        want = f"uint8 (H, W, 3) = ({H}, {W}, 3)"
        if isinstance(rgbim, Tensor):
            rgbim = rgbim.numpy()
        if rgbim is None:
            raise Error(f"{op}: rgbim is required: the image, {want}")
        img = np.asarray(rgbim)
        if img.dtype != np.uint8:
            raise Error(f"{op}: rgbim must be {want}, got dtype {img.dtype} (convert 0..255 values with "
                        f".astype(np.uint8); scale 0..1 floats by 255 first)")
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[:2] != (H, W):
            if img.ndim == 3 and img.shape[:2] == (W, H) and img.shape[2] == 3:
                why = f": width and height swapped? DenseCRF2D takes (w, h, n_labels) = ({W}, {H}, ...)"
            elif img.ndim == 3 and img.shape[0] == 3 and img.shape[1:] == (H, W):
                why = ": channels first? use np.transpose(img, (1, 2, 0))"
            elif img.ndim == 3 and img.shape[:2] == (H, W):
                why = f": {img.shape[2]} channels; use an RGB image (or addPairwiseEnergy with create_pairwise_bilateral)"
            else:
                why = ""
            raise Error(f"{op}: rgbim must be {want}, got {img.shape}{why}")
        p, keep = self._pairwise(op, compat, kernel, normalization)
        t = tensor(np.ascontiguousarray(img))
        _check(_lib.ed_densecrf_add_bilateral(self._crf, sx, sy, sr, sg, sb, t._h, _c.byref(p)))
        del keep, t


# ---- pydensecrf.utils --------------------------------------------------------------

def unary_from_softmax(sm, scale=None, clip=1e-5):
    """-log(clip(p)) of class probabilities sm (n_labels, ...): float32
    (n_labels, prod(...)). scale in (0, 1] mixes in the uniform
    distribution: p = scale * sm + (1 - scale) / n_labels."""
    op = "unary_from_softmax"
    if isinstance(sm, Tensor):
        sm = sm.numpy()
    a = np.asarray(sm)
    if a.dtype.kind not in "biuf":
        raise Error(f"{op}: sm must be probabilities (n_labels, ...), got dtype {a.dtype}")
    if a.ndim < 1 or a.size == 0:
        raise Error(f"{op}: sm must be (n_labels, ...) with no zero size, got {a.shape}")
    if scale is not None and not (isinstance(scale, numbers.Real) and 0 < scale <= 1):
        raise Error(f"{op}: scale must be in (0, 1] or None, got {scale!r}")
    if clip is not None and not (isinstance(clip, numbers.Real) and 0 <= clip <= 1):
        raise Error(f"{op}: clip must be in [0, 1] or None, got {clip!r}")
    t = tensor(np.ascontiguousarray(a, dtype=np.float32))
    return _new_tensor(_lib.ed_crf_unary_from_softmax, t._h, 0.0 if scale is None else float(scale),
                       -1.0 if clip is None else float(clip)).numpy()


def unary_from_labels(labels, n_labels, gt_prob, zero_unsure=True):
    """Energies (n_labels, labels.size), float32: -log(gt_prob) for each
    pixel's label, -log((1 - gt_prob) / (n_labels - 1)) for the others. With
    zero_unsure, value 0 means "unknown" (uniform) and 1..n_labels are labels
    0..n_labels-1."""
    op = "unary_from_labels"
    if isinstance(labels, Tensor):
        labels = labels.numpy()
    a = np.asarray(labels)
    if a.dtype.kind not in "iu":
        raise Error(f"{op}: labels must be an integer array, got dtype {a.dtype}")
    if a.size == 0:
        raise Error(f"{op}: labels is empty, shape {a.shape}")
    n_labels = _int(op, "n_labels", n_labels, 2)
    if not (isinstance(gt_prob, numbers.Real) and 0 < gt_prob < 1):
        raise Error(f"{op}: gt_prob must be in (0, 1), got {gt_prob!r}")
    lo, hi = int(a.min()), int(a.max())
    top = n_labels if zero_unsure else n_labels - 1
    if lo < 0 or hi > top:
        bad = lo if lo < 0 else hi
        raise Error(f"{op}: labels must be in 0..{top} ({'0 unsure, 1..n_labels the labels' if zero_unsure else '0..n_labels-1'}"
                    f" for n_labels {n_labels}), got {bad}")
    t = tensor(np.ascontiguousarray(a, dtype=np.int64).reshape(-1))
    return _new_tensor(_lib.ed_crf_unary_from_labels, t._h, n_labels, float(gt_prob), int(bool(zero_unsure))).numpy()


def _scales(op, name, v, n, what):
    if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)):
        raise Error(f"{op}: {name} must be {n} numbers, one per {what}, got the number {v!r}")
    try:
        v = [float(x) for x in v]
    except (TypeError, ValueError):
        raise Error(f"{op}: {name} must be {n} numbers, one per {what}, got {v!r}") from None
    if len(v) != n:
        raise Error(f"{op}: {name} must be {n} numbers, one per {what}, got {len(v)}: {v}")
    if not all(x > 0 and np.isfinite(x) for x in v):
        raise Error(f"{op}: {name} must be > 0 and finite, got {v}")
    return v


def _mesh(shape, sdims):
    mesh = np.array(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), dtype=np.float32)
    for i, s in enumerate(sdims):
        mesh[i] /= np.float32(s)
    return mesh


def create_pairwise_gaussian(sdims, shape):
    """Features (len(shape), prod(shape)) float32: the coordinates of each
    point (row-major, first axis first) divided by sdims. For an image,
    shape (H, W) and sdims (sy, sx)."""
    op = "create_pairwise_gaussian"
    try:
        shape = tuple(_int(op, "shape", s, 1) for s in shape)
    except TypeError:
        raise Error(f"{op}: shape must be a sequence of sizes, got {shape!r}") from None
    if not shape:
        raise Error(f"{op}: shape is empty")
    sdims = _scales(op, "sdims", sdims, len(shape), "axis of shape " + str(shape))
    return _mesh(shape, sdims).reshape(len(sdims), -1)


def create_pairwise_bilateral(sdims, schan, img, chdim=-1):
    """Features (n_axes + n_channels, n_points) float32: the coordinates of
    each point divided by sdims, then its channels divided by schan. chdim
    is the image's channel axis; -1 means it has none (one channel). For an
    (H, W, 3) RGB image: sdims (sy, sx), schan (sr, sg, sb), chdim=2."""
    op = "create_pairwise_bilateral"
    if isinstance(img, Tensor):
        img = img.numpy()
    a = np.asarray(img)
    if a.dtype.kind not in "biuf" or a.ndim < 1:
        raise Error(f"{op}: img must be a numeric array, got dtype {a.dtype}, shape {a.shape}")
    chdim = _int(op, "chdim", chdim)
    if chdim == -1:
        feat = a[np.newaxis].astype(np.float32)
    else:
        if not 0 <= chdim < a.ndim:
            raise Error(f"{op}: chdim must be -1 (no channel axis) or 0..{a.ndim - 1} for img of shape {a.shape},"
                        f" got {chdim}")
        feat = np.moveaxis(a, chdim, 0).astype(np.float32)
    spatial = feat.shape[1:]
    if len(spatial) == 0:
        raise Error(f"{op}: img of shape {a.shape} has no spatial axes")
    sd_n = len(sdims) if hasattr(sdims, "__len__") else 1
    if sd_n != len(spatial) and chdim == -1 and a.ndim == sd_n + 1:
        raise Error(f"{op}: sdims has {sd_n} entries but img {a.shape} with chdim=-1 (no channel axis) has "
                    f"{len(spatial)} spatial axes; for a channels-last image pass chdim={a.ndim - 1}")
    sdims = _scales(op, "sdims", sdims, len(spatial), f"spatial axis of {spatial}")
    if isinstance(schan, numbers.Real) and not isinstance(schan, (bool, np.bool_)):
        if not (schan > 0 and np.isfinite(schan)):
            raise Error(f"{op}: schan must be > 0 and finite, got {schan!r}")
        feat /= np.float32(schan)
    else:
        schan = _scales(op, "schan", schan, feat.shape[0], f"channel (img {a.shape}, chdim={chdim})")
        for i, s in enumerate(schan):
            feat[i] /= np.float32(s)
    feats = np.concatenate([_mesh(spatial, sdims), feat])
    return feats.reshape(feats.shape[0], -1)
