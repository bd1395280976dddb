"""How far PyTorch's own float32 result is from the exact one, next to ModelGraph's: runs a
detection model exported by zoo.py (--export-dir DIR) in float64, in float32 as zoo.py does
(oneDNN's convolutions, torch.backends.mkldnn on) and in float32 without them, and compares
each and ModelGraph's output (`modelgraph run … --output OURS`) per part (boxes, scores), as
max error / max |reference|. Used where zoo.py's export and ModelGraph differ by more than 1e-5.

usage: REFENV/bin/python scripts/float-reference.py OFFICIAL.yaml DIR OURS.safetensors [--scale S]
"""
import sys

import torch
import yaml
from safetensors.torch import load_file
from ultralytics.nn.tasks import DetectionModel


def main():
    cfg, folder, ours = sys.argv[1], sys.argv[2], sys.argv[3]
    d = yaml.safe_load(open(cfg))
    if "--scale" in sys.argv:
        d["scale"] = sys.argv[sys.argv.index("--scale") + 1]
    model = DetectionModel(d, verbose=False)
    model.load_state_dict(load_file(f"{folder}/weights.safetensors"), strict=True)
    model.eval()
    x = load_file(f"{folder}/input.safetensors")["images"]
    with torch.no_grad():
        exact = model.double()(x.double())[0]
        model.float()
        runs = {}
        for fast in (True, False):
            torch.backends.mkldnn.enabled = fast
            runs[f"PyTorch float32, mkldnn {'on' if fast else 'off'}"] = model(x)[0].double()
    runs["ModelGraph"] = load_file(ours)["output"].double()
    off = runs["PyTorch float32, mkldnn off"]
    for part, columns in (("boxes", slice(0, 4)), ("scores", slice(4, None))):
        for name, y in runs.items():
            versus = [(y[:, columns] - ref[:, columns]).abs().max() / ref[:, columns].abs().max() for ref in (exact, off)]
            print(f"{part:6} {name:30} vs float64 {versus[0]:.3g}   vs float32 mkldnn off {versus[1]:.3g}")


if __name__ == "__main__":
    main()
