"""The convolution layers on one ``(H, W, C)`` map: conv2d, separable, transposed and
locally connected.

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
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnnfilter.engine.geometry import AxisGeometry, as_pair, resolve_axes
from cnnfilter.engine.layers.base import F32, IntPair, _vector, as_map
from cnnfilter.errors import UsageError

#: Bytes of one im2col block (rows * W_out * kh * kw * C_in * 4); bounds the
#: extra memory of a strided convolution.
_IM2COL_BYTES = 16 << 20


#: Below this many input channels per group, the stride-1 path also uses
#: im2col: a GEMM with an inner dimension of 3 (an RGB stem) runs far below
#: BLAS speed, and concatenating the taps makes it kh * kw times deeper.
_FEW_CHANNELS = 16


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
