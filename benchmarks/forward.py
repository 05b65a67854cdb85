"""ResNet-18's stem and first stage through cnnfilter.engine.layers, against PyTorch.

    python benchmarks/forward.py               # one thread each, CPU time: the ratio
    python benchmarks/forward.py --threads 0   # every core, wall time (noisy when shared)

The network (random weights, seed 0; He et al. 2016, torchvision's
resnet18 up to ``layer1``) on one 224 x 224 x 3 image:

    conv1 7x7/2 pad 3, 3 -> 64, no bias; bn1; relu; maxpool 3/2 pad 1
    layer1: 2 basic blocks, each conv 3x3 64 -> 64, bn, relu, conv 3x3, bn,
            + the block's input, relu                         -> 56 x 56 x 64

Prints, per layer and in all, the best-of-``repeat`` wall time of
cnnfilter's functions and (when ``torch`` is importable; it is never a
dependency) of ``torch.nn.functional`` on the CPU with the same weights,
their ratio, and the largest difference of the outputs. By default both run
on one thread (``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``=1, set before
NumPy loads; ``torch.set_num_threads(1)``) and are timed in CPU time
(``time.process_time``, which counts the engine's pooling threads too): on
a machine shared with other jobs, wall times of the same call vary 10x,
CPU times by a few per cent. ``--threads 0`` keeps every core and times
wall clock. In one process the two libraries' thread pools spin against
each other, so each library's layers are timed in a block, warmed up first.

The whole pass is timed through the runner the ``forward`` command uses,
:func:`cnnfilter.arch.run.run_network`, on the same layers written as an
``arch.yaml`` (:data:`STEM_YAML`, torchvision's layer names) with the same
weights as a ``--weights`` dictionary: so the figure includes the command's
dispatch per layer, not a copy of its walk. The per-layer lines time the
engine functions that runner calls (and PyTorch's), one by one.

Memory: the runner keeps only what a later layer reads (a residual block's
input until its ``add``); each map is freed once the next one is made. The
peak of NumPy's allocations during a pass is read with tracemalloc (NumPy
reports its buffers to it), for the runner as the command uses it and for
the runner with every map kept (what ``forward --npz`` does).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

if __name__ == "__main__" and "--threads" not in " ".join(sys.argv):
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # before NumPy (and torch) load their BLAS

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnnfilter.arch.run import run_network  # noqa: E402
from cnnfilter.arch.weights import Weights  # noqa: E402
from cnnfilter.engine import layers as L  # noqa: E402

#: ResNet-18's stem and layer1 (samples/arch/resnet18.yaml up to layer1).
STEM_YAML = """
name: resnet18-stem-layer1
input: [224, 224, 3]
layers:
  - conv2d: {filters: 64, kernel_size: 7, stride: 2, padding: 3, bias: false, name: conv1}
  - batchnorm2d: {name: bn1}
  - relu: {name: relu}
  - maxpool2d: {kernel_size: 3, stride: 2, padding: 1, name: maxpool}
  - residual:
      name: "layer1.0"
      body:
        - conv2d: {filters: 64, kernel_size: 3, padding: 1, bias: false, name: layer1.0.conv1}
        - batchnorm2d: {name: layer1.0.bn1}
        - relu: {name: layer1.0.relu1}
        - conv2d: {filters: 64, kernel_size: 3, padding: 1, bias: false, name: layer1.0.conv2}
        - batchnorm2d: {name: layer1.0.bn2}
  - relu: {name: layer1.0.relu2}
  - residual:
      name: "layer1.1"
      body:
        - conv2d: {filters: 64, kernel_size: 3, padding: 1, bias: false, name: layer1.1.conv1}
        - batchnorm2d: {name: layer1.1.bn1}
        - relu: {name: layer1.1.relu1}
        - conv2d: {filters: 64, kernel_size: 3, padding: 1, bias: false, name: layer1.1.conv2}
        - batchnorm2d: {name: layer1.1.bn2}
  - relu: {name: layer1.1.relu2}
