"""Image codecs beyond Pillow's, and image metadata, for :mod:`cnnfilter.imageio`.

* :mod:`cnnfilter.codecs.deep`: 16-bit colour (RGB, RGBA, gray + alpha) PNG
  and TIFF, and float colour TIFF, which Pillow cannot hold (it cuts them to
  8 bits). Optional extra ``cnnfilter[16bit]`` (imagecodecs + tifffile),
  imported only when such a file is read or written.
* :mod:`cnnfilter.codecs.meta`: ICC profiles, EXIF, resolution and PNG text
  read from a file and carried to the output; conversion to sRGB.
* :mod:`cnnfilter.codecs.formats`: the readable and writable formats, from
  Pillow's registry and the 16-bit codecs (``cnnfilter formats``).

Only :mod:`cnnfilter.imageio` imports this package.
"""
