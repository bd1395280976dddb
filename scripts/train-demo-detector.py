"""Trains the demo detector (YOLOv8n, 3 classes) on the synthetic shapes dataset with
Ultralytics, on the CPU, and copies its best checkpoint next to the README's demo.

    REFENV/bin/python scripts/make-demo-dataset.py /tmp/shapes
    REFENV/bin/python scripts/train-demo-detector.py /tmp/shapes [EPOCHS]

Writes examples/demo/shapes-yolov8n.pt (Ultralytics' best.pt, FP16 as it saves it) and copies
20 validation images to examples/demo/images/ for the README and scripts/compare-predict.py.
"""
import shutil
import sys
from pathlib import Path

from ultralytics import YOLO

root = Path(__file__).resolve().parent.parent
data = Path(sys.argv[1]).resolve()
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
model = YOLO("yolov8n.yaml")
model.train(data=str(data / "shapes.yaml"), epochs=epochs, imgsz=320, batch=16, workers=0, device="cpu", seed=0,
            deterministic=True, plots=False, amp=False, pretrained=False, project=str(data / "runs"), name="train",
            exist_ok=True, mosaic=1.0, close_mosaic=3, verbose=False)
best = data / "runs" / "train" / "weights" / "best.pt"
target = root / "examples" / "demo"
target.mkdir(parents=True, exist_ok=True)
shutil.copy(best, target / "shapes-yolov8n.pt")
images = target / "images"
images.mkdir(exist_ok=True)
for path in sorted((data / "images" / "val").glob("*.jpg"))[:20]:
    shutil.copy(path, images / path.name)
print(f"wrote {target / 'shapes-yolov8n.pt'} and 20 images to {images}")
