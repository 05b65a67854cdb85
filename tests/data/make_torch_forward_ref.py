"""Regenerate tests/data/torch_forward_ref.npz: PyTorch's outputs of a small random network.

Run once, by hand, in a throwaway environment that has PyTorch (the test suite
never imports torch):

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.13.0 numpy
    /tmp/tv/bin/python tests/data/make_torch_forward_ref.py

The network (seeds 14) is a graph of named layers on a 17 x 19 x 4 input,
each computed by ``torch.nn.functional`` in float32 on a 1 x C x H x W batch:
convolutions with groups, dilation, uneven stride and padding, depthwise and
``padding="same"``; inference batchnorm; relu; max pooling 3/2 with
``ceil_mode`` and average pooling with ``count_include_pad=False``; concat,
channel shuffle, add, multiply; nearest and bilinear resizing (both
``align_corners``, integer and fractional factors, a size); transposed
convolutions with groups, output_padding and dilation; adaptive average
and max pooling; every activation; global pooling, flatten (C x H x W) and
a dense layer.

Stored, all float32 and in cnnfilter's layouts (maps ``H x W x C``, weights
in PyTorch's own layouts): ``input``; per layer ``NAME.weight`` and the like;
``out.NAME`` the layer's output; ``steps`` a JSON list of ``{name, op,
inputs, kwargs}`` in order, which tests/engine/test_layers_forward.py
replays with cnnfilter.engine.layers.
"""

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(14)
rng = np.random.default_rng(14)
torch.set_num_threads(1)

arrays: dict[str, np.ndarray] = {}
steps: list[dict] = []
acts: dict[str, torch.Tensor] = {}


def t(shape, scale=1.0):
    a = (rng.normal(size=shape) * scale).astype(np.float32)
    return torch.from_numpy(a)


def hwc(x: torch.Tensor) -> np.ndarray:
    a = x.detach().numpy()[0]
    return a.transpose(1, 2, 0) if a.ndim == 3 else a


def step(name, op, inputs, out, kwargs=None, **params):
    for key, value in params.items():
        arrays[f"{name}.{key}"] = value.numpy().astype(np.float32)
    steps.append(dict(name=name, op=op, inputs=inputs, kwargs=kwargs or {}))
    acts[name] = out
    arrays[f"out.{name}"] = hwc(out)


x = t((1, 4, 17, 19))
acts["input"] = x
arrays["input"] = hwc(x)


