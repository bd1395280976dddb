"""Makes the fork-mode checkpoint fixture with the tiny fork's own code in PyTorch (reference environment):

    PYTHONPATH=Tests/ModelGraphTests/Fixtures/forks/tinyfork REFENV/bin/python scripts/make-fork-checkpoint.py \
        Tests/ModelGraphTests/Fixtures/forks/tinyfork/ultralytics/cfg/models/tiny-ops.yaml Tests/ModelGraphTests/Fixtures/forks/checkpoints

Builds the YAML with the fork's DetectionModel (its classes pickle under the fork's module paths, e.g.
`ultralytics.nn.extra_modules.ops.SPDConv`), randomises the BatchNorm statistics and sets every BatchNorm's eps to
1e-3 except one left at 1e-5 (so the pickled eps is what must be read), and saves it as Ultralytics' Model.save()
does: {'epoch', 'best_fitness', 'model': the model in half precision, 'ema': None, ..., 'date', 'version'}.
Writes NAME-fork-fp16.pt, and NAME-fork.input.safetensors / NAME-fork.output.safetensors: a seeded 64×64 input and
the eval output PyTorch computes in float32 from the saved file's (half-precision) weights.
"""
import copy, datetime, os, sys
from pathlib import Path

import torch
from safetensors.torch import save_file
import yaml as Y

from ultralytics.nn.tasks import DetectionModel

source, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
model = DetectionModel(Y.safe_load(open(source)), verbose=False)
g = torch.Generator().manual_seed(1)
norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
with torch.no_grad():
    for k, m in enumerate(norms):
        m.weight.uniform_(0.5, 1.5, generator=g); m.bias.uniform_(-0.2, 0.2, generator=g)
        m.running_mean.uniform_(-0.2, 0.2, generator=g); m.running_var.uniform_(0.05, 0.2, generator=g)
        m.eps = 1e-5 if k == 1 else 1e-3
name = source.stem + "-fork"
checkpoint = {"epoch": -1, "best_fitness": None, "model": copy.deepcopy(model).half(), "ema": None, "updates": None,
              "optimizer": None, "train_args": {"model": str(source.name), "imgsz": 64}, "date": datetime.datetime(2026, 12, 7).isoformat(),
              "version": "8.0.0+tiny"}
torch.save(checkpoint, out / f"{name}-fp16.pt")
saved = torch.load(out / f"{name}-fp16.pt", weights_only=False)["model"].float().eval()
x = torch.rand(1, 3, 64, 64, generator=g)
with torch.no_grad():
    y = saved(x)
y = y[0] if isinstance(y, (list, tuple)) else y
save_file({"images": x.contiguous()}, out / f"{name}.input.safetensors")
save_file({"output": y.contiguous()}, out / f"{name}.output.safetensors")
print(out / f"{name}-fp16.pt", os.path.getsize(out / f"{name}-fp16.pt"), "bytes; output", list(y.shape))
