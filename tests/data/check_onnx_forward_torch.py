"""A one-off check of ``cnnfilter forward model.onnx`` against PyTorch (not run by the suite).

    pip install torch torchvision   # in a scratch venv with cnnfilter[onnxruntime]
    python tests/data/check_onnx_forward_torch.py

A torchvision ResNet-18 with random weights (``weights=None``: nothing is downloaded)
and random batchnorm statistics is exported with ``torch.onnx.export(..., dynamo=False)``
in eval mode (batchnorm folded into the convolutions) and run by ``cnnfilter forward``
with ``--npz``. Printed: the input preprocessing against torchvision's ImageNet
transforms (PIL path and tensor path), and chosen layers against the PyTorch modules
fed the same input. Measured with torch 2.14.1, torchvision 0.29.1, onnxruntime 1.32.0:
preprocessing 1.9e-5 from the tensor path (``Resize(256, antialias=True)`` on the 0..1
float tensor), within one grey level of the PIL path (which resizes the 8-bit photo
in 8-bit fixed point); every layer checked within 1e-6 of PyTorch (relative to its
largest value), 49 layers exposed.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

from cnnfilter.tasks.forward import read_input
from cnnfilter.tasks.forward_onnx import IMAGENET_MEAN, IMAGENET_STD, prepare

PHOTO = "samples/chelsea.png"


def main() -> int:
    torch.manual_seed(0)
    m = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.1, 0.1)
    torch.onnx.export(m, torch.zeros(1, 3, 224, 224), "/tmp/r18.onnx", dynamo=False,
                      input_names=["input"], output_names=["logits"])  # fmt: skip
    mine, _ = prepare(read_input(PHOTO), 3, (224, 224))
    pil = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                     T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])  # fmt: skip
    ref = pil(Image.open(PHOTO).convert("RGB")).numpy().transpose(1, 2, 0)
    grey = (np.abs(mine - ref) * np.array(IMAGENET_STD)).max() * 255
    print(f"preprocessing vs torchvision's PIL path: {grey:.2f} grey levels at most")
    tensor = T.Compose([T.Resize(256, antialias=True), T.CenterCrop(224),
                        T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])  # fmt: skip
    reft = tensor(torch.from_numpy(read_input(PHOTO).transpose(2, 0, 1).copy()))
    diff = np.abs(mine - reft.numpy().transpose(1, 2, 0)).max()
    print(f"preprocessing vs its tensor path: {diff:.1e}")
    cmd = [sys.executable, "-m", "cnnfilter", "forward", "/tmp/r18.onnx", PHOTO, "-o",
           "/tmp/r18maps", "--npz", "--force", "--json", "-q"]  # fmt: skip
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with np.load("/tmp/r18maps/activations.npz") as data:
        got = {k: data[k] for k in data.files}
    print(f"{len(got)} layers")
    x = torch.from_numpy(mine.transpose(2, 0, 1)[None].copy())
    acts = {}
    with torch.no_grad():  # ResNet's ReLUs work in place: keep copies
        y = m.bn1(m.conv1(x))
        acts["/conv1/Conv"] = y.clone()
        y = m.maxpool(m.relu(y))
        acts["/maxpool/MaxPool"] = y.clone()
        y = m.layer1(y)
        acts["/layer1/layer1.1/relu_1/Relu"] = y.clone()
        y = m.layer4(m.layer3(m.layer2(y)))
        acts["/layer4/layer4.1/relu_1/Relu"] = y.clone()
        acts["/fc/Gemm"] = m(x)
    for name, t in acts.items():
        t = t.numpy()[0]
        t = t.transpose(1, 2, 0) if t.ndim == 3 else t
        diff = np.abs(got[name] - t).max() / np.abs(t).max()
        print(f"{name:32s} {got[name].shape} max rel diff {diff:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
