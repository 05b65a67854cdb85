"""The forward pass of CNN layers on one image: pure functions on float32 arrays.

Layout: every feature map is ``(H, W, C)`` -- rows, columns, channels -- for
ONE image (no batch axis), the layout of the rest of the engine and of
images on disk. Weights keep PyTorch's layouts (``(out, in/groups, kh, kw)``
for a convolution, ``(out, in)`` for a dense layer) so that a PyTorch
``state_dict`` loads unchanged; :func:`keras_to_torch` converts Keras'
``(kh, kw, in, out)``. Vectors (after :func:`flatten` or a global pool) are
``(N,)``. Every function returns float32 (inputs are cast once with
:func:`as_map`); each is checked against PyTorch 2.13 in
``tests/engine/test_layers_forward.py`` (outputs made by
``tests/data/make_torch_forward_ref.py``).

Convolution (:func:`conv2d`) is cross-correlation, as in every CNN library,
computed as matrix products over the input channels (BLAS), never one 2-D
filter per (in, out) pair; two ways, both "im2col by taps":

* stride 1 (``tap`` path): the zero-padded input is one contiguous
  ``(Hp * Wp, C_in)`` matrix; tap ``(i, j)`` of the kernel reads the rows
  starting at ``i d Wp + j d`` of it -- a view, no copy -- and adds
  ``view @ W_tap`` (``(C_in, C_out)``) into a ``(H_out * Wp, C_out)``
  accumulator whose last ``Wp - W_out`` columns are cut off at the end
  (they wrap round the row and are wasted work, ``k_eff - 1`` columns);
* stride > 1, or few input channels (``im2col`` path): per block of output
  rows, the taps' strided views are copied side by side into one
  ``(rows * W_out, kh kw C_in)`` matrix and multiplied once by the
  ``(kh kw C_in, C_out)`` weight (a single large GEMM instead of ``kh kw``
  thin ones, which is what makes a 7 x 7 stem on 3 channels fast).

Groups split the channels: ``groups == 1`` is one matrix product per tap,
``C_in == groups`` (depthwise) is a broadcast multiply-add per tap (a
product over one channel is not worth a GEMM), other groupings a batched
``np.matmul`` over the groups.

Geometry comes from :mod:`cnnfilter.engine.geometry` (the one output-size
formula): ``padding`` is an int, ``(ph, pw)``, ``(top, bottom, left,
right)``, ``"valid"`` or ``"same"``. ``"same"`` follows
``same_padding(rule="tensorflow")``, which at stride 1 is exactly PyTorch's
``padding="same"`` (total ``d (k - 1)``, the odd pixel after); PyTorch
refuses ``"same"`` at stride > 1, TensorFlow defines it and so do we.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cnnfilter.engine.geometry import AxisGeometry, as_pair, resolve_axes
from cnnfilter.engine.pooling import pool2d, pool_spec
from cnnfilter.errors import UsageError

__all__ = [
    "ACTIVATIONS",
    "as_map",
    "keras_to_torch",
    "conv2d",
    "separable_conv2d",
    "conv_transpose2d",
    "conv_transpose_output_size",
    "batchnorm",
    "group_norm",
    "layer_norm",
    "layer_scale",
    "locally_connected2d",
    "softplus",
    "mish",
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "hardswish",
    "hardsigmoid",
    "sigmoid",
    "tanh",
    "softmax",
    "prelu",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "adaptive_ranges",
    "global_avg_pool",
    "global_max_pool",
    "upsample",
    "dense",
    "flatten",
    "add",
    "multiply",
    "concat",
    "channel_shuffle",
    "dropout",
]

F32 = np.float32
IntPair = int | Sequence[int]

#: Bytes of one im2col block (rows * W_out * kh * kw * C_in * 4); bounds the
#: extra memory of a strided convolution.
_IM2COL_BYTES = 16 << 20
#: Below this many input channels per group, the stride-1 path also uses
#: im2col: a GEMM with an inner dimension of 3 (an RGB stem) runs far below
#: BLAS speed, and concatenating the taps makes it kh * kw times deeper.
_FEW_CHANNELS = 16


# ----------------------------------------------------------------- inputs


def as_map(x: np.ndarray, *, name: str = "x", ndim: int | tuple[int, ...] = 3) -> np.ndarray:
    """``x`` as a float32 array of ``ndim`` dimensions (no copy when it already is).

    Raises:
        UsageError: wrong number of dimensions, empty, or not numbers.
    """
    x = np.asarray(x)
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if x.ndim not in dims or x.size == 0:
        want = " or ".join(f"{d}-D" for d in dims)
        raise UsageError(f"{name} must be a non-empty {want} array (H x W x C), got {x.shape}")
    if x.dtype.kind not in "biuf":
        raise UsageError(f"{name} must hold numbers, got dtype {x.dtype}")
    return x.astype(F32, copy=False)


def _vector(v, n: int, name: str) -> np.ndarray:
    v = np.asarray(v, dtype=F32).reshape(-1)
    if v.shape != (n,):
        raise UsageError(f"{name} must have {n} values (one per channel), got {v.size}")
    return v


def keras_to_torch(weight: np.ndarray, *, depthwise: bool = False) -> np.ndarray:
    """A Keras/TensorFlow weight in PyTorch's layout.

    * conv ``(kh, kw, in, out)`` -> ``(out, in, kh, kw)``;
    * depthwise conv (``depthwise=True``) ``(kh, kw, in, m)`` ->
      ``(in * m, 1, kh, kw)``, output channel ``c * m + k`` (PyTorch's order
      for ``groups=in``, and Keras' ``DepthwiseConv2D``);
    * dense ``(in, out)`` -> ``(out, in)``.

    Both libraries compute cross-correlation, so no kernel is flipped.

    Raises:
        UsageError: an array that is neither 2-D nor 4-D.

    >>> keras_to_torch(np.zeros((3, 5, 2, 7))).shape
    (7, 2, 3, 5)
    >>> keras_to_torch(np.zeros((3, 3, 4, 2)), depthwise=True).shape
    (8, 1, 3, 3)
    """
    w = np.asarray(weight)
    if w.ndim == 2:
        return np.ascontiguousarray(w.T)
    if w.ndim != 4:
        raise UsageError(f"a Keras weight is (in, out) or (kh, kw, in, out), got {w.shape}")
    if depthwise:
        kh, kw, cin, m = w.shape
        return np.ascontiguousarray(w.transpose(2, 3, 0, 1).reshape(cin * m, 1, kh, kw))
    return np.ascontiguousarray(w.transpose(3, 2, 0, 1))


# ----------------------------------------------------------------- convolution


def _conv_axes(shape, kernel_hw, padding, stride, dilation) -> tuple[AxisGeometry, AxisGeometry]:
    rows, cols = resolve_axes(
        shape,
        kernel_hw,
        padding,
        stride=stride,
        dilation=dilation,
        same_rule="tensorflow",
        names=("same", "valid"),
    )
    for what, ax in (("row", rows), ("column", cols)):
        if ax.out <= 0:
            raise UsageError(
                f"the output would be empty: a {what} kernel spans {ax.effective_kernel_size} "
                f"pixels but the padded input has {ax.n + ax.pad_before + ax.pad_after}; "
                "use a smaller kernel or dilation, or more padding"
            )
    return rows, cols


def _check_conv_weight(x: np.ndarray, weight: np.ndarray, groups: int) -> np.ndarray:
    w = np.asarray(weight, dtype=F32)
    if w.ndim != 4:
        raise UsageError(f"weight must be (out, in/groups, kh, kw), got shape {w.shape}")
    if not (isinstance(groups, int) and groups >= 1):
        raise UsageError(f"groups must be an integer >= 1, got {groups!r}")
    cin, cout = x.shape[2], w.shape[0]
    if cin % groups or cout % groups:
        raise UsageError(
            f"groups={groups} must divide the input channels ({cin}) and the output "
            f"channels ({cout})"
        )
    if w.shape[1] * groups != cin:
        raise UsageError(
            f"weight {w.shape} expects {w.shape[1] * groups} input channels "
            f"(in/groups={w.shape[1]} x groups={groups}), the input has {cin}"
        )
    return w


def _padded(x: np.ndarray, rows: AxisGeometry, cols: AxisGeometry, extra_rows: int = 0):
    """``x`` zero-padded, plus ``extra_rows`` zero rows at the bottom; C-contiguous."""
    h, w, c = x.shape
    hp = rows.pad_before + h + rows.pad_after + extra_rows
    wp = cols.pad_before + w + cols.pad_after
    if hp == h and wp == w and x.flags.c_contiguous:
        return x
    xp = np.zeros((hp, wp, c), dtype=F32)
    xp[rows.pad_before : rows.pad_before + h, cols.pad_before : cols.pad_before + w] = x
    return xp


def _tap_weights(w: np.ndarray, groups: int) -> np.ndarray:
    """``(out, in/g, kh, kw)`` -> ``(kh, kw, g, in/g, out/g)``: per tap and group, in @ W."""
    cout, cig, kh, kw = w.shape
    cog = cout // groups
    return np.ascontiguousarray(w.reshape(groups, cog, cig, kh, kw).transpose(3, 4, 0, 2, 1))


def _accumulate(acc: np.ndarray, a: np.ndarray, wt: np.ndarray, groups: int) -> None:
    """``acc (P, g, cog) += a (P, g * cig) @ wt (g, cig, cog)`` per group."""
    p = a.shape[0]
    g, cig, cog = wt.shape
    if g == 1:
        acc[:, 0] += a @ wt[0]
    elif cig == 1:
        # depthwise: one input channel per group, a broadcast multiply-add
        acc += a[:, :, None] * wt[:, 0]
    else:
        acc += np.matmul(a.reshape(p, g, cig).transpose(1, 0, 2), wt).transpose(1, 0, 2)


def _conv_taps(xp, rows, cols, wt, groups) -> np.ndarray:
    """Stride 1: per tap, a shifted view of the flattened padded input times W_tap."""
    kh, kw, g, cig, cog = wt.shape
    hp, wp, c = xp.shape
    flat = xp.reshape(hp * wp, c)
    n = rows.out * wp
    acc = np.zeros((n, g, cog), dtype=F32)
    for i in range(kh):
        for j in range(kw):
            start = i * rows.dilation * wp + j * cols.dilation
            _accumulate(acc, flat[start : start + n], wt[i, j], groups)
    return acc.reshape(rows.out, wp, g * cog)[:, : cols.out]


def _conv_im2col(xp, rows, cols, wt, groups) -> np.ndarray:
    """Any stride: per block of output rows, the taps side by side, one GEMM per group."""
    kh, kw, g, cig, cog = wt.shape
    c = xp.shape[2]
    taps = kh * kw
    # (g, taps * cig, cog) with K ordered (tap, channel) to match the columns below
    wmat = wt.reshape(taps, g, cig, cog).transpose(1, 0, 2, 3).reshape(g, taps * cig, cog)
    out = np.empty((rows.out, cols.out, g * cog), dtype=F32)
    row_bytes = cols.out * taps * c * 4
    block = max(1, min(rows.out, _IM2COL_BYTES // max(row_bytes, 1)))
    # every window of the padded input as a view (oh, ow, kh, kw, C): the last two axes
    # of one kernel row are kw * C contiguous floats when dilation is 1, so one copy per
    # block gathers long runs (a copy per tap moves runs of C floats: 20x slower at C = 3)
    es = xp.strides
    windows = np.lib.stride_tricks.as_strided(
        xp,
        shape=(rows.out, cols.out, kh, kw, c),
        strides=(rows.stride * es[0], cols.stride * es[1], rows.dilation * es[0],
                 cols.dilation * es[1], es[2]),
        writeable=False,
    )  # fmt: skip
    for r0 in range(0, rows.out, block):
        r1 = min(r0 + block, rows.out)
        cols_mat = np.ascontiguousarray(windows[r0:r1])
        p = (r1 - r0) * cols.out
        if g == 1:
            res = cols_mat.reshape(p, taps * cig) @ wmat[0]
        else:
            a_mat = cols_mat.reshape(p, taps, g, cig).transpose(2, 0, 1, 3).reshape(g, p, -1)
            res = np.matmul(a_mat, wmat).transpose(1, 0, 2)
        out[r0:r1] = res.reshape(r1 - r0, cols.out, g * cog)
    return out


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: IntPair = 1,
    padding: int | Sequence[int] | str = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> np.ndarray:
    """2-D cross-correlation layer (``torch.nn.functional.conv2d``) on one ``(H, W, C_in)`` map.

    ``out[y, x, o] = b[o] + sum_{c in group(o), i, j} w[o, c', i, j] *
    in[y s + i d - p_top, x s + j d - p_left, c]`` with zeros outside the
    input. Output size per axis: ``floor((n + p_before + p_after - d (k - 1)
    - 1) / s) + 1`` (:func:`cnnfilter.engine.geometry.output_size`).

    Args:
        x: ``(H, W, C_in)`` map (cast to float32).
        weight: ``(C_out, C_in / groups, kh, kw)``, PyTorch's layout
            (:func:`keras_to_torch` converts Keras').
        bias: ``(C_out,)`` or None.
        stride, dilation: int or ``(rows, cols)``, >= 1.
        padding: int, ``(ph, pw)``, ``(top, bottom, left, right)``,
            ``"valid"`` or ``"same"`` (see the module notes).
        groups: channel groups; ``groups == C_in`` is a depthwise convolution.

    Returns:
        ``(H_out, W_out, C_out)`` float32.

    Raises:
        UsageError: shapes that do not fit (named in the message), bad
            geometry, or an empty output.

    >>> x = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    >>> conv2d(x, np.ones((1, 1, 2, 2)), stride=2)[..., 0]
    array([[10., 18.],
           [42., 50.]], dtype=float32)
    """
    x = as_map(x)
    w = _check_conv_weight(x, weight, groups)
    cout, cig, kh, kw = w.shape
    rows, cols = _conv_axes(x.shape, (kh, kw), padding, stride, dilation)
    wt = _tap_weights(w, groups)
    stride1 = rows.stride == cols.stride == 1
    if stride1 and (cig >= _FEW_CHANNELS or cig == 1 or kh * kw == 1):
        # one spare zero row: the last tap's view runs k_eff_w - 1 elements past the end
        xp = _padded(x, rows, cols, extra_rows=1 if kw > 1 else 0)
        out = _conv_taps(xp, rows, cols, wt, groups)
    else:
        out = _conv_im2col(_padded(x, rows, cols), rows, cols, wt, groups)
    if bias is not None:
        out = out + _vector(bias, cout, "bias")
    return np.ascontiguousarray(out)


def separable_conv2d(
    x: np.ndarray,
    depthwise_weight: np.ndarray,
    pointwise_weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: IntPair = 1,
    padding: int | Sequence[int] | str = 0,
    dilation: IntPair = 1,
) -> np.ndarray:
    """Depthwise then 1 x 1 convolution (Keras' ``SeparableConv2D``, MobileNet's block).

    Args:
        x: ``(H, W, C)``.
        depthwise_weight: ``(C * m, 1, kh, kw)`` (``groups = C``).
        pointwise_weight: ``(C_out, C * m, 1, 1)``.
        bias: ``(C_out,)`` or None, added after the pointwise step.
        stride, padding, dilation: of the depthwise step, as :func:`conv2d`.

    Returns:
        ``(H_out, W_out, C_out)`` float32.
    """
    x = as_map(x)
    mid = conv2d(
        x, depthwise_weight, stride=stride, padding=padding, dilation=dilation, groups=x.shape[2]
    )
    return conv2d(mid, pointwise_weight, bias)


def conv_transpose_output_size(
    n: int, kernel_size: int, *, stride: int = 1, padding: int = 0,
    output_padding: int = 0, dilation: int = 1,
) -> int:  # fmt: skip
    """Output length of a transposed convolution along one axis.

    ``out = (n - 1) s - 2 p + d (k - 1) + output_padding + 1``, the formula of
    PyTorch's ``torch.nn.ConvTranspose2d`` docs (the input size of the
    :func:`conv2d` whose gradient it is; ``output_padding < max(s, d)``
    picks one of the ``s`` input sizes that conv2d maps to ``n``).

    Raises:
        UsageError: ``output_padding`` not below ``stride`` or ``dilation``
            (PyTorch's rule), or an output of size < 1.

    >>> conv_transpose_output_size(4, 3, stride=2, padding=1, output_padding=1)
    8
    """
    if not 0 <= output_padding < max(stride, dilation):
        raise UsageError(
            f"output_padding must be >= 0 and smaller than stride or dilation "
            f"(PyTorch's rule), got output_padding={output_padding}, stride={stride}, "
            f"dilation={dilation}"
        )
    out = (n - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    if out < 1:
        raise UsageError(f"the transposed convolution's output would be empty ({out})")
    return out


def conv_transpose2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: IntPair = 1,
    padding: IntPair = 0,
    output_padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> np.ndarray:
    """Transposed convolution (``F.conv_transpose2d``) of one ``(H, W, C_in)`` map.

    Every input pixel scatters ``x[y, x, :] @ W`` onto the output at
    ``(y s + i d - p, x s + j d - p)`` for each tap ``(i, j)``: one matrix
    product per group for all taps (``(H W, C_in) @ (C_in, kh kw C_out)``),
    then one strided add per tap. Output size per axis:
    :func:`conv_transpose_output_size` (PyTorch's formula).

    Args:
        x: ``(H, W, C_in)``.
        weight: ``(C_in, C_out / groups, kh, kw)``, PyTorch's ConvTranspose2d
            layout (note: in and out swapped compared with :func:`conv2d`).
        bias: ``(C_out,)`` or None.
        stride, padding, output_padding, dilation: int or ``(rows, cols)``;
            ``padding`` removes ``p`` pixels from both sides of the output,
            ``output_padding`` adds pixels at the bottom/right.
        groups: channel groups.

    Returns:
        ``(H_out, W_out, C_out)`` float32.

    Raises:
        UsageError: shapes that do not fit, or PyTorch's output_padding rule.
    """
    x = as_map(x)
    w = np.asarray(weight, dtype=F32)
    if w.ndim != 4 or w.shape[0] != x.shape[2] or w.shape[0] % groups:
        raise UsageError(
            f"weight must be (C_in={x.shape[2]}, out/groups, kh, kw) with C_in divisible by "
            f"groups={groups}, got {w.shape}"
        )
    cin, cog, kh, kw = w.shape
    g, cig = groups, cin // groups
    s, p = as_pair(stride, name="stride"), as_pair(padding, name="padding", minimum=0)
    op = as_pair(output_padding, name="output_padding", minimum=0)
    d = as_pair(dilation, name="dilation")
    h, wd = x.shape[:2]
    oh, ow = (
        conv_transpose_output_size(n, k, stride=si, padding=pi, output_padding=oi, dilation=di)
        for n, k, si, pi, oi, di in zip((h, wd), (kh, kw), s, p, op, d, strict=True)
    )
    # scatter into the uncropped canvas, then cut p from the top/left
    fh = max((h - 1) * s[0] + d[0] * (kh - 1) + 1, p[0] + oh)
    fw = max((wd - 1) * s[1] + d[1] * (kw - 1) + 1, p[1] + ow)
    canvas = np.zeros((fh, fw, g, cog), dtype=F32)
    # (g, cig, kh * kw * cog): each group's input channels -> every tap's outputs
    wmat = w.reshape(g, cig, cog, kh, kw).transpose(0, 1, 3, 4, 2).reshape(g, cig, -1)
    a = x.reshape(h * wd, g, cig).transpose(1, 0, 2)
    prod = np.matmul(a, wmat).reshape(g, h, wd, kh, kw, cog)
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * d[0], j * d[1]
            target = canvas[
                r0 : r0 + (h - 1) * s[0] + 1 : s[0], c0 : c0 + (wd - 1) * s[1] + 1 : s[1]
            ]
            target += prod[:, :, :, i, j].transpose(1, 2, 0, 3)
    out = canvas[p[0] : p[0] + oh, p[1] : p[1] + ow].reshape(oh, ow, g * cog)
    if bias is not None:
        out = out + _vector(bias, g * cog, "bias")
    return np.ascontiguousarray(out, dtype=F32)


# ----------------------------------------------------------------- normalisation


def batchnorm(
    x: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    *,
    eps: float = 1e-5,
) -> np.ndarray:
    """Batch normalisation at inference (``torch.nn.BatchNorm2d`` in ``eval()`` mode).

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel (last
    axis), with the stored running statistics; computed as one scale and one
    shift per channel, as PyTorch does. ``weight``/``bias`` None mean 1 / 0
    (``affine=False``).

    Args:
        x: ``(..., C)``.
        running_mean, running_var, weight, bias: ``(C,)``.
        eps: added to the variance (PyTorch's default 1e-5; Keras' 1e-3).

    Returns:
        Same shape as ``x``, float32.

    Raises:
        UsageError: a vector of the wrong length, or a negative variance.
    """
    x = as_map(x, ndim=(1, 2, 3))
    c = x.shape[-1]
    var = _vector(running_var, c, "running_var").astype(np.float64)
    if (var < 0).any():
        raise UsageError("running_var must be >= 0 (it is a variance)")
    scale = 1.0 / np.sqrt(var + eps)
    if weight is not None:
        scale = scale * _vector(weight, c, "weight")
    shift = -_vector(running_mean, c, "running_mean") * scale
    if bias is not None:
        shift = shift + _vector(bias, c, "bias")
    out = x * scale.astype(F32)
    out += shift.astype(F32)
    return out


def group_norm(
    x: np.ndarray,
    num_groups: int,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    *,
    eps: float = 1e-5,
) -> np.ndarray:
    """Group normalisation (Wu & He 2018; ``torch.nn.GroupNorm``) of one ``(H, W, C)`` map.

    The channels are cut into ``num_groups`` consecutive groups; each group's
    ``H W C / G`` values are normalised by their own mean and biased
    variance: ``y = (x - mean_g) / sqrt(var_g + eps) * weight[c] + bias[c]``.
    Statistics in float64. ``num_groups = 1`` is LayerNorm over (H, W, C);
    ``num_groups = C`` is InstanceNorm.

    Raises:
        UsageError: ``num_groups`` does not divide the channels, vectors of the wrong length.
    """
    x = as_map(x)
    h, w, c = x.shape
    if not (isinstance(num_groups, int) and num_groups >= 1 and c % num_groups == 0):
        raise UsageError(
            f"num_groups={num_groups!r} must be an integer dividing the channels ({c})"
        )
    g = x.reshape(h * w, num_groups, c // num_groups).astype(np.float64)
    mean = g.mean(axis=(0, 2), keepdims=True)
    var = ((g - mean) ** 2).mean(axis=(0, 2), keepdims=True)
    y = ((g - mean) / np.sqrt(var + eps)).reshape(h, w, c)
    if weight is not None:
        y = y * _vector(weight, c, "weight")
    if bias is not None:
        y = y + _vector(bias, c, "bias")
    return y.astype(F32)


def layer_norm(
    x: np.ndarray,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    *,
    eps: float = 1e-5,
) -> np.ndarray:
    """Layer normalisation over the channels at each position (``torch.nn.LayerNorm(C)`` on
    channels-last data, ConvNeXt's use; Keras ``LayerNormalization(axis=-1)``).

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, mean and biased
    variance over the last axis (Ba et al. 2016), in float64.

    Args:
        x: ``(..., C)``.
        weight, bias: ``(C,)`` or None (1 / 0).

    Raises:
        UsageError: vectors of the wrong length.
    """
    x = as_map(x, ndim=(1, 2, 3))
    c = x.shape[-1]
    v = x.astype(np.float64)
    mean = v.mean(axis=-1, keepdims=True)
    var = ((v - mean) ** 2).mean(axis=-1, keepdims=True)
    y = (v - mean) / np.sqrt(var + eps)
    if weight is not None:
        y = y * _vector(weight, c, "weight")
    if bias is not None:
        y = y + _vector(bias, c, "bias")
    return y.astype(F32)


def layer_scale(x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """``x * gamma`` per channel (ConvNeXt's layer scale, Touvron et al. 2021 "CaiT").

    Raises:
        UsageError: ``gamma`` not one value per channel.
    """
    x = as_map(x, ndim=(1, 2, 3))
    return x * _vector(gamma, x.shape[-1], "gamma")


def locally_connected2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: IntPair = 1,
    padding: int | Sequence[int] | str = 0,
) -> np.ndarray:
    """Locally connected layer (Keras ``LocallyConnected2D``): a convolution whose filter
    differs at every output position (cross-correlation, no weight sharing).

    ``out[y, x, f] = b[y, x, f] + sum_{c, i, j} w[y, x, f, c, i, j] *
    in[y s + i - p_top, x s + j - p_left, c]``; output size as :func:`conv2d`.
    Computed as one batched product over the positions:
    ``(Ho Wo, 1, C kh kw) @ (Ho Wo, C kh kw, F)``.

    Args:
        x: ``(H, W, C)``.
        weight: ``(Ho, Wo, F, C, kh, kw)`` (per position, PyTorch's conv order).
        bias: ``(Ho, Wo, F)`` or None.

    Raises:
        UsageError: shapes that do not fit.
    """
    x = as_map(x)
    w = np.asarray(weight, dtype=F32)
    if w.ndim != 6 or w.shape[3] != x.shape[2]:
        raise UsageError(
            f"weight must be (out_h, out_w, filters, C={x.shape[2]}, kh, kw), got {w.shape}"
        )
    oh, ow, f, c, kh, kw = w.shape
    rows, cols = _conv_axes(x.shape, (kh, kw), padding, stride, 1)
    if (rows.out, cols.out) != (oh, ow):
        raise UsageError(
            f"weight is for a {oh} x {ow} output, this input gives {rows.out} x {cols.out}"
        )
    xp = _padded(x, rows, cols)
    es = xp.strides
    windows = np.lib.stride_tricks.as_strided(
        xp,
        shape=(oh, ow, c, kh, kw),
        strides=(rows.stride * es[0], cols.stride * es[1], es[2], es[0], es[1]),
        writeable=False,
    )
    a = np.ascontiguousarray(windows).reshape(oh * ow, 1, c * kh * kw)
    wm = w.reshape(oh * ow, f, c * kh * kw).transpose(0, 2, 1)
    out = np.matmul(a, wm).reshape(oh, ow, f)
    if bias is not None:
        b = np.asarray(bias, dtype=F32)
        if b.shape != (oh, ow, f):
            raise UsageError(f"bias must be ({oh}, {ow}, {f}), got {b.shape}")
        out = out + b
    return np.ascontiguousarray(out, dtype=F32)


# ----------------------------------------------------------------- activations


def relu(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)``."""
    return np.maximum(as_map(x, ndim=(1, 2, 3)), F32(0))


def relu6(x: np.ndarray) -> np.ndarray:
    """``min(max(x, 0), 6)`` (MobileNet)."""
    return np.clip(as_map(x, ndim=(1, 2, 3)), F32(0), F32(6))


def leaky_relu(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """``x`` where ``x >= 0``, else ``negative_slope * x`` (PyTorch's default slope 0.01)."""
    x = as_map(x, ndim=(1, 2, 3))
    return np.where(x >= 0, x, x * F32(negative_slope))


def elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """``x`` where ``x > 0``, else ``alpha (exp(x) - 1)`` (Clevert et al. 2016)."""
    x = as_map(x, ndim=(1, 2, 3))
    return np.where(x > 0, x, F32(alpha) * np.expm1(np.minimum(x, F32(0))))


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """Gaussian error linear unit (Hendrycks & Gimpel 2016), as ``torch.nn.GELU``.

    ``approximate="none"``: ``x Phi(x) = x (1 + erf(x / sqrt 2)) / 2`` with
    scipy.special.erf (a ufunc, float32 in and out; ``math.erf`` is one
    Python call per value, about 1000x slower on a feature map, and SciPy is
    already a dependency); ``"tanh"``: ``x (1 + tanh(sqrt(2/pi) (x + 0.044715
    x^3))) / 2``.

    Raises:
        UsageError: another ``approximate``.
    """
    x = as_map(x, ndim=(1, 2, 3))
    if approximate == "none":
        from scipy.special import erf

        return (F32(0.5) * x * (F32(1) + erf(x * F32(1 / math.sqrt(2))))).astype(F32)
    if approximate == "tanh":
        inner = F32(math.sqrt(2 / math.pi)) * (x + F32(0.044715) * x * x * x)
        return F32(0.5) * x * (F32(1) + np.tanh(inner))
    raise UsageError(f"approximate must be 'none' or 'tanh', got {approximate!r}")


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` (scipy.special.expit: no overflow for large ``|x|``)."""
    from scipy.special import expit

    return expit(as_map(x, ndim=(1, 2, 3)))


def silu(x: np.ndarray) -> np.ndarray:
    """``x sigmoid(x)`` (SiLU / swish)."""
    x = as_map(x, ndim=(1, 2, 3))
    return x * sigmoid(x)


def hardsigmoid(x: np.ndarray) -> np.ndarray:
    """``relu6(x + 3) / 6`` (MobileNetV3, PyTorch's form)."""
    x = as_map(x, ndim=(1, 2, 3))
    return np.clip(x + F32(3), F32(0), F32(6)) / F32(6)


def hardswish(x: np.ndarray) -> np.ndarray:
    """``x relu6(x + 3) / 6`` (MobileNetV3)."""
    x = as_map(x, ndim=(1, 2, 3))
    return x * np.clip(x + F32(3), F32(0), F32(6)) / F32(6)


def tanh(x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent."""
    return np.tanh(as_map(x, ndim=(1, 2, 3)))


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the channels (the last axis; PyTorch's ``dim=1`` of N x C x H x W).

    ``exp(x - max) / sum exp(x - max)``: the maximum is subtracted first, so
    no overflow.
    """
    x = as_map(x, ndim=(1, 2, 3))
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def prelu(x: np.ndarray, weight: np.ndarray | float) -> np.ndarray:
    """``x`` where ``x >= 0``, else ``weight * x`` (He et al. 2015); one weight or ``(C,)``.

    Raises:
        UsageError: ``weight`` neither one value nor one per channel.
    """
    x = as_map(x, ndim=(1, 2, 3))
    w = np.asarray(weight, dtype=F32).reshape(-1)
    if w.size != 1:
        w = _vector(w, x.shape[-1], "weight")
    return np.where(x >= 0, x, x * w)


def softplus(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """``log(1 + exp(beta x)) / beta``, and ``x`` where ``beta x > threshold``
    (``torch.nn.Softplus``'s defaults and rule); ``np.logaddexp`` avoids the overflow."""
    x = as_map(x, ndim=(1, 2, 3))
    bx = x * F32(beta)
    return np.where(bx > threshold, x, np.logaddexp(F32(0), bx) / F32(beta)).astype(F32)


def mish(x: np.ndarray) -> np.ndarray:
    """``x tanh(softplus(x))`` (Misra 2019; ``torch.nn.Mish``)."""
    x = as_map(x, ndim=(1, 2, 3))
    return (x * np.tanh(np.logaddexp(F32(0), x))).astype(F32)


#: Activation name -> function (element-wise, or over the channels for softmax).
ACTIVATIONS = {
    "relu": relu,
    "relu6": relu6,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "gelu": gelu,
    "silu": silu,
    "hardswish": hardswish,
    "hardsigmoid": hardsigmoid,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "softplus": softplus,
    "mish": mish,
    "prelu": prelu,
}


# ----------------------------------------------------------------- pooling


def max_pool2d(
    x: np.ndarray,
    kernel_size: IntPair,
    *,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """``torch.nn.MaxPool2d`` on ``(H, W, C)``: the engine's pooling (PyTorch-exact).

    All channels at once; output size, ``-inf`` padding, ``ceil_mode`` and
    PyTorch's ``padding <= k // 2`` rule as that module documents.
    """
    spec = pool_spec(
        "max", kernel_size, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode
    )
    return pool2d(as_map(x), spec)


def avg_pool2d(
    x: np.ndarray,
    kernel_size: IntPair,
    *,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """``torch.nn.AvgPool2d`` on ``(H, W, C)``: the engine's pooling (PyTorch's divisor rule)."""
    spec = pool_spec(
        "avg", kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
    )  # fmt: skip
    return pool2d(as_map(x), spec).astype(F32, copy=False)


def adaptive_ranges(n: int, out: int) -> list[tuple[int, int]]:
    """The ``[start, end)`` windows of adaptive pooling ``n -> out`` along one axis.

    ``start = floor(i n / out)``, ``end = ceil((i + 1) n / out)``: PyTorch's
    ``start_index``/``end_index`` (aten/src/ATen/native/AdaptivePooling.h).
    Windows cover the axis, may overlap, and differ in length by at most one.

    >>> adaptive_ranges(5, 3)
    [(0, 2), (1, 4), (3, 5)]
    """
    if out < 1:
        raise UsageError(f"adaptive pooling output size must be >= 1, got {out}")
    return [((i * n) // out, -(-((i + 1) * n) // out)) for i in range(out)]


def _adaptive(x: np.ndarray, output_size: IntPair, reduce) -> np.ndarray:
    x = as_map(x)
    oh, ow = as_pair(output_size, name="output_size")
    rows = np.stack([reduce(x[a:b], axis=0) for a, b in adaptive_ranges(x.shape[0], oh)])
    return np.stack([reduce(rows[:, a:b], axis=1) for a, b in adaptive_ranges(x.shape[1], ow)], 1)


def adaptive_avg_pool2d(x: np.ndarray, output_size: IntPair) -> np.ndarray:
    """``torch.nn.AdaptiveAvgPool2d``: ``(H, W, C)`` -> ``(oh, ow, C)`` (:func:`adaptive_ranges`).

    Rows are averaged first, then columns (the mean over a rectangle is the
    mean of its row means): ``oh + ow`` NumPy reductions.
    """
    return _adaptive(x, output_size, np.mean).astype(F32, copy=False)


def adaptive_max_pool2d(x: np.ndarray, output_size: IntPair) -> np.ndarray:
    """``torch.nn.AdaptiveMaxPool2d``: ``(H, W, C)`` -> ``(oh, ow, C)``, see adaptive_ranges."""
    return _adaptive(x, output_size, np.max)


def global_avg_pool(x: np.ndarray, *, keepdims: bool = False) -> np.ndarray:
    """Mean over rows and columns: ``(H, W, C)`` -> ``(C,)`` (``(1, 1, C)`` with ``keepdims``)."""
    return as_map(x).mean(axis=(0, 1), keepdims=keepdims, dtype=np.float64).astype(F32)


def global_max_pool(x: np.ndarray, *, keepdims: bool = False) -> np.ndarray:
    """Maximum over rows and columns: ``(H, W, C)`` -> ``(C,)``; ``(1, 1, C)`` with keepdims."""
    return as_map(x).max(axis=(0, 1), keepdims=keepdims)


# ----------------------------------------------------------------- resizing


def _resize_target(n: int, size: int | None, scale: float | None) -> int:
    if size is not None:
        return int(size)
    return int(math.floor(n * float(scale)))  # PyTorch: floor(input_size * scale_factor)


def _src_scale(n: int, out: int, scale: float | None, align_corners: bool) -> np.float32:
    """PyTorch's ``area_pixel_compute_scale`` (aten/src/ATen/native/UpSample.h)."""
    if align_corners:
        return F32((n - 1) / (out - 1)) if out > 1 else F32(0)
    if scale is not None and scale > 0:
        return F32(1.0 / scale)
    return F32(n) / F32(out)


def _nearest_index(n: int, out: int, scale: float | None, mode: str) -> np.ndarray:
    dst = np.arange(out, dtype=F32)
    s = _src_scale(n, out, scale, False)
    if mode == "nearest-exact":
        src = np.floor((dst + F32(0.5)) * s)
    elif out == n:
        src = dst
    elif out == 2 * n:
        src = np.floor(dst / 2)  # PyTorch's shortcut: output_index >> 1
    else:
        src = np.floor(dst * s)
    return np.minimum(src.astype(np.int64), n - 1)


def _linear_weights(n: int, out: int, scale: float | None, align_corners: bool):
    """Indices ``i0, i1`` and weight ``lam`` of ``(1 - lam) x[i0] + lam x[i1]`` per output."""
    s = _src_scale(n, out, scale, align_corners)
    dst = np.arange(out, dtype=F32)
    if align_corners:
        src = s * dst
    else:
        src = np.maximum(s * (dst + F32(0.5)) - F32(0.5), F32(0))
    i0 = np.minimum(src.astype(np.int64), n - 1)  # src >= 0, so truncation is floor
    i1 = np.minimum(i0 + 1, n - 1)
    lam = (src - i0).astype(F32)
    return i0, i1, lam


def upsample(
    x: np.ndarray,
    *,
    size: IntPair | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool = False,
) -> np.ndarray:
    """``torch.nn.Upsample`` / ``F.interpolate`` of ``(H, W, C)``: nearest or bilinear.

    Output size: ``size``, or ``floor(n * scale_factor)`` per axis. Source
    coordinate of output pixel ``o`` (aten/src/ATen/native/UpSample.h,
    ``area_pixel_compute_source_index`` and ``nearest_idx``), with
    ``scale = 1 / scale_factor`` when a factor is given, else ``n / out``:

    * ``"nearest"``: ``min(floor(o * scale), n - 1)`` (legacy PyTorch/OpenCV
      rule, not centred); ``"nearest-exact"``: ``floor((o + 0.5) * scale)``;
    * ``"bilinear"``, ``align_corners=False``: ``max(scale (o + 0.5) - 0.5,
      0)`` (pixel centres aligned); ``align_corners=True``:
      ``o (n - 1) / (out - 1)`` (corner pixels aligned, the factor ignored).
      Then ``(1 - l) x[i0] + l x[i0 + 1]`` per axis (rows, then columns).

    Raises:
        UsageError: neither or both of ``size`` and ``scale_factor``, an
            unknown mode, or ``align_corners`` with a nearest mode.
    """
    x = as_map(x)
    if (size is None) == (scale_factor is None):
        raise UsageError("give exactly one of size and scale_factor")
    if mode not in ("nearest", "nearest-exact", "bilinear"):
        raise UsageError(f"mode must be 'nearest', 'nearest-exact' or 'bilinear', got {mode!r}")
    if align_corners and mode != "bilinear":
        raise UsageError("align_corners applies to mode='bilinear' only")
    sizes = (None, None) if size is None else as_pair(size, name="size")
    if scale_factor is None:
        scales = (None, None)
    elif isinstance(scale_factor, int | float):
        scales = (float(scale_factor), float(scale_factor))
    else:
        scales = tuple(float(v) for v in scale_factor)
    out = x
    for axis in (0, 1):
        n = x.shape[axis]
        m = _resize_target(n, sizes[axis], scales[axis])
        if m < 1:
            raise UsageError(f"the resized size would be {m}; use a larger size or factor")
        if mode == "bilinear":
            i0, i1, lam = _linear_weights(n, m, scales[axis], align_corners)
            shape = (-1, 1, 1) if axis == 0 else (1, -1, 1)
            lam = lam.reshape(shape)
            a, b = np.take(out, i0, axis=axis), np.take(out, i1, axis=axis)
            out = a + lam * (b - a)
        else:
            out = np.take(out, _nearest_index(n, m, scales[axis], mode), axis=axis)
    return np.ascontiguousarray(out, dtype=F32)


# ----------------------------------------------------------------- dense and shape


def dense(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``torch.nn.Linear`` on the last axis: ``x @ weight.T + bias``.

    Args:
        x: ``(..., in)``, e.g. ``(N,)`` after :func:`flatten` or ``(H, W,
            C)`` (then it is a 1 x 1 convolution).
        weight: ``(out, in)``, PyTorch's layout (Keras' ``(in, out)``:
            :func:`keras_to_torch`).
        bias: ``(out,)`` or None.

    Returns:
        ``(..., out)`` float32.

    Raises:
        UsageError: ``weight``'s ``in`` differs from ``x``'s last axis.
    """
    x = as_map(x, ndim=(1, 2, 3))
    w = np.asarray(weight, dtype=F32)
    if w.ndim != 2 or w.shape[1] != x.shape[-1]:
        raise UsageError(
            f"weight must be (out, in={x.shape[-1]}) for an input of {x.shape}, got {w.shape}"
        )
    y = x @ w.T
    if bias is not None:
        y = y + _vector(bias, w.shape[0], "bias")
    return y


def flatten(x: np.ndarray, order: str = "chw") -> np.ndarray:
    """``(H, W, C)`` -> ``(H W C,)`` in the order a following dense layer's weights expect.

    ``order="chw"``: channel by channel, each row by row -- what
    ``torch.flatten`` gives on PyTorch's ``C x H x W`` tensors, so a
    ``Linear`` weight trained in PyTorch needs it. ``order="hwc"``: pixel by
    pixel, all channels of a pixel together -- Keras' ``Flatten`` on its
    channels-last ``H x W x C`` tensors (and NumPy's own ``ravel``). The same
    numbers in another order would silently scramble the dense layer.

    Raises:
        UsageError: another ``order``.
    """
    x = as_map(x, ndim=(1, 2, 3))
    if order == "chw":
        return np.ascontiguousarray(np.moveaxis(x, -1, 0)).reshape(-1)
    if order == "hwc":
        return x.reshape(-1)
    raise UsageError(f"order must be 'chw' (PyTorch) or 'hwc' (Keras), got {order!r}")


def _same_shapes(name: str, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    maps = [as_map(a, name=name, ndim=(1, 2, 3)) for a in arrays]
    if not maps:
        raise UsageError(f"{name} needs at least one input")
    shapes = {m.shape for m in maps}
    if len(shapes) > 1:
        raise UsageError(f"{name} needs inputs of one shape, got {sorted(shapes)}")
    return maps


def add(*arrays: np.ndarray) -> np.ndarray:
    """Element-wise sum of maps of one shape (a residual connection)."""
    maps = _same_shapes("add", arrays)
    out = maps[0].copy()
    for m in maps[1:]:
        out += m
    return out


def multiply(*arrays: np.ndarray) -> np.ndarray:
    """Element-wise product of maps of one shape (attention gates, squeeze-excitation)."""
    maps = _same_shapes("multiply", arrays)
    out = maps[0].copy()
    for m in maps[1:]:
        out *= m
    return out


def concat(*arrays: np.ndarray) -> np.ndarray:
    """Maps of one ``H x W`` stacked along the channels (``torch.cat(dim=1)``), in order.

    Raises:
        UsageError: no input, or inputs of different ``H x W``.
    """
    maps = [as_map(a, name="concat") for a in arrays]
    if not maps:
        raise UsageError("concat needs at least one input")
    sizes = {m.shape[:2] for m in maps}
    if len(sizes) > 1:
        raise UsageError(f"concat needs inputs of one H x W, got {sorted(sizes)}")
    return np.concatenate(maps, axis=-1)


def channel_shuffle(x: np.ndarray, groups: int) -> np.ndarray:
    """ShuffleNet's channel shuffle (``torch.nn.ChannelShuffle``) of ``(H, W, C)``.

    Channels viewed as ``(groups, C / groups)``, transposed, flattened: output
    channel ``i * groups + k`` is input channel ``k * (C / groups) + i``.

    Raises:
        UsageError: ``groups`` does not divide the channels.

    >>> channel_shuffle(np.arange(6).reshape(1, 1, 6), 2)[0, 0]
    array([0., 3., 1., 4., 2., 5.], dtype=float32)
    """
    x = as_map(x)
    h, w, c = x.shape
    if not (isinstance(groups, int) and groups >= 1 and c % groups == 0):
        raise UsageError(f"groups={groups!r} must be an integer dividing the channels ({c})")
    return np.ascontiguousarray(x.reshape(h, w, groups, c // groups).transpose(0, 1, 3, 2)).reshape(
        h, w, c
    )


def dropout(x: np.ndarray, p: float = 0.5) -> np.ndarray:
    """Identity: dropout does nothing at inference (PyTorch's ``eval()``), ``p`` is ignored."""
    return as_map(x, ndim=(1, 2, 3))
