"""Images larger than memory: tiled TIFF/BigTIFF (tifffile) and Zarr, read and written by parts.

:class:`LargeArray` opens a source lazily and reads only the rectangles asked
for (``array[r0:r1, c0:c1]``); it pickles as its path, so Dask workers on
other processes or machines open it themselves.
:func:`write_tiled_tiff` and :func:`write_zarr` store a ``dask.array`` block
row by block row (TIFF) or block by block (Zarr), so memory stays bounded.

Why tifffile + Zarr: tifffile is the reference TIFF library of scientific
Python (the ``16bit`` extra already brings it); its ``aszarr`` view reads
single tiles of a tiled TIFF or BigTIFF through the Zarr interface, and it
writes tiled BigTIFF from an iterator of tiles. The alternative, libvips
(pyvips), streams faster but needs a 20 MB C library outside pip on many
systems and has no float64 or NumPy-native blocks. Zarr (v2 and v3 stores)
is the chunked array format Dask reads and writes natively (``da.to_zarr``),
one file per chunk, written in parallel by the workers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from cnnfilter.errors import ProcessingError, UsageError

__all__ = [
    "EXTRA",
    "LargeArray",
    "is_zarr_path",
    "large_format",
    "write_tiled_tiff",
    "write_zarr",
    "TIFF_TILE",
]

#: How to install what this module needs.
EXTRA = "pip install 'cnnfilter[dask]'"

#: Side of the tiles of a written TIFF, pixels (a multiple of 16, as TIFF requires).
TIFF_TILE = 256

_TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8")


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"large images (chunked=True) need {module}: {EXTRA}") from None


def is_zarr_path(path: str | Path) -> bool:
    """A ``.zarr`` name, or a folder holding Zarr metadata."""
    p = Path(path)
    if p.suffix.lower() == ".zarr":
        return True
    try:
        return p.is_dir() and any((p / m).exists() for m in (".zarray", "zarr.json"))
    except OSError:  # a name too long, a loop: not a Zarr folder (reported by the caller)
        return False


def large_format(path: str | Path) -> str:
    """``"ZARR"`` or ``"TIFF"`` for a chunked input or output.

    Raises:
        UsageError: any other format.
    """
    if is_zarr_path(path):
        return "ZARR"
    if Path(path).suffix.lower() in _TIFF_SUFFIXES:
        return "TIFF"
    raise UsageError(
        f"{str(path)!r}: a chunked run reads and writes a tiled TIFF/BigTIFF (.tif) or a "
        "Zarr array (.zarr); convert the image or run without chunked=True"
    )


class LargeArray:
    """A read-only ``(H, W)`` or ``(H, W, C)`` array on disk, read by slices.

    Attributes:
        path: the file or folder.
        shape, dtype: of the array (series 0, level 0 of a TIFF).

    Raises:
        UsageError: a missing file, an unsupported format, or an array that is
            not 2-D or 3-D (samples last).
        ProcessingError: the file cannot be read.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if not os.path.exists(self.path):
            raise UsageError(f"input image {self.path!r} does not exist")
        self.format = large_format(self.path)
        self._array = None
        self._store = None
        arr = self._open()
        self.shape = tuple(int(n) for n in arr.shape)
        self.dtype = np.dtype(arr.dtype)
        self.close()  # reopened by the first read (here or in a Dask worker)
        if len(self.shape) not in (2, 3) or 0 in self.shape:
            raise UsageError(
                f"{self.path!r} holds an array of shape {self.shape}; a chunked run needs "
                "(H, W) or (H, W, C) with the samples last"
            )
        if self.dtype.kind not in "biuf":
            raise UsageError(f"{self.path!r} holds {self.dtype} values; numbers are needed")

    def _open(self):
        if self._array is not None:
            return self._array
        zarr = _need("zarr")
        try:
            if self.format == "ZARR":
                arr = zarr.open_array(self.path, mode="r")
            else:
                tifffile = _need("tifffile")
                store = tifffile.imread(self.path, aszarr=True, series=0, level=0)
                self._store = store
                arr = zarr.open(store, mode="r")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ProcessingError(f"cannot read {self.path!r}: {exc}") from None
        self._array = arr
        return arr

    @property
    def max_value(self) -> float:
        """Full white of the stored values: the integer maximum, or 1.0 for floats."""
        if self.dtype.kind in "ui":
            return float(np.iinfo(self.dtype).max)
        return 1.0

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, key):
        if self.format == "ZARR":
            return np.asarray(self._open()[key])
        # a TIFF is opened for each read and closed after it: tifffile's store keeps file
        # handles (its FileCache) that outlive close() on copies Dask makes of this object
        zarr, tifffile = _need("zarr"), _need("tifffile")
        try:
            store = tifffile.imread(self.path, aszarr=True, series=0, level=0)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ProcessingError(f"cannot read {self.path!r}: {exc}") from None
        try:
            return np.asarray(zarr.open(store, mode="r")[key])
        finally:
            _close_store(store)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None, "_store": None}

    def close(self) -> None:
        """Close the open TIFF file (a copy on a Dask worker reopens its own)."""
        store, self._store, self._array = self._store, None, None
        if store is not None:
            _close_store(store)

    def __del__(self) -> None:
        # copies made by Dask (pickled or copied: __getstate__) open their own store on the
        # first read and are never closed by the task: close them when they go
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to close
            pass

    def __enter__(self) -> LargeArray:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _temp_near(target: Path, suffix: str) -> str:
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"output folder {str(folder)!r} does not exist; create it first")
    fd, name = tempfile.mkstemp(prefix=".cnnf-", suffix=suffix, dir=folder)
    os.close(fd)
    return name


