"""Trains a detector with a fork's own code on the demo's synthetic shapes, for the fork-mode
predict check (reference environment):

    REFENV/bin/python scripts/train-fork-detector.py FORK BASE.yaml OUT [--epochs 80] [--imgsz 320] [--images 24]

Re-runs itself with the fork's `ultralytics` first on the path (then FORK_DEPS, default
VENV/fork-deps, and the reference's fork_stubs), makes the demo dataset
(scripts/make-demo-dataset.py: --images training and 8 validation images) under OUT/data, trains
BASE.yaml with nc 3 for --epochs on the CPU (AMP and plots off), and copies the fork's best.pt
to OUT/NAME-best.pt: a checkpoint whose pickle names the fork's classes, as a fork user's does.
"""
import os, shutil, subprocess, sys

from reference_support import numpy2_shim, rerun_under_fork

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    args = sys.argv[1:]
    # a few images seen many times: a small set a from-scratch model learns within minutes on a CPU,
    # so that its scores clear the predictor's threshold
    epochs = int(args[args.index("--epochs") + 1]) if "--epochs" in args else 80
    images = args[args.index("--images") + 1] if "--images" in args else "24"
    imgsz = int(args[args.index("--imgsz") + 1]) if "--imgsz" in args else 320
    fork, base, out = (os.path.abspath(a) for a in args[:3])
    os.makedirs(out, exist_ok=True)
    if not os.environ.get("TRAIN_FORK_CHILD"):
        data = os.path.join(out, "data")
        if not os.path.exists(os.path.join(data, "shapes.yaml")):
            subprocess.run([sys.executable, os.path.join(HERE, "make-demo-dataset.py"), data, "--train", images, "--val", "8"], check=True)
        rerun_under_fork(fork, "TRAIN_FORK_CHILD", sys.argv[1:])

    import torch, yaml
    numpy2_shim()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    from ultralytics import YOLO, RTDETR
    from ultralytics.nn import tasks as T
    d = T.yaml_model_load(base)
    d["nc"] = 3
    name = os.path.splitext(os.path.basename(base))[0]
    variant = os.path.join(out, f"{name}.yaml")
    with open(variant, "w") as f:
        yaml.safe_dump({k: v for k, v in d.items() if k not in ("yaml_file", "ch", "channels")}, f, sort_keys=False)
    wrapper = RTDETR if any("RTDETRDecoder" in str(r[2]) for r in d["head"]) else YOLO
    model = wrapper(variant)
    model.train(data=os.path.join(out, "data", "shapes.yaml"), epochs=epochs, imgsz=imgsz, batch=16, workers=0, device="cpu",
                amp=False, plots=False, project=os.path.join(out, "runs"), name=name, exist_ok=True, seed=0, verbose=False)
    best = os.path.join(out, "runs", name, "weights", "best.pt")
    shutil.copy(best, os.path.join(out, f"{name}-best.pt"))
    print("wrote", os.path.join(out, f"{name}-best.pt"))


if __name__ == "__main__":
    main()