def conv(name, src, cout, k, **kw):
    cin = acts[src].shape[1]
    g = kw.get("groups", 1)
    w = t((cout, cin // g, *k), scale=1 / np.sqrt(cin // g * k[0] * k[1]))
    b = t((cout,), 0.1)
    y = F.conv2d(acts[src], w, b, **kw)
    step(name, "conv2d", [src], y, kw, weight=w, bias=b)


conv("conv_a", "input", 8, (3, 3), stride=1, padding=2, dilation=2, groups=2)
mean, var = t((8,), 0.2), torch.from_numpy(rng.uniform(0.5, 2, 8).astype(np.float32))
gamma, beta = t((8,), 0.3) + 1, t((8,), 0.2)
y = F.batch_norm(acts["conv_a"], mean, var, gamma, beta, training=False, eps=1e-5)
step("bn_a", "batchnorm", ["conv_a"], y, {"eps": 1e-5},
     running_mean=mean, running_var=var, weight=gamma, bias=beta)  # fmt: skip
step("relu_a", "relu", ["bn_a"], F.relu(acts["bn_a"]))
kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
step("pool_a", "max_pool2d", ["relu_a"], F.max_pool2d(acts["relu_a"], **kw), kw)
kw = dict(kernel_size=(2, 3), stride=(2, 2), padding=(1, 0), ceil_mode=True,
          count_include_pad=False)  # fmt: skip
step("avg_a", "avg_pool2d", ["relu_a"], F.avg_pool2d(acts["relu_a"], **kw), kw)
conv("conv_dw", "pool_a", 16, (3, 3), stride=1, padding=(1, 2), dilation=(1, 2), groups=8)
conv("conv_s", "pool_a", 6, (3, 2), stride=(2, 1), padding=(1, 1), groups=1)
conv("conv_same", "conv_dw", 5, (4, 3), padding="same", dilation=(1, 2))
conv("conv_1x1", "conv_dw", 20, (1, 1), groups=4)
step("cat_a", "concat", ["pool_a", "conv_dw", "conv_1x1"],
     torch.cat([acts["pool_a"], acts["conv_dw"], acts["conv_1x1"]], 1))  # fmt: skip
step("shuffle", "channel_shuffle", ["cat_a"], F.channel_shuffle(acts["cat_a"], 4), {"groups": 4})
conv("conv_res", "pool_a", 8, (1, 1))
step("add_a", "add", ["pool_a", "conv_res"], acts["pool_a"] + acts["conv_res"])
step("mul_a", "multiply", ["pool_a", "conv_res"], acts["pool_a"] * acts["conv_res"])

kw = dict(scale_factor=2, mode="nearest")
step("up_near", "upsample", ["conv_s"], F.interpolate(acts["conv_s"], **kw), kw)
kw = dict(size=(7, 11), mode="nearest")
step("up_near_size", "upsample", ["conv_s"], F.interpolate(acts["conv_s"], **kw), kw)
kw = dict(scale_factor=2, mode="bilinear", align_corners=False)
step("up_bil", "upsample", ["conv_s"], F.interpolate(acts["conv_s"], **kw), kw)
kw = dict(size=(9, 13), mode="bilinear", align_corners=True)
step("up_bil_ac", "upsample", ["conv_s"], F.interpolate(acts["conv_s"], **kw), kw)
kw = dict(scale_factor=1.7, mode="bilinear", align_corners=False)
step("up_bil_frac", "upsample", ["conv_s"], F.interpolate(acts["conv_s"], **kw), kw)
kw = dict(size=(3, 4), mode="bilinear", align_corners=False)
step("down_bil", "upsample", ["relu_a"], F.interpolate(acts["relu_a"], **kw), kw)


def convt(name, src, cout, k, **kw):
    cin = acts[src].shape[1]
    g = kw.get("groups", 1)
    w = t((cin, cout // g, *k), scale=1 / np.sqrt(cin))
    b = t((cout,), 0.1)
    y = F.conv_transpose2d(acts[src], w, b, **kw)
    step(name, "conv_transpose2d", [src], y, kw, weight=w, bias=b)


convt("convt_a", "conv_s", 4, (3, 3), stride=2, padding=1, output_padding=1, groups=2)
convt("convt_b", "pool_a", 3, (2, 3), stride=(1, 3), padding=(0, 1), output_padding=(0, 2),
      dilation=(2, 1))  # fmt: skip
convt("convt_c", "conv_s", 6, (4, 4), stride=2, padding=3, output_padding=0, groups=3)

kw = {"output_size": (3, 5)}
step("aavg", "adaptive_avg_pool2d", ["relu_a"], F.adaptive_avg_pool2d(acts["relu_a"], (3, 5)), kw)
kw = {"output_size": (4, 7)}
step("amax", "adaptive_max_pool2d", ["bn_a"], F.adaptive_max_pool2d(acts["bn_a"], (4, 7)), kw)
kw = {"output_size": (6, 5)}
step("aavg_up", "adaptive_avg_pool2d", ["conv_s"], F.adaptive_avg_pool2d(acts["conv_s"], (6, 5)),
     kw)  # fmt: skip

# every activation, on the batchnorm output stretched to about [-6, 6]
wide = acts["bn_a"] * 3
acts["wide"] = wide
arrays["out.wide"] = hwc(wide)
activations = {
    "relu": (F.relu, {}),
    "relu6": (F.relu6, {}),
    "leaky_relu": (lambda v: F.leaky_relu(v, 0.1), {"negative_slope": 0.1}),
    "elu": (lambda v: F.elu(v, 0.7), {"alpha": 0.7}),
    "gelu": (F.gelu, {}),
    "gelu_tanh": (lambda v: F.gelu(v, approximate="tanh"), {"approximate": "tanh"}),
    "silu": (F.silu, {}),
    "hardswish": (F.hardswish, {}),
    "hardsigmoid": (F.hardsigmoid, {}),
    "sigmoid": (torch.sigmoid, {}),
    "tanh": (torch.tanh, {}),
    "softmax": (lambda v: F.softmax(v, dim=1), {}),
}
for key, (fn, kw) in activations.items():
    op = "gelu" if key == "gelu_tanh" else key
    step(f"act_{key}", op, ["wide"], fn(wide), kw)
pw = t((8,), 0.3)
step("act_prelu", "prelu", ["wide"], F.prelu(wide, pw), {}, weight=pw)

# head: global pool, flatten (C x H x W order) and dense
step("gap", "global_avg_pool", ["relu_a"], acts["relu_a"].mean(dim=(2, 3)))
step("gmp", "global_max_pool", ["relu_a"], acts["relu_a"].amax(dim=(2, 3)))
step("flat", "flatten", ["aavg"], torch.flatten(acts["aavg"], 1), {"order": "chw"})
wd, bd = t((10, acts["flat"].shape[1]), 0.2), t((10,), 0.1)
step("fc", "dense", ["flat"], F.linear(acts["flat"], wd, bd), {}, weight=wd, bias=bd)
step("drop", "dropout", ["fc"], F.dropout(acts["fc"], 0.5, training=False), {"p": 0.5})

arrays["steps"] = np.array(json.dumps(steps))
arrays["torch_version"] = np.array(torch.__version__)
path = Path(__file__).parent / "torch_forward_ref.npz"
np.savez_compressed(path, **arrays)
print(len(steps), "layers, torch", torch.__version__, path.stat().st_size, "bytes")
