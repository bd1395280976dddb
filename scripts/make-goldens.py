"""Make golden fixtures from the PyTorch reference (../shared/reference). Not used by the build
or the tests; run by hand where the reference is set up:

    REFENV/bin/python scripts/make-goldens.py OUT.json CONFIG.yaml [--scale s] [--imgsz H[,W]] [--batch N] [--keys]

Writes per-row parameter and module counts, output shapes per index, total parameters,
thop GFLOPs, and (with --keys) the state_dict key names and shapes.
"""
import argparse, json, sys, contextlib, io
from pathlib import Path

ref = Path(__file__).resolve().parents[2] / "shared" / "reference"
sys.path.insert(0, str(ref))
import torch  # noqa: E402
with contextlib.redirect_stdout(io.StringIO()):
    import build  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("cfg")
ap.add_argument("--scale")
ap.add_argument("--imgsz", default="640")
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--keys", action="store_true")
ap.add_argument("--fuse", action="store_true")
a = ap.parse_args()
torch.manual_seed(0)
model = build.Model(a.cfg, a.scale).eval()
hw = [int(v) for v in a.imgsz.split(",")]
h, w = hw[0], hw[-1]
x = torch.zeros(a.batch, model.yaml.get("ch", 3), h, w)
rec = []
with torch.inference_mode():
    out = model(x, rec)
rows = []
for m, r in zip(model.model, model.rows):
    rows.append(dict(index=r["index"], row=r["row"], frm=r["frm"], n=r["n"], module=r["module"], args=r["args"],
                     params=r["params"], modules=len(list(m.modules()))))
res = dict(config=Path(a.cfg).name, scale=a.scale, imgsz=[h, w], batch=a.batch,
           params=sum(p.numel() for p in model.parameters()), all_modules=len(list(model.modules())),
           rows=rows, shapes={str(k): v for k, v in rec}, output=build.shape_of(out))
try:
    import thop, copy
    res["thop_gflops"] = thop.profile(copy.deepcopy(model), inputs=[x], verbose=False)[0] * 2 / 1e9
except Exception as e:  # thop fails on some modules; say so
    res["thop_gflops"] = None
if a.keys:
    res["state_dict"] = [[k, list(v.shape)] for k, v in model.state_dict().items() if v.dtype.is_floating_point]
if a.fuse:
    from ultralytics.nn.modules import RepConv, Conv
    from ultralytics.utils.torch_utils import fuse_conv_and_bn
    for mod in model.modules():
        if isinstance(mod, RepConv): mod.fuse_convs()
        elif isinstance(mod, Conv) and hasattr(mod, "bn"):
            mod.conv = fuse_conv_and_bn(mod.conv, mod.bn); delattr(mod, "bn")
    res["params_fused"] = sum(p.numel() for p in model.parameters())
Path(a.out).write_text(json.dumps(res, indent=1, default=str) + "\n")
print(a.out, res["params"])
