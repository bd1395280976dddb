"""Runs the zoo oracle (../shared/reference/zoo.py: Ultralytics' own classes and parse_model) on an
official config and writes the figures ModelGraph's zoo goldens compare against: per row the index,
from, repeats, parameters, module and printed arguments, each row's output shape(s), the totals
(unfused and after Ultralytics' fuse()), model.info()'s layers/parameters/gradients, the BatchNorm eps and the head's strides.

usage: REFENV/bin/python scripts/make-zoo-goldens.py OUT.json OFFICIAL.yaml OUR_CONFIG [--scale s] [--imgsz H,W] [--batch N] [--end2end]
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ZOO = Path(__file__).resolve().parents[2] / "shared" / "reference" / "zoo.py"


def main():
    out, official, ours, rest = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    # ZOO_RUNNER: a wrapper of zoo.py (scripts/zoo-torchvision.py builds TorchVision rows offline)
    text = subprocess.run([sys.executable, os.environ.get("ZOO_RUNNER", str(ZOO)), official, "--fuse", "--flops", *rest], check=True, capture_output=True, text=True).stdout
    report = json.loads(text[text.index("{"):])
    golden = {
        "config": ours,
        "official": report["cfg"],
        "scale": report.get("scale"),
        "imgsz": report["imgsz"],
        "batch": report["batch"],
        # model.end2end = True: heads with one-to-one branches return the top-k
        "end2end": "--end2end" in rest,
        "params": report["params"],
        "params_fused": report.get("params_fused"),
        "bn_eps": report["bn_eps"],
        "stride": report["head"].get("stride"),
        # Ultralytics' own summary line figures (model.info()), unfused and fused
        "info": {k: report["info"][k] for k in ("layers", "parameters", "gradients", "gflops")},
        "info_fused": {k: report["info_fused"][k] for k in ("layers", "parameters", "gradients", "gflops")} if report.get("info_fused") else None,
        "rows": [{k: row[k] for k in ("index", "row", "frm", "n", "params", "module", "args")} for row in report["layers"]],
        "row_outputs": report["row_outputs"],
    }
    Path(out).write_text(json.dumps(golden, indent=1) + "\n")


if __name__ == "__main__":
    main()