"""


def stem_network():
    from cnnfilter.arch import parse_network

    return parse_network(STEM_YAML, source="STEM_YAML")


def as_state_dict(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """:func:`resnet_weights` under PyTorch's ``state_dict`` keys (``--weights``' keys)."""
    out = {}
    for key, value in w.items():
        name, _, field = key.rpartition(".")
        if value.ndim == 4:
            out[f"{key}.weight"] = value
        elif field in ("mean", "var"):
            out[f"{name}.running_{field}"] = value
        else:
            out[key] = value
    return out


#: (name, function of the inputs, input names); weights are bound in the function.
Node = tuple[str, Callable[..., np.ndarray], tuple[str, ...]]


def last_uses(nodes: list[Node], outputs: tuple[str, ...]) -> dict[str, int]:
    """Index of the last node that reads each activation (outputs: never freed)."""
    last: dict[str, int] = {}
    for k, (_, _, inputs) in enumerate(nodes):
        for name in inputs:
            last[name] = k
    for name in outputs:
        last[name] = len(nodes)
    return last


def run_graph(
    nodes: list[Node], x: np.ndarray, *, outputs: tuple[str, ...], keep_all: bool = False
) -> dict[str, np.ndarray]:
    """Run ``nodes`` in order from ``{"input": x}``, freeing what no later node reads.

    Returns the activations named in ``outputs`` (every activation with ``keep_all``).
    """
    last = last_uses(nodes, outputs)
    acts = {"input": x}
    for k, (name, func, inputs) in enumerate(nodes):
        acts[name] = func(*(acts[i] for i in inputs))
        if not keep_all:
            for i in set(inputs):
                if last.get(i, -1) <= k:
                    del acts[i]
            if last.get(name, -1) < k + 1:  # nothing reads it and it is not an output
                del acts[name]
    return acts


def resnet_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """He-normal convolutions and random inference batchnorm statistics, float32."""
    rng = np.random.default_rng(seed)
    w: dict[str, np.ndarray] = {}

    def conv(name: str, cout: int, cin: int, k: int) -> None:
        w[name] = (rng.normal(size=(cout, cin, k, k)) * np.sqrt(2 / (cin * k * k))).astype(
            np.float32
        )

    def bn(name: str, c: int) -> None:
        w[name + ".mean"] = rng.normal(0, 0.1, c).astype(np.float32)
        w[name + ".var"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
        w[name + ".weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
        w[name + ".bias"] = rng.normal(0, 0.1, c).astype(np.float32)

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    for b in range(2):
        for i in (1, 2):
            conv(f"layer1.{b}.conv{i}", 64, 64, 3)
            bn(f"layer1.{b}.bn{i}", 64)
    return w


def stem_graph(conv, bn, relu, max_pool, add) -> list[Node]:
    """ResNet-18's stem and layer1 as ``(name, function, inputs)`` nodes, built from one
    framework's operations: ``conv(name, **kw)`` and ``bn(name)`` make a layer's function."""
    nodes: list[Node] = [
        ("conv1", conv("conv1", stride=2, padding=3), ("input",)),
        ("bn1", bn("bn1"), ("conv1",)),
        ("relu", relu, ("bn1",)),
        ("maxpool", max_pool, ("relu",)),
    ]
    src = "maxpool"
    for b in range(2):
        p = f"layer1.{b}"
        nodes += [
            (f"{p}.conv1", conv(f"{p}.conv1", padding=1), (src,)),
            (f"{p}.bn1", bn(f"{p}.bn1"), (f"{p}.conv1",)),
            (f"{p}.relu1", relu, (f"{p}.bn1",)),
            (f"{p}.conv2", conv(f"{p}.conv2", padding=1), (f"{p}.relu1",)),
            (f"{p}.bn2", bn(f"{p}.bn2"), (f"{p}.conv2",)),
            (f"{p}.add", add, (f"{p}.bn2", src)),
            (f"{p}.relu2", relu, (f"{p}.add",)),
        ]
        src = f"{p}.relu2"
    return nodes


def resnet_nodes(w: dict[str, np.ndarray]) -> list[Node]:
    """The stem and layer1 as a graph of cnnfilter.engine.layers calls."""

    def bn(name):
        return lambda x: L.batchnorm(
            x, w[name + ".mean"], w[name + ".var"], w[name + ".weight"], w[name + ".bias"]
        )

    def conv(name, **kw):
        return lambda x: L.conv2d(x, w[name], **kw)

    pool = lambda x: L.max_pool2d(x, 3, stride=2, padding=1)  # noqa: E731
    return stem_graph(conv, bn, L.relu, pool, L.add)


def torch_nodes(w: dict[str, np.ndarray]):
    """The same graph in torch.nn.functional (N x C x H x W), or None without torch."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None, None
    t = {k: torch.from_numpy(v) for k, v in w.items()}

    def bn(name):
        return lambda x: F.batch_norm(
            x, t[name + ".mean"], t[name + ".var"], t[name + ".weight"], t[name + ".bias"],
            training=False, eps=1e-5,
        )  # fmt: skip

    def conv(name, **kw):
        return lambda x: F.conv2d(x, t[name], **kw)

    pool = lambda x: F.max_pool2d(x, 3, stride=2, padding=1)  # noqa: E731
    return torch, stem_graph(conv, bn, F.relu, pool, torch.add)


#: The clock: CPU time on one thread, wall time on several (set by main).
CLOCK = time.process_time


def time_torch_pass(nodes, x, repeat: int, out: str) -> float:
    """Best-of-``repeat`` time of PyTorch's whole pass (its graph, dead maps freed)."""
    times = []
    for _ in range(repeat):
        t0 = CLOCK()
        run_graph(nodes, x, outputs=(out,))
        times.append(CLOCK() - t0)
    return min(times)


