"""Image files: the only module that opens or writes them (through Pillow).

Reading gives a :class:`LoadedImage`: the pixel array ``(H, W)`` (gray) or
``(H, W, 3)`` (RGB) in its stored dtype (uint8, uint16 for 16-bit gray,
float32 for 32-bit float TIFF), the alpha channel apart, and the value of
full white. Modes are mapped as follows:

=========================  ====================================================
Pillow mode                pixels
=========================  ====================================================
L, 1                       (H, W) uint8
I;16, I;16B, I;16L         (H, W) uint16 (kept 16-bit)
I                          (H, W) uint16 when its values fit, else float32
F                          (H, W) float32 (max_value 1.0)
RGB, CMYK, YCbCr, LAB, HSV (H, W, 3) uint8 (converted to RGB)
RGBA, LA, PA, P            colour or gray plus alpha; palette images are
                           expanded (to RGBA when they carry transparency)
=========================  ====================================================

The EXIF orientation is applied once, on reading. Writing is atomic: the
bytes go to a temporary file in the target folder, which is renamed over the
target only when complete, so an interrupted run leaves no partial file.

The package's modules, by concern (each imports only those above it):

* :mod:`~cnnfilter.imageio.limits`: available memory, pixel limits, input-file checks;
* :mod:`~cnnfilter.imageio.pixels`: :class:`LoadedImage`, Pillow modes into arrays;
* :mod:`~cnnfilter.imageio.npy`: ``.npy`` feature maps;
* :mod:`~cnnfilter.imageio.reading`: files, stdin and streams, decoding and its errors;
* :mod:`~cnnfilter.imageio.targets`: what an output path is (file, stream, null device);
* :mod:`~cnnfilter.imageio.formats`: output formats, size limits, bit depth, Netpbm kinds;
* :mod:`~cnnfilter.imageio.encoding`: arrays into bytes, save options, metadata;
* :mod:`~cnnfilter.imageio.writing`: atomic writes, standard output.

The names below are the public interface: import them from ``cnnfilter.imageio``.
"""

from __future__ import annotations

from cnnfilter.imageio.encoding import (
    DEFAULT_PNG_COMPRESS_LEVEL,
    DEFAULT_PNG_STRATEGY,
    encode_image,
    encode_picture,
)
from cnnfilter.imageio.formats import (
    IMAGE_EXTENSIONS,
    MAX_ROWS_COLS,
    NETPBM_VARIANTS,
    check_format_matches,
    check_output_size,
    fit_bit_depth,
    fit_netpbm,
    netpbm_variant,
    output_format,
    stdout_format,
)
from cnnfilter.imageio.limits import (
    DEFAULT_MAX_PIXELS,
    MAX_BYTES_PER_PIXEL,
    PILLOW_GUARD_PIXELS,
    STDIO,
    STREAM_SLACK_BYTES,
    WORKING_SET_BYTES_PER_PIXEL,
    available_memory,
    check_input_file,
    default_max_pixels,
)
from cnnfilter.imageio.npy import NPY_SIGNATURE, read_array
from cnnfilter.imageio.pixels import LoadedImage
from cnnfilter.imageio.reading import decode_image, read_image, read_stream_bounded
from cnnfilter.imageio.targets import OutputTarget, is_null_output, output_target
from cnnfilter.imageio.writing import (
    is_complete_output,
    write_bytes_atomic,
    write_image,
    write_stdout,
)

__all__ = [
    "LoadedImage",
    "output_format",
    "stdout_format",
    "encode_picture",
    "netpbm_variant",
    "fit_netpbm",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_PNG_COMPRESS_LEVEL",
    "read_image",
    "decode_image",
    "encode_image",
    "write_image",
    "write_bytes_atomic",
    "OutputTarget",
    "output_target",
    "is_null_output",
    "is_complete_output",
    "IMAGE_EXTENSIONS",
    "STDIO",
    "check_format_matches",
    "write_stdout",
    "read_array",
    "check_input_file",
    "fit_bit_depth",
    "check_output_size",
    "available_memory",
    "default_max_pixels",
    "read_stream_bounded",
    "PILLOW_GUARD_PIXELS",
    "WORKING_SET_BYTES_PER_PIXEL",
    "MAX_BYTES_PER_PIXEL",
    "STREAM_SLACK_BYTES",
    "NPY_SIGNATURE",
    "DEFAULT_PNG_STRATEGY",
    "MAX_ROWS_COLS",
    "NETPBM_VARIANTS",
]
