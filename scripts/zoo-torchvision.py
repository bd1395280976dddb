"""Runs ../shared/reference/zoo.py with torchvision's get_model building the architecture without
its pretrained weights (weights=None), so TorchVision rows (yolo11-cls-resnet18) build offline.
Ultralytics passes weights="DEFAULT", a download; the architecture is the same either way.

usage: REFENV/bin/python scripts/zoo-torchvision.py ZOO_ARGS...
"""
import runpy
import sys
from pathlib import Path

import torchvision

ZOO = Path(__file__).resolve().parents[2] / "shared" / "reference" / "zoo.py"
build = torchvision.models.get_model
torchvision.models.get_model = lambda name, weights=None, **kwargs: build(name, weights=None, **kwargs)
sys.argv = [str(ZOO), *sys.argv[1:]]
runpy.run_path(str(ZOO), run_name="__main__")
