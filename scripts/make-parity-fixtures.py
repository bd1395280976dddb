"""Writes forward-parity fixtures with the PyTorch reference (../shared/reference/build.py):
the weights (rounded to float16 and stored as F16, to keep fixtures small; the reference runs
on the rounded values), the input, and every layer index's output (F32).

usage: python make-parity-fixtures.py CONFIG.yaml OUT_DIR H,W [H,W ...]
writes OUT_DIR/weights.safetensors and OUT_DIR/HxW.safetensors (`images`, `output`, and
`layer.<index>` for every index at the first size; at later sizes only non-feature-map outputs,
to keep the fixtures small)
"""
import sys
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import save_file

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
sys.path.insert(0, str(REFERENCE))
import build  # noqa: E402


def main():
    cfg, out, sizes = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = build.Model(cfg).eval()
    # as build.py and Ultralytics' initialize_weights: BatchNorm eps 1e-3 unless a classifier
    if not any(type(m).__name__ == "Classify" for m in model.model):
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.eps = 1e-3
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for mod in model.modules():  # non-trivial norms, as build.py does
            if isinstance(mod, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) and mod.weight is not None:
                mod.weight.uniform_(0.5, 1.5, generator=g); mod.bias.uniform_(-0.2, 0.2, generator=g)
                if isinstance(mod, nn.BatchNorm2d):
                    mod.running_mean.uniform_(-0.2, 0.2, generator=g); mod.running_var.uniform_(0.5, 1.5, generator=g)
        for t in list(model.parameters()) + list(model.buffers()):
            if t.dtype.is_floating_point:
                t.copy_(t.half().float())
    sd = {k: v.half().contiguous() for k, v in model.state_dict().items() if v.dtype.is_floating_point}
    save_file(sd, str(out / "weights.safetensors"))
    for position, size in enumerate(sizes):
        h, w = (int(v) for v in size.split(","))
        x = torch.rand(1, model.yaml.get("ch", 3), h, w, generator=g)
        tensors = {"images": x}
        y = []
        with torch.inference_mode():
            for m in model.model:
                inp = x if m.f == -1 else (y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f])
                x = m(inp)
                if getattr(m, "backbone", False):
                    for k, t in enumerate(x):
                        y.append(t)
                        if position == 0: tensors[f"layer.{m.i + k}"] = t
                    x = x[-1]
                else:
                    if isinstance(x, tuple):  # RTDETRDecoder in eval: (y, extras)
                        x = x[0]
                    y.append(x)
                    if position == 0 or x.ndim != 4: tensors[f"layer.{m.i}"] = x
        tensors["output"] = x.clone()
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / f"{h}x{w}.safetensors"))
        print(f"{out}/{h}x{w}: output {tuple(x.shape)}")


if __name__ == "__main__":
    main()
