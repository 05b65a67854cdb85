"""Layer stacks: ``arch.yaml`` parsing, shapes, parameters, MACs, receptive fields.

Parse once with :func:`load_network` / :func:`parse_network`; every
calculator takes the parsed :class:`Network` (or its :class:`Trace`) and
never reads YAML again. No deep-learning framework is imported.
"""

from cnnfilter.arch.layers import LAYER_TYPES, Layer, Network, Shape
from cnnfilter.arch.parse import load_network, parse_network

__all__ = ["LAYER_TYPES", "Layer", "Network", "Shape", "load_network", "parse_network"]
