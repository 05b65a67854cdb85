"""The engine's layers as a package (cnnfilter/engine/layers/): each public name at the
package is the function of its family module, each module says what lives there, and the
activation table holds the functions of the activations module."""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest

from cnnfilter.engine import layers as L
from cnnfilter.engine.layers import activations

SUBMODULES = sorted(m.name for m in pkgutil.iter_modules(L.__path__))


def test_the_package_has_the_family_modules():
    assert SUBMODULES == [
        "activations",
        "base",
        "conv",
        "normalization",
        "pooling",
        "structure",
    ]


@pytest.mark.parametrize("name", SUBMODULES)
def test_each_module_says_what_lives_there(name):
    module = importlib.import_module(f"cnnfilter.engine.layers.{name}")
    assert module.__doc__ and len(module.__doc__.split()) >= 10


@pytest.mark.parametrize("name", L.__all__)
def test_every_public_name_is_defined_in_one_family_module(name):
    obj = getattr(L, name)
    if callable(obj):
        assert obj.__module__.startswith("cnnfilter.engine.layers."), obj.__module__
        home = importlib.import_module(obj.__module__)
    else:
        home = activations  # ACTIVATIONS, the one table that is not a function
    assert getattr(home, name) is obj


def test_the_activation_table_holds_the_activation_functions():
    assert all(f.__module__ == activations.__name__ for f in L.ACTIVATIONS.values())
    x = np.array([[[-2.0, 0.5]]], dtype=np.float32)
    np.testing.assert_array_equal(L.ACTIVATIONS["relu"](x), [[[0.0, 0.5]]])
    np.testing.assert_array_equal(L.ACTIVATIONS["relu6"](x * 20), [[[0.0, 6.0]]])
