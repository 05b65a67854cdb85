"""Make samples/models/article_cnn.onnx: a tiny ONNX image model for ``cnnfilter forward``.

Run from the repository root (needs ``pip install 'cnnfilter[onnx]'``):

    python samples/models/make_article_cnn.py

It stands in for an exported torchvision network (the docs cannot download one): a
``1 x 3 x 224 x 224`` float input, node names as ``torch.onnx.export`` writes them
(``/conv1/Conv``), and

* ``conv1``: the article's first layer, three 7 x 7 filters (vertical-lines,
  horizontal-lines and the curve detector from the kernel registry, each the same on the
  three colour channels, smaller kernels zero-padded round their centre), padding 3, no
  bias; then ReLU and 2 x 2 max pooling;
* ``conv2``: 8 filters 3 x 3 over the 3 maps of the first layer (He-normal random
  weights, seed 0), padding 1, then ReLU;
* global average pooling, flatten, and a dense layer to 4 outputs (random, seed 0).

The file is about 3 KB; tests/docs/test_onnx_sample.py checks that this script makes
exactly the shipped bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cnnfilter.kernels import resolve_kernel

HERE = Path(__file__).resolve().parent
TARGET = HERE / "article_cnn.onnx"
FIRST_LAYER = ("vertical-lines", "horizontal-lines", "curve")


def first_layer() -> np.ndarray:
    """``(3, 3, 7, 7)``: one filter per registry kernel, copied onto the 3 input channels."""
    out = np.zeros((len(FIRST_LAYER), 3, 7, 7), dtype=np.float32)
    for f, name in enumerate(FIRST_LAYER):
        k = resolve_kernel(name).weights
        top, left = (7 - k.shape[0]) // 2, (7 - k.shape[1]) // 2
        out[f, :, top : top + k.shape[0], left : left + k.shape[1]] = k
    return out


def model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w2 = (rng.standard_normal((8, 3, 3, 3)) * np.sqrt(2 / 27)).astype(np.float32)
    wf = (rng.standard_normal((4, 8)) * np.sqrt(2 / 8)).astype(np.float32)
    inits = {
        "conv1.weight": first_layer(),
        "conv2.weight": w2,
        "conv2.bias": np.zeros(8, np.float32),
        "fc.weight": wf,
        "fc.bias": np.zeros(4, np.float32),
    }
    n = helper.make_node
    nodes = [
        n("Conv", ["input", "conv1.weight"], ["/conv1/Conv_output_0"], name="/conv1/Conv",
          kernel_shape=[7, 7], pads=[3, 3, 3, 3]),
        n("Relu", ["/conv1/Conv_output_0"], ["/relu1/Relu_output_0"], name="/relu1/Relu"),
        n("MaxPool", ["/relu1/Relu_output_0"], ["/pool1/MaxPool_output_0"],
          name="/pool1/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        n("Conv", ["/pool1/MaxPool_output_0", "conv2.weight", "conv2.bias"],
          ["/conv2/Conv_output_0"], name="/conv2/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        n("Relu", ["/conv2/Conv_output_0"], ["/relu2/Relu_output_0"], name="/relu2/Relu"),
        n("GlobalAveragePool", ["/relu2/Relu_output_0"], ["/avgpool/GlobalAveragePool_output_0"],
          name="/avgpool/GlobalAveragePool"),
        n("Flatten", ["/avgpool/GlobalAveragePool_output_0"], ["/Flatten_output_0"],
          name="/Flatten"),
        n("Gemm", ["/Flatten_output_0", "fc.weight", "fc.bias"], ["output"], name="/fc/Gemm",
          transB=1),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "article_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    m = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="cnnfilter samples"
    )
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def main() -> int:
    TARGET.write_bytes(model().SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main())
