"""The layer kinds as a package (cnnfilter/arch/layers/): the public names at the package,
each defined once in its family module, and the ``activation`` option's own spelling table
in step with the registry's."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnfilter.arch import layers
from cnnfilter.arch.layers import options, registry
from cnnfilter.arch.layers.options import OptionError, _activation_name

SUBMODULES = sorted(m.name for m in pkgutil.iter_modules(layers.__path__))


def test_the_package_has_the_family_modules():
    assert SUBMODULES == [
        "activations",
        "base",
        "conv",
        "normalization",
        "options",
        "pooling",
        "registry",
        "structure",
    ]


@pytest.mark.parametrize("name", SUBMODULES)
def test_each_module_says_what_lives_there(name):
    module = importlib.import_module(f"cnnfilter.arch.layers.{name}")
    assert module.__doc__ and len(module.__doc__.split()) >= 10


@pytest.mark.parametrize("name", layers.__all__)
def test_every_public_name_is_the_one_of_its_home_module(name):
    obj = getattr(layers, name)
    homes = [
        m
        for m in SUBMODULES
        if name in vars(importlib.import_module(f"cnnfilter.arch.layers.{m}"))
        and getattr(importlib.import_module(f"cnnfilter.arch.layers.{m}"), name) is obj
    ]
    assert homes, name
    if isinstance(obj, type):  # a class says where it was defined
        assert obj.__module__.startswith("cnnfilter.arch.layers."), obj.__module__


def spellings() -> list[str]:
    """Every key of the registry's lookup, plus variants users write (case, _ and -)."""
    keys = sorted(registry._LOOKUP)
    names = sorted(registry.LAYER_TYPES)
    return [*keys, *names, *(n.upper() for n in names), *(n.replace("_", "-") for n in names)]


#: The option's one spelling the registry reads otherwise: Keras' activation="linear" is no
#: activation, while the layer type ``linear`` is PyTorch's nn.Linear (dense).
OPTION_ONLY = {"linear": "identity"}


@pytest.mark.parametrize("spelling", spellings())
def test_the_activation_option_reads_the_registrys_spellings(spelling):
    canonical = registry.canonical_type(spelling)
    if options._key(spelling) in OPTION_ONLY:
        assert _activation_name(spelling) == OPTION_ONLY[options._key(spelling)]
    elif canonical in options.ACTIVATIONS:
        assert _activation_name(spelling) == canonical
    else:
        with pytest.raises(OptionError, match="unknown activation"):
            _activation_name(spelling)


def test_the_activation_option_takes_swish_as_silu_and_refuses_a_layer_type():
    assert _activation_name("Swish") == "silu"
    assert _activation_name("leaky-ReLU") == "leaky_relu"
    assert _activation_name("Linear") == "identity"  # Keras' name for no activation
    assert _activation_name(None) is None
    with pytest.raises(OptionError, match="unknown activation 'conv2d'"):
        _activation_name("conv2d")


@given(st.text(max_size=12))
def test_the_activation_option_agrees_with_canonical_type_on_any_text(text):
    canonical = registry.canonical_type(text)
    if options._key(text) in OPTION_ONLY:
        assert _activation_name(text) == OPTION_ONLY[options._key(text)]
    elif canonical in options.ACTIVATIONS:
        assert _activation_name(text) == canonical
    else:
        with pytest.raises(OptionError):
            _activation_name(text)
