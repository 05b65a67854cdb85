"""The workflow layer: one function per command, between the CLI and the library.

Each task takes plain values (paths, numbers, names), runs the library
(:mod:`cnnfilter.engine`, :mod:`cnnfilter.imageio`, :mod:`cnnfilter.kernels`,
:mod:`cnnfilter.arch`, :mod:`cnnfilter.render`) and returns a result object
whose ``report`` is a dict: the JSON document the command prints with
``--json``. Tasks never print, exit or import Typer or Rich; the CLI
(:mod:`cnnfilter.cli`) parses options, calls one task and renders its result.

=================  ==========================================================
module             command
=================  ==========================================================
:mod:`.apply`      ``apply`` on one file (and each file of a batch)
:mod:`.batch`      ``apply`` on many files: inputs, output names, workers
:mod:`.detect`     ``detect``: response map, peaks, pictures
:mod:`.pool`       ``pool``: pooling, the formula per axis, pictures
:mod:`.arch`       ``params`` and ``receptive-field``
:mod:`.kernels`    ``kernels``: the registry listing
=================  ==========================================================
"""
