"""What the reference-environment scripts share: running under a fork's own `ultralytics`, reading
the "Transferred N/M items" line Ultralytics logs, and the tiny synthetic detection set they train on.
Imported by scripts in this folder (Python puts a script's own folder on its path)."""
import logging, os, re, subprocess, sys, tempfile

REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "reference")


def fork_environment(root, marker):
    """The environment that runs a script with the fork at `root` first on the path (then FORK_DEPS,
    default VENV/fork-deps, and the reference's fork_stubs, as fork_oracle.py does); `marker` is set
    so the script knows it is the child."""
    deps = os.environ.get("FORK_DEPS") or os.path.join(sys.prefix, "fork-deps")
    paths = [root] + [p for p in (deps, os.path.join(REFERENCE, "fork_stubs")) if os.path.isdir(p)]
    config = tempfile.mkdtemp(prefix="fork-run-")
    # releases before 8.1 call torch.load without weights_only, which torch 2.6+ now defaults to True
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths), YOLO_CONFIG_DIR=config, MPLCONFIGDIR=config, YOLO_OFFLINE="1",
                TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", **{marker: "1"})


def rerun_under_fork(root, marker, arguments):
    """Runs the calling script again (`arguments` after its path) under the fork, in its folder, and exits with its status."""
    script = os.path.abspath(sys.argv[0])
    sys.exit(subprocess.call([sys.executable, "-W", "ignore", script] + arguments, env=fork_environment(root, marker), cwd=root))


def numpy2_shim():
    """NumPy 2 renamed trapz; Ultralytics releases before 8.3.x call the old name when validating."""
    import numpy as np
    if not hasattr(np, "trapz"):
        np.trapz = np.trapezoid


def transfer_counter():
    """A function that runs an action and returns the (N, M) of the "Transferred N/M items" line
    Ultralytics logged during it."""
    from ultralytics.utils import LOGGER
    said = []

    class Catch(logging.Handler):
        def emit(self, record):
            said.append(record.getMessage())
    LOGGER.addHandler(Catch())
    LOGGER.setLevel(logging.INFO)

    def transferred(action):
        said.clear()
        action()
        for line in said:
            m = re.search(r"Transferred (\d+)/(\d+) items", line)
            if m:
                return int(m.group(1)), int(m.group(2))
        raise RuntimeError("no 'Transferred N/M items' line: " + " | ".join(said[-3:]))
    return transferred


def synthetic_dataset(names, root=None):
    """8 training and 4 validation 64×64 images of noise, each with one coloured square of class
    k % 3, and Ultralytics' data.yaml listing `names`; returns the data.yaml path."""
    import numpy as np
    from pathlib import Path
    from PIL import Image
    root = Path(root or tempfile.mkdtemp(prefix="synthetic-data-"))
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        rng = np.random.default_rng(0 if split == "train" else 1)
        for k in range(8 if split == "train" else 4):
            pixels = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
            cls_id = k % 3
            x0, y0 = 8 + 4 * k % 24, 12 + 3 * k % 20
            pixels[y0:y0 + 24, x0:x0 + 24] = [(255, 0, 0), (0, 255, 0), (0, 0, 255)][cls_id]
            Image.fromarray(pixels).save(root / "images" / split / f"{k}.png")
            (root / "labels" / split / f"{k}.txt").write_text(
                f"{cls_id} {(x0 + 12) / 64:.4f} {(y0 + 12) / 64:.4f} {24 / 64:.4f} {24 / 64:.4f}\n")
    listed = "".join(f"  {i}: {name}\n" for i, name in enumerate(names))
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n{listed}")
    return str(root / "data.yaml")
