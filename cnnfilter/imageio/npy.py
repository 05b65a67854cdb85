"""NumPy ``.npy`` arrays: feature maps read with their header checked before the data."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from cnnfilter.errors import ProcessingError, UsageError
from cnnfilter.imageio.limits import (
    DEFAULT_MAX_PIXELS,
    _check_pixels,
    available_memory,
    check_input_file,
)
from cnnfilter.imageio.pixels import LoadedImage


def read_array(path: str | Path, *, max_elements: int = DEFAULT_MAX_PIXELS * 4) -> np.ndarray:
    """Read a NumPy ``.npy`` file (no pickles) holding numbers, e.g. a feature map.

    Returns the stored array as it is (any shape; callers check it).

    Raises:
        UsageError: the file does not exist or is a directory.
        ProcessingError: not a readable ``.npy`` file, a pickled (object)
            array, non-numeric values, or more than ``max_elements`` values.
    """
    p = check_input_file(path, role="input array")
    try:
        fh = open(p, "rb")
    except OSError as exc:
        raise ProcessingError(f"cannot read {str(p)!r}: {exc.strerror or exc}") from None
    with fh:
        return _load_npy(fh, name=str(p), max_elements=max_elements)


#: The first bytes of every ``.npy`` file (NumPy's format, version 1, 2 or 3).
NPY_SIGNATURE = b"\x93NUMPY"


def _load_npy(fh, *, name: str, max_elements: int, max_pixels: int | None = None) -> np.ndarray:
    """An ``.npy`` array from an open binary file, its header checked before the data.

    ``max_pixels`` (optional) bounds ``H * W`` of an image-like array, as for images.
    """
    try:
        version = np.lib.format.read_magic(fh)
        header = (
            np.lib.format.read_array_header_1_0(fh)
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0(fh)
        )
        shape, _, dtype = header
        count = math.prod(shape)  # exact: a hostile header may overflow int64
        if count > max_elements:
            raise ProcessingError(
                f"{name!r} holds {count:,} values, above the limit of {max_elements:,}"
            )
        _check_npy_memory(name, count * dtype.itemsize)
        if dtype.kind not in "biuf":
            raise ProcessingError(f"{name!r} holds {dtype} values; only numeric arrays are read")
        if max_pixels is not None and len(shape) >= 2:
            _check_pixels(name, (shape[1], shape[0]), max_pixels)
        fh.seek(0)
        return np.load(fh, allow_pickle=False)
    except ProcessingError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise ProcessingError(f"{name!r} is not a readable .npy array: {exc}") from None


def _check_npy_memory(name: str, nbytes: int) -> None:
    """Refuse, from the header, an array whose data would not fit in available memory."""
    free = available_memory()
    if free is not None and nbytes > free:
        raise ProcessingError(
            f"{name!r} holds {nbytes:,} bytes of data (from its header), more than the "
            f"{free:,} bytes of memory available"
        )


def _array_image(fh, *, name: str, max_pixels: int, frame: int) -> LoadedImage:
    """A ``.npy`` feature map ``(H, W)`` or ``(H, W, C)`` as a :class:`LoadedImage`.

    uint8 and uint16 arrays are pixels of full white 255 and 65535; float32
    and float64 arrays are kept as they are, with full white 1.0 like a float
    TIFF; other numbers (bool, other integers, float16) become float64.
    ``(H, W, 1)`` becomes ``(H, W)``. No channel is taken for alpha.
    """
    arr = _load_npy(fh, name=name, max_elements=DEFAULT_MAX_PIXELS * 4, max_pixels=max_pixels)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise UsageError(
            f"{name!r} holds an array of shape {arr.shape}; an image or feature map must be "
            "(H, W) or (H, W, C)"
        )
    if frame:
        raise UsageError(f"{name!r} is a .npy array, which has one frame; frame= must be 0")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:
        white = 255.0 if arr.dtype == np.uint8 else 65535.0
    else:
        white = 1.0
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
    pixels = np.ascontiguousarray(arr)
    return LoadedImage(pixels, None, white, "array", "NPY", 1, 0)


def _npy_complete(fh) -> bool:
    version = np.lib.format.read_magic(fh)
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = read_header(fh)
    expected = fh.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    return os.fstat(fh.fileno()).st_size >= expected