def time_layers(nodes, x, repeat: int) -> tuple[dict[str, float], dict]:
    """Best-of-``repeat`` time of every node (on the stored input of the pass) and the outputs."""
    acts = run_graph(nodes, x, outputs=(), keep_all=True)  # also the warm-up
    best: dict[str, float] = {}
    for name, func, inputs in nodes:
        args = [acts[i] for i in inputs]
        times = []
        for _ in range(repeat):
            t0 = CLOCK()
            func(*args)
            times.append(CLOCK() - t0)
        best[name] = min(times)
    return best, acts


def time_pass(network, state: dict, x, repeat: int) -> float:
    """Best-of-``repeat`` time of the whole pass through the command's runner."""
    times = []
    for _ in range(repeat):
        t0 = CLOCK()
        run_network(network, x, Weights(state, None, 0))
        times.append(CLOCK() - t0)
    return min(times)


def peak_bytes(network, state: dict, x, keep_all: bool) -> tuple[int, np.ndarray]:
    """Peak traced bytes of one pass through the runner (every map kept with ``keep_all``)."""
    kept: list[np.ndarray] = []

    def keep(layer, y):
        kept.append(y)

    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out = run_network(network, x, Weights(state, None, 0), keep if keep_all else None)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    kept.clear()
    return peak, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument(
        "--threads", type=int, default=1, help="1: one thread, CPU time; 0: every core, wall time"
    )
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.threads == 1 else time.perf_counter

    w = resnet_weights()
    x = np.random.default_rng(1).normal(size=(224, 224, 3)).astype(np.float32)
    nodes = resnet_nodes(w)
    out_name = nodes[-1][0]
    ours, acts = time_layers(nodes, x, args.repeat)
    network, state = stem_network(), as_state_dict(w)
    ours_pass = time_pass(network, state, x, args.repeat)

    torch, tnodes = torch_nodes(w)
    theirs: dict[str, float] = {}
    theirs_pass = float("nan")
    diff = float("nan")
    if torch is not None:
        if args.threads == 1:
            torch.set_num_threads(1)
        with torch.inference_mode():
            tx = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
            theirs, tacts = time_layers(tnodes, tx, args.repeat)
            theirs_pass = time_torch_pass(tnodes, tx, args.repeat, out_name)
        ref = tacts[out_name].numpy()[0].transpose(1, 2, 0)
        diff = float(np.abs(acts[out_name] - ref).max() / np.abs(ref).max())

    clock = "CPU time, one thread" if args.threads == 1 else "wall time, every core"
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"ResNet-18 stem + layer1, 224 x 224 x 3 float32, best of {args.repeat}, {clock}")
    print(f"NumPy {np.__version__}; load average {load} on {os.cpu_count()} cores")
    if torch is not None:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    else:
        print("PyTorch not importable: cnnfilter times only")
    print(f"{'layer':<16}{'out shape':>16}{'cnnfilter ms':>14}{'torch ms':>10}{'ratio':>8}")
    for name, _, _ in nodes:
        t_ours = ours[name] * 1e3
        t_theirs = theirs.get(name, float("nan")) * 1e3
        shape = "x".join(map(str, acts[name].shape))
        print(f"{name:<16}{shape:>16}{t_ours:>14.2f}{t_theirs:>10.2f}{t_ours / t_theirs:>8.2f}")
    total_ours = sum(ours.values()) * 1e3
    total_theirs = sum(theirs.values()) * 1e3 if theirs else float("nan")
    print(f"{'sum of layers':<32}{total_ours:>14.2f}{total_theirs:>10.2f}"
          f"{total_ours / total_theirs:>8.2f}")  # fmt: skip
    print(f"{'whole pass':<32}{ours_pass * 1e3:>14.2f}{theirs_pass * 1e3:>10.2f}"
          f"{ours_pass / theirs_pass:>8.2f}")  # fmt: skip
    if torch is not None:
        print(f"largest difference of the outputs: {diff:.2e} of their range")

    kept, _ = peak_bytes(network, state, x, keep_all=True)
    freed, out = peak_bytes(network, state, x, keep_all=False)
    same = float(np.abs(out - acts[out_name]).max())
    biggest = max(a.nbytes for a in acts.values())
    total = sum(a.nbytes for name, a in acts.items() if name != "input")
    print(f"whole pass: the forward command's runner (run_network); its output differs from "
          f"the engine calls' by {same:.1e}")  # fmt: skip
    print(
        f"peak NumPy memory of one pass: {freed / 2**20:.1f} MiB freeing dead activations, "
        f"{kept / 2**20:.1f} MiB keeping all (--npz); largest activation "
        f"{biggest / 2**20:.1f} MiB, all activations {total / 2**20:.1f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
