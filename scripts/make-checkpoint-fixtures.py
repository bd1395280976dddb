"""Makes the .pt checkpoint fixtures with Ultralytics' own code (needs the reference environment):

    REFENV/bin/python scripts/make-checkpoint-fixtures.py Tests/ModelGraphTests/Fixtures/checkpoints

For each tiny config in that folder it builds the model with Ultralytics' classes, randomises the
BatchNorm statistics (so a wrong eps or a dropped buffer shows), and writes
  NAME-fp16.pt   Model.save()'s layout (the model in half precision, date, version, ...)
  NAME-fp32.pt   the same dict with the model in float32 (yolov8-tiny only)
  yolov8-tiny-eps-fp16.pt   every BatchNorm with eps 1e-5 instead of Ultralytics' 1e-3
and NAME.input.safetensors / NAME.output.safetensors: a seeded 64×64 input and the model's eval
output (`output`, and `proto` for Segment) computed by PyTorch in float32 from the saved file.
It also trains yolov8-tiny for 2 epochs on a synthetic 8-image dataset (offline: plots and AMP
off), which writes best.pt and last.pt through Ultralytics' strip_optimizer, and saves a model of
the seed's kind the way the community forks do (their module classes pickled under
`ultralytics.nn.AddModules.*`).
"""
import copy, datetime, json, os, sys, types
from pathlib import Path

import torch
from safetensors.torch import save_file

out = Path(sys.argv[1]).resolve()
torch.manual_seed(0)
torch.set_num_threads(2)

import ultralytics
from ultralytics.nn.tasks import DetectionModel, SegmentationModel, RTDETRDetectionModel


def randomise_norms(model, seed):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.2 - 0.1)
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.5)
                m.num_batches_tracked.fill_(7)


def checkpoint(model, half):
    """Ultralytics' Model.save(): the model (halved) plus date, version, license, docs."""
    return {
        "model": copy.deepcopy(model).half() if half else copy.deepcopy(model),
        "date": "2026-11-22T10:00:00",
        "version": ultralytics.__version__,
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "docs": "https://docs.ultralytics.com",
    }


def reference(path, name, image):
    """The eval output of the saved file's model, in float32, as Ultralytics' loader runs it."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = (ckpt.get("ema") or ckpt["model"]).float().eval()
    with torch.no_grad():
        result = model(image)
    tensors = {}
    if isinstance(result, tuple):
        first = result[0]
        if isinstance(first, tuple):  # Segment: ((y, proto), raw)
            tensors["output"], tensors["proto"] = first[0], first[1]
        else:
            tensors["output"] = first
    else:
        tensors["output"] = result
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / f"{name}.output.safetensors"))
    print(name, {k: list(v.shape) for k, v in tensors.items()})


def image(seed, h=64, w=64):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def save_input(name, x):
    save_file({"images": x.contiguous()}, str(out / f"{name}.input.safetensors"))


kinds = {"yolov8-tiny": DetectionModel, "yolo11-seg-tiny": SegmentationModel, "rtdetr-tiny": RTDETRDetectionModel}
for seed, (name, cls) in enumerate(kinds.items()):
    model = cls(str(out / f"{name}.yaml"), verbose=False)
    randomise_norms(model, seed + 1)
    model.eval()
    x = image(seed + 10)
    save_input(name, x)
    for half in (True, False) if name == "yolov8-tiny" else (True,):
        suffix = "fp16" if half else "fp32"
        path = out / f"{name}-{suffix}.pt"
        torch.save(checkpoint(model, half), path)
        reference(path, f"{name}-{suffix}", x)

# BatchNorm eps is a property of the pickled module: a model whose norms use 1e-5 (not the 1e-3
# Ultralytics' initialize_weights sets) must run with 1e-5
model = DetectionModel(str(out / "yolov8-tiny.yaml"), verbose=False)
randomise_norms(model, 9)
for m in model.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.eps = 1e-5
model.eval()
torch.save(checkpoint(model, True), out / "yolov8-tiny-eps-fp16.pt")
reference(out / "yolov8-tiny-eps-fp16.pt", "yolov8-tiny-eps-fp16", image(10))

# a real training run: best.pt / last.pt through strip_optimizer
from reference_support import synthetic_dataset
data_root = Path(synthetic_dataset(["red", "green", "blue"])).parent
from ultralytics import YOLO
yolo = YOLO(str(out / "yolov8-tiny.yaml"))
yolo.train(data=str(data_root / "data.yaml"), epochs=2, imgsz=64, batch=4, workers=0, device="cpu", plots=False,
           amp=False, val=True, project=str(data_root / "runs"), name="train", exist_ok=True, verbose=False, seed=0)
weights = data_root / "runs" / "train" / "weights"
for kind in ("best", "last"):
    target = out / f"yolov8-tiny-trained-{kind}.pt"
    target.write_bytes((weights / f"{kind}.pt").read_bytes())
x = image(20)
save_input("yolov8-tiny-trained", x)
reference(out / "yolov8-tiny-trained-best.pt", "yolov8-tiny-trained-best", x)
print("fixtures written to", out)

# the seed's kind of model, saved as the community forks save it: their own module classes,
# pickled under ultralytics.nn.AddModules.<Name>, inside an RT-DETR model object
reference_dir = Path(__file__).resolve().parent.parent.parent / "shared" / "reference"
sys.path.insert(0, str(reference_dir))
import build as seed_build
import seedmods
import ultralytics.nn.tasks as tasks
for cls in (seedmods.ConvBN, seedmods.StarBlock, seedmods.StarNet, seedmods.LocalSimGuidedSampler, seedmods.FreqFusion,
            seedmods.DySample, seedmods.CARAFE):
    module_name = f"ultralytics.nn.AddModules.{cls.__name__}"
    fake = types.ModuleType(module_name)
    setattr(fake, cls.__name__, cls)
    sys.modules[module_name] = fake
    cls.__module__ = module_name
seed_yaml = out.parent / "parity" / "seedlike.yaml"
model = seed_build.Model(str(seed_yaml))
randomise_norms(model, 11)
model.eval()
original = tasks.RTDETRDetectionModel
seed_build.Model.__module__, seed_build.Model.__qualname__, seed_build.Model.__name__ = "ultralytics.nn.tasks", "RTDETRDetectionModel", "RTDETRDetectionModel"
tasks.RTDETRDetectionModel = seed_build.Model
try:
    x = image(30, 128, 128)
    save_input("seedlike-fork", x)
    torch.save(checkpoint(model, True), out / "seedlike-fork-fp16.pt")
    reference(out / "seedlike-fork-fp16.pt", "seedlike-fork-fp16", x)
finally:
    tasks.RTDETRDetectionModel = original
