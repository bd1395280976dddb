"""Checks `modelgraph convert` against PyTorch (needs the reference environment):

    REFENV/bin/python scripts/check-convert.py .build/debug/modelgraph CHECKPOINT.pt [...]

For each checkpoint: converts it (F32, and F16 with --half), loads the safetensors into the
checkpoint's own PyTorch model with load_state_dict(strict=True), and compares the model's
output on a seeded input with the original's (bit-identical: F32 against the model, F16 against the
model whose state dict torch rounded to half precision).
"""
import copy, subprocess, sys, tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

tool, files = sys.argv[1], sys.argv[2:]
failures = 0
for path in files:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = (ckpt.get("ema") or ckpt["model"]).float().eval()
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    def first(y):
        y = y[0] if isinstance(y, tuple) else y
        return y[0] if isinstance(y, tuple) else y
    # F16's reference: the same model with its state dict rounded to half precision by torch
    rounded = copy.deepcopy(model)
    rounded.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    with torch.no_grad():
        outputs = {False: first(model(x)), True: first(rounded(x))}
    for half in (False, True):
        ref = outputs[half]
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "w.safetensors"
            subprocess.run([tool, "convert", path, str(out)] + (["--half"] if half else []), check=True, capture_output=True)
            state = load_file(str(out))
            fresh = (ckpt.get("ema") or ckpt["model"]).float().eval()
            result = fresh.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
            with torch.no_grad():
                got = fresh(x)
            got = got[0] if isinstance(got, tuple) else got
            got = got[0] if isinstance(got, tuple) else got
            difference = ((got - ref).abs().max() / ref.abs().max()).item()
            ok = difference == 0.0
            failures += not ok
            print(f"{Path(path).name} {'F16' if half else 'F32'}: {len(state)} tensors, strict load ok ({result}), "
                  f"output max|Δ|/max|ref| = {difference:.2e} {'ok' if ok else 'FAIL'}")
sys.exit(1 if failures else 0)
