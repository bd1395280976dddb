"""Times the PyTorch reference (eager, unfused and fused) and ONNX Runtime on one config.

usage: python speed-reference.py CONFIG H,W THREADS RUNS
prints JSON: {"pytorch_ms": {...}, "pytorch_fused_ms": {...}, "ort_ms": {...}} with min/median/max.
"""
import json, sys, time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared" / "reference"))
import build  # noqa: E402


def timed(fn, runs, warmup=2):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter(); fn(); ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    return dict(min=ts[0], median=ts[len(ts) // 2], max=ts[-1])


def main():
    cfg, size, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    h, w = (int(v) for v in size.split(","))
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = build.Model(cfg).eval()
    x = torch.rand(1, model.yaml.get("ch", 3), h, w)
    report = {}
    with torch.inference_mode():
        report["pytorch_ms"] = timed(lambda: model(x), runs)
    torch.manual_seed(0)
    model = build.Model(cfg).eval()  # a fresh copy: the timed one cached inference-mode anchors
    for mod in model.modules():  # RTDETRDecoder returns one tensor when exporting
        if hasattr(mod, "export"):
            mod.export = True
    path = "/tmp/modelgraph-speed.onnx"
    torch.onnx.export(model, (x,), path, opset_version=17, input_names=["images"], output_names=["out"], dynamo=False)
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {"images": x.numpy()}
    report["ort_ms"] = timed(lambda: session.run(None, feed), runs)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