def _check_clobber(target: Path, force: bool) -> None:
    if os.path.lexists(target) and not force:
        raise UsageError(f"output {str(target)!r} already exists; add force=True to replace it")


def write_tiled_tiff(target: str | Path, darr, *, force: bool, tile: int = TIFF_TILE) -> int:
    """Write a 2-D/3-D dask array as a tiled BigTIFF, one row of blocks in memory at a time.

    The file is written under a temporary name and renamed when complete.
    Returns the bytes written.

    Raises:
        UsageError: ``target`` exists without ``force``; its folder is missing.
        ProcessingError: the write failed.
    """
    tifffile = _need("tifffile")
    target = Path(target)
    _check_clobber(target, force)
    height, width = darr.shape[:2]
    band = max(tile, (max(darr.chunks[0]) // tile) * tile)
    darr = darr.rechunk({0: band})
    extra = tuple(darr.shape[2:])

    def tiles():
        for y0 in range(0, height, band):
            rows = np.asarray(darr[y0 : y0 + band].compute())
            for ty in range(0, rows.shape[0], tile):
                for tx in range(0, width, tile):
                    part = rows[ty : ty + tile, tx : tx + tile]
                    if part.shape[:2] != (tile, tile):
                        full = np.zeros((tile, tile) + extra, dtype=rows.dtype)
                        full[: part.shape[0], : part.shape[1]] = part
                        part = full
                    yield part

    tmp = _temp_near(target, ".tif")
    photometric = "rgb" if extra in ((3,), (4,)) else "minisblack"
    try:
        tifffile.imwrite(
            tmp, tiles(), shape=darr.shape, dtype=darr.dtype, tile=(tile, tile),
            bigtiff=True, photometric=photometric, metadata=None,
        )  # fmt: skip
        os.replace(tmp, target)
    except OSError as exc:
        raise ProcessingError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return target.stat().st_size


def write_zarr(target: str | Path, darr, *, force: bool) -> int:
    """Write a dask array as a Zarr array (one file per block), into a temporary folder renamed.

    With a ``distributed`` client active, the workers write their blocks
    (the folder must be on a file system they share). Returns the bytes written.

    Raises:
        UsageError, ProcessingError: as :func:`write_tiled_tiff`.
    """
    _need("zarr")
    target = Path(target)
    _check_clobber(target, force)
    tmp = _temp_near(target, ".zarr")
    os.unlink(tmp)
    try:
        darr.to_zarr(tmp, overwrite=True)
        if os.path.lexists(target):
            old = tmp + ".old"
            os.replace(target, old) if target.is_file() else os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True) if os.path.isdir(old) else os.unlink(old)
        else:
            os.rename(tmp, target)
    except OSError as exc:
        raise ProcessingError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None
    finally:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return sum(f.stat().st_size for f in target.rglob("*") if f.is_file())


def _close_store(store) -> None:
    """Close a tifffile Zarr store and the file handles its cache kept open.

    The store's FileCache keeps a handle it reopened for reads (its "keep"
    set), which ``close()`` leaves open; it is closed here too.
    """
    store.close()
    cache = getattr(store, "_filecache", None)
    for handle in list(getattr(cache, "files", {}) or {}):
        handle.close()
