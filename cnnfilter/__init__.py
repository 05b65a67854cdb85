"""cnnfilter: filter and inspect images the way the layers of a CNN do."""

__version__ = "0.1.0"
