"""Makes Tests/ModelGraphTests/Fixtures/transfer/expected.json with Ultralytics' own code (reference environment):

    REFENV/bin/python scripts/make-transfer-fixtures.py MODELGRAPH

For each variant YAML in Fixtures/transfer/ (edits of Fixtures/checkpoints/yolov8-tiny.yaml): the
"Transferred N/M items" Ultralytics 8.4.190 prints when the variant loads yolov8-tiny-fp16.pt, and
what it prints when the variant loads the init.pt `MODELGRAPH transfer -o` wrote. For the tiny
fork's variant (Fixtures/forks/tinyfork/ultralytics/cfg/transfer/): the fork's own classes build
both models (PYTHONPATH=tinyfork), and the count is the intersection by key and shape of the
checkpoint's state dict and the variant's — the rule of the releases the forks are built on.
"""
import json, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "Tests", "ModelGraphTests", "Fixtures")


def fork_counts():
    """Run with the tiny fork on the path: {variant: [intersection, variant's state_dict size]}."""
    import torch, yaml
    from ultralytics.nn.tasks import DetectionModel
    source = torch.load(os.path.join(FIXTURES, "forks", "checkpoints", "tiny-ops-fork-fp16.pt"), map_location="cpu", weights_only=False)
    csd = source["model"].float().state_dict()
    out = {}
    folder = os.path.join(FIXTURES, "forks", "tinyfork", "ultralytics", "cfg", "transfer")
    for name in sorted(os.listdir(folder)):
        variant = DetectionModel(yaml.safe_load(open(os.path.join(folder, name))), verbose=False)
        state = variant.state_dict()
        kept = {k for k, v in csd.items() if k in state and v.shape == state[k].shape}
        out[name] = [len(kept), len(state)]
    print(json.dumps(out))


def main():
    modelgraph = os.path.abspath(sys.argv[1])
    from ultralytics import YOLO
    from reference_support import transfer_counter
    counted = transfer_counter()

    def transferred(action):
        return list(counted(action))

    checkpoint = os.path.join(FIXTURES, "checkpoints", "yolov8-tiny-fp16.pt")
    folder = os.path.join(FIXTURES, "transfer")
    expected = {"source": "yolov8-tiny-fp16.pt", "ultralytics": {}, "init_loads": {}, "fork": {}}
    scratch = tempfile.mkdtemp()
    for name in sorted(f for f in os.listdir(folder) if f.endswith(".yaml")):
        path = os.path.join(folder, name)
        expected["ultralytics"][name] = transferred(lambda: YOLO(path).load(checkpoint))
        init = os.path.join(scratch, name + ".pt")
        subprocess.run([modelgraph, "transfer", checkpoint, path, "-o", init], check=True, capture_output=True)
        expected["init_loads"][name] = transferred(lambda: YOLO(path).load(init))
    deps = os.environ.get("FORK_DEPS") or os.path.join(sys.prefix, "fork-deps")  # einops and timm, as setup.sh installs them
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(FIXTURES, "forks", "tinyfork"), deps]))
    run = subprocess.run([sys.executable, os.path.abspath(__file__), "--fork"], env=env, capture_output=True, text=True, check=True)
    expected["fork"] = json.loads(run.stdout.strip().splitlines()[-1])
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(json.dumps(expected, indent=1))


if __name__ == "__main__":
    fork_counts() if sys.argv[1:] == ["--fork"] else main()
