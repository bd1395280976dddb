"""Random-weight checkpoints saved by Ultralytics, for comparing `modelgraph predict` with
`model.predict` (scripts/compare-predict.py).

    REFENV/bin/python scripts/make-predict-checkpoints.py OUTDIR

Freshly initialised, these networks compute almost constant features (activations shrink layer
by layer while BatchNorm's running statistics are still 0 and 1), and Ultralytics initialises
class biases so that every score starts near 0.01: nothing would pass the 0.25 threshold. To
exercise NMS, masks and keypoints on real numbers, as at the start of training, each BatchNorm's
running statistics are measured on Ultralytics' two sample images (letterboxed, and flipped),
and the last class layers' weights are scaled and their bias set so that scores spread over
(0, 1). The convolution weights stay Ultralytics' own seeded initialisation; `Model.save` writes
the file (FP16, as it does).
"""
import sys
from pathlib import Path

import torch
from ultralytics import RTDETR, YOLO
from ultralytics.data.augment import LetterBox
from ultralytics.utils import ASSETS
from ultralytics.utils.patches import imread

MODELS = ["yolov8n.yaml", "yolo11n-seg.yaml", "yolov8n-pose.yaml", "yolo11n-obb.yaml", "yolov8n-cls.yaml", "rtdetr-l.yaml"]


GAIN = {"rtdetr-l.yaml": 1}


def calibrate(model, size):
    """BatchNorm running statistics as the mean over the sample images (momentum None)."""
    net = model.model.float().eval()
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    batch = []
    for name in ("bus.jpg", "zidane.jpg"):
        image = LetterBox((size, size), auto=False)(image=imread(str(ASSETS / name)))
        tensor = torch.from_numpy(image[..., ::-1].copy()).permute(2, 0, 1).float() / 255
        batch += [tensor, tensor.flip(-1)]
    with torch.no_grad():
        net(torch.stack(batch))
    for norm in norms:
        norm.eval()


def spread_scores(model, gain):
    head = model.model.model[-1]
    layers = []
    if hasattr(head, "cv3"):  # Detect family: the last Conv2d of each level's class branch
        layers = [branch[-1] for branch in head.cv3]
    elif hasattr(head, "dec_score_head"):  # RT-DETR: decoder and encoder score heads
        layers = list(head.dec_score_head) + [head.enc_score_head]
    with torch.no_grad():
        for layer in layers:
            layer.weight.mul_(gain)
            layer.bias.fill_(-4 if layer.out_channels > 1 else -2.5)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        torch.manual_seed(0)
        model = RTDETR(name) if name.startswith("rtdetr") else YOLO(name)
        calibrate(model, 224 if "cls" in name else 640)
        spread_scores(model, GAIN.get(name, 1))
        target = out / name.replace(".yaml", ".pt")
        model.save(target)
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
