"""Regenerate tests/data/torch_pool_ref.npz: PyTorch's own pooling outputs for random layers.

Run once, by hand, in a throwaway environment that has PyTorch (the test suite
never imports torch):

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchvenv/bin/python tests/data/make_torch_pool_ref.py

The file holds, per case ``i``: ``x{i}`` the input ``(H, W, C)`` float64,
``y{i}`` PyTorch's output ``(oh, ow, C)``, ``idx{i}`` (max only) the
``return_indices`` output, and ``cases`` a JSON list of the layer settings.
"""

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(7)
cases, arrays = [], {}
while len(cases) < 80:
    op = ["max", "avg", "lp"][len(cases) % 3]
    h, w = (int(v) for v in rng.integers(1, 13, size=2))
    kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
    sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
    ph, pw = (int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1)))
    dh, dw = (int(v) for v in rng.integers(1, 3, size=2)) if op == "max" else (1, 1)
    ceil = bool(rng.integers(0, 2))
    cip = bool(rng.integers(0, 2))
    p = float(rng.choice([1.0, 2.0, 3.0, 1.5]))
    if op == "lp":
        ph = pw = 0
    x = rng.normal(size=(1, 2, h, w))
    if op == "lp":
        x = np.abs(x) + 0.1
    if op == "max":
        x = np.round(x, 1)  # ties happen
    t = torch.from_numpy(x)
    try:
        if op == "max":
            y, idx = F.max_pool2d(t, (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil, True)
        elif op == "avg":
            y = F.avg_pool2d(t, (kh, kw), (sh, sw), (ph, pw), ceil, cip)
        else:
            y = F.lp_pool2d(t, p, (kh, kw), (sh, sw), ceil)
    except RuntimeError:
        continue  # output too small: not a case
    i = len(cases)
    cases.append(
        dict(op=op, k=[kh, kw], s=[sh, sw], p=[ph, pw], d=[dh, dw], ceil=ceil, cip=cip, norm=p)
    )
    arrays[f"x{i}"] = x[0].transpose(1, 2, 0)
    arrays[f"y{i}"] = y.numpy()[0].transpose(1, 2, 0)
    if op == "max":
        arrays[f"idx{i}"] = idx.numpy()[0].transpose(1, 2, 0)
arrays["cases"] = np.array(json.dumps(cases))
arrays["torch_version"] = np.array(torch.__version__)
np.savez_compressed(Path(__file__).parent / "torch_pool_ref.npz", **arrays)
print(len(cases), "cases, torch", torch.__version__)
