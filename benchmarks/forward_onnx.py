"""ONNX forward: onnxruntime against onnx's reference evaluator, and both against the engine.

    python benchmarks/forward_onnx.py            # one thread each, CPU time
    python benchmarks/forward_onnx.py --repeat 5

The choice behind ``cnnfilter forward model.onnx`` (cnnfilter/tasks/forward_onnx.py):
ResNet-18's stem and first stage (the network and weights of benchmarks/forward.py,
seed 0) written as an ONNX graph with every node output a graph output, as
``forward`` runs it, on one 224 x 224 x 3 input. Prints, per runner, the best-of-N CPU
time of one pass returning every intermediate map (``time.process_time``: the machine
is shared, wall times vary 10x) and the largest difference from the engine's
``cnnfilter.engine.layers`` pass (relative to each map's largest magnitude), plus the
installed size of each package. Runners: onnxruntime (CPUExecutionProvider, one intra-op
thread), ``onnx.reference.ReferenceEvaluator`` (``intermediate=True``), the engine.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # before NumPy loads its BLAS

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

_spec = importlib.util.spec_from_file_location("bench_forward", HERE / "forward.py")
bench_forward = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_forward)

CLOCK = time.process_time if "--wall" not in sys.argv else time.perf_counter


def onnx_model(w: dict[str, np.ndarray]):
    """The stem and layer1 as ONNX nodes named as benchmarks/forward.py's engine nodes."""
    from onnx import TensorProto, helper, numpy_helper

    n = helper.make_node
    inits = {}
    nodes = []

    def bn(name, src):
        keys = [f"{name}.{k}" for k in ("weight", "bias", "mean", "var")]
        inits.update({k: w[k] for k in keys})
        nodes.append(n("BatchNormalization", [src, *keys], [name], name=name, epsilon=1e-5))

    def conv(name, src, k, stride, pad):
        inits[name + ".w"] = w[name]
        nodes.append(n("Conv", [src, name + ".w"], [name], name=name, kernel_shape=[k, k],
                       strides=[stride] * 2, pads=[pad] * 4))  # fmt: skip

    conv("conv1", "input", 7, 2, 3)
    bn("bn1", "conv1")
    nodes.append(n("Relu", ["bn1"], ["relu"], name="relu"))
    nodes.append(n("MaxPool", ["relu"], ["maxpool"], name="maxpool", kernel_shape=[3, 3],
                   strides=[2, 2], pads=[1, 1, 1, 1]))  # fmt: skip
    src = "maxpool"
    for b in range(2):
        p = f"layer1.{b}"
        conv(f"{p}.conv1", src, 3, 1, 1)
        bn(f"{p}.bn1", f"{p}.conv1")
        nodes.append(n("Relu", [f"{p}.bn1"], [f"{p}.relu1"], name=f"{p}.relu1"))
        conv(f"{p}.conv2", f"{p}.relu1", 3, 1, 1)
        bn(f"{p}.bn2", f"{p}.conv2")
        nodes.append(n("Add", [f"{p}.bn2", src], [f"{p}.add"], name=f"{p}.add"))
        nodes.append(n("Relu", [f"{p}.add"], [f"{p}.relu2"], name=f"{p}.relu2"))
        src = f"{p}.relu2"
    outputs = [helper.make_tensor_value_info(nd.output[0], TensorProto.FLOAT, None) for nd in nodes]
    graph = helper.make_graph(
        nodes,
        "resnet18_stem_layer1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
        outputs,
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, [nd.output[0] for nd in nodes]


def best(func, repeat: int) -> tuple[float, object]:
    out = func()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = CLOCK()
        out = func()
        times.append(CLOCK() - t0)
    return min(times), out


def worst_difference(got: dict, want: dict) -> float:
    worst = 0.0
    for name, ref in want.items():
        if name == "input":
            continue
        y = np.asarray(got[name])[0].transpose(1, 2, 0)
        worst = max(worst, float(np.abs(y - ref).max() / max(np.abs(ref).max(), 1e-12)))
    return worst


def installed_mb(package: str) -> float:
    spec = importlib.util.find_spec(package)
    root = Path(spec.origin).parent
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference-repeat", type=int, default=1)
    parser.add_argument("--wall", action="store_true", help="time wall clock, not CPU time")
    args = parser.parse_args(argv)

    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    w = bench_forward.resnet_weights(0)
    nodes = bench_forward.resnet_nodes(w)
    x = np.random.default_rng(1).standard_normal((224, 224, 3)).astype(np.float32)
    feed = {"input": np.ascontiguousarray(x.transpose(2, 0, 1)[None])}
    model, names = onnx_model(w)

    t_engine, engine = best(
        lambda: bench_forward.run_graph(nodes, x, outputs=(), keep_all=True), args.repeat
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    t_ort, got = best(lambda: dict(zip(names, session.run(names, feed), strict=True)), args.repeat)
    ref = ReferenceEvaluator(model)
    t_ref, ref_out = best(lambda: ref.run(None, feed, intermediate=True), args.reference_repeat)

    print(f"ResNet-18 stem + layer1, 224 x 224, every map returned; best CPU time of "
          f"{args.repeat} (reference evaluator: {args.reference_repeat})")  # fmt: skip
    print(f"{'runner':<28} {'seconds':>8} {'vs ort':>7} {'max rel diff vs engine':>24}")
    rows = [
        (f"onnxruntime {ort.__version__}", t_ort, worst_difference(got, engine)),
        ("onnx ReferenceEvaluator", t_ref, worst_difference(ref_out, engine)),
        ("cnnfilter engine", t_engine, 0.0),
    ]
    for label, t, diff in rows:
        print(f"{label:<28} {t:8.3f} {t / t_ort:6.1f}x {diff:24.2e}")
    print(f"installed: onnxruntime {installed_mb('onnxruntime'):.0f} MB, "
          f"onnx {installed_mb('onnx'):.0f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
