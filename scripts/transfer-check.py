"""Checks `modelgraph transfer` against Ultralytics' own loading (needs the reference environment).

    REFENV/bin/python scripts/transfer-check.py MODELGRAPH OUT [--train] [--fork ROOT BASE.yaml ...]

Without --fork: six variants of yolo11n, yolov8s and rtdetr-l (an inserted row, a replaced neck
module, a changed width, a removed row), made from the official YAMLs that Ultralytics 8.4.190
ships by editing their rows (indices in later `from` fields renumbered). With --fork: three
variants of each BASE.yaml inside the fork (inserted row, changed width, removed row), built by
the fork's own code, whose BaseModel.load decides. The variants are written under OUT only.

For each variant:
  1. the base model is built with the code under test (Ultralytics or the fork), its BatchNorm
     statistics randomised, and saved as Model.save() saves it (half precision): OUT/NAME-from.pt;
  2. `YOLO(variant).load(from.pt)` — what Ultralytics prints as "Transferred N/M items" — is
     compared with `modelgraph transfer from.pt variant --json`'s Ultralytics-rule figure;
  3. `modelgraph transfer ... -o init.pt`, then `YOLO(variant).load(init.pt)` must transfer
     exactly the tensors ModelGraph listed (count, and every value equal to the file's tensor under
     the key ModelGraph named), and for an inserted or removed row every paired row keeps all;
  4. with --train, one epoch on a tiny synthetic set (64 px; 320 for RT-DETR) starts from init.pt (`pretrained=init.pt`; in
     fork mode `YOLO(variant).load(init.pt).train(...)`, as Model.train before 8.4 ignores `pretrained=`
     for a model it has already built).
Prints a table; writes OUT/results.json. Exit status 1 when a check fails.
"""
import copy, json, os, subprocess, sys

from reference_support import numpy2_shim, rerun_under_fork, synthetic_dataset, transfer_counter


def edit(d, kind, rows):
    """A variant of the model dict `d`: kind is insert/remove/width/replace; rows indexes both sections."""
    d = copy.deepcopy(d)
    layers = d["backbone"] + d["head"]
    nb = len(d["backbone"])
    if kind in ("insert", "remove"):
        position = rows
        # sources as absolute indices, renumbered, then written back as the row wrote them (relative or not)
        relative = [[f < 0 for f in (row[0] if isinstance(row[0], list) else [row[0]])] for row in layers]
        absolute = [[i + f if f < 0 else f for f in (row[0] if isinstance(row[0], list) else [row[0]])] for i, row in enumerate(layers)]
        if kind == "insert":
            prev = layers[position - 1]
            # a row that keeps its input's width: SPPF(c, c) in the backbone, a 1×1 Conv in the head
            width = prev[3][0] if prev[3] and isinstance(prev[3][0], int) else 256
            layers.insert(position, [-1, 1, "SPPF", [width, 5]] if position < nb else [-1, 1, "Conv", [width, 1, 1]])
            absolute = [[a + 1 if a >= position else a for a in srcs] for srcs in absolute]
            absolute.insert(position, [position - 1])
            relative.insert(position, [True])
            nb += position < nb
        else:
            removed_source = absolute[position][0]
            del layers[position]
            del absolute[position]
            del relative[position]
            absolute = [[removed_source if a == position else a - 1 if a > position else a for a in srcs] for srcs in absolute]
            nb -= position < nb
        for i, row in enumerate(layers):
            srcs = [a - i if rel else a for a, rel in zip(absolute[i], relative[i])]
            row[0] = srcs if isinstance(row[0], list) else srcs[0]
    elif kind == "width":
        row = layers[rows]
        row[3] = [int(row[3][0] * 1.25)] + list(row[3][1:])
    elif kind == "replace":
        module_from, module_to = rows
        for row in layers[nb:]:
            if row[2] == module_from:
                row[2] = module_to
                row[3] = [row[3][0]] + ([] if module_to == "C2f" else list(row[3][1:]))
    d["backbone"], d["head"] = layers[:nb], layers[nb:]
    return d


def main():
    args = sys.argv[1:]
    train = "--train" in args
    args = [a for a in args if a != "--train"]
    fork = None
    if "--fork" in args:
        k = args.index("--fork")
        fork, bases = os.path.abspath(args[k + 1]), [os.path.abspath(p) for p in args[k + 2:]]
        args = args[:k]
        if not os.environ.get("TRANSFER_CHECK_CHILD"):
            rerun_under_fork(fork, "TRANSFER_CHECK_CHILD", sys.argv[1:])
    modelgraph, out = os.path.abspath(args[0]), os.path.abspath(args[1])
    os.makedirs(out, exist_ok=True)

    import torch, yaml
    numpy2_shim()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    import ultralytics
    from ultralytics.nn import tasks as T
    transferred = transfer_counter()

    def model_class(d):
        if any("RTDETRDecoder" in str(r[2]) for r in d["head"]):
            return T.RTDETRDetectionModel
        return T.DetectionModel

    def wrapper(d):
        from ultralytics import YOLO, RTDETR
        return RTDETR if model_class(d) is T.RTDETRDetectionModel else YOLO

    if fork:
        cases = []
        for base in bases:
            d = T.yaml_model_load(base)
            name = os.path.splitext(os.path.basename(base))[0]
            cases += [(f"{name}-insert", base, d, edit(d, "insert", len(d["backbone"]) - 1), "insert"),
                      (f"{name}-width", base, d, edit(d, "width", 1), "width"),
                      (f"{name}-remove", base, d, edit(d, "remove", len(d["backbone"]) - 2), "remove")]
    else:
        root = os.path.dirname(ultralytics.__file__)
        def official(rel):
            path = os.path.join(root, "cfg", "models", rel)
            return path, T.yaml_model_load(path)
        y11, d11 = official("11/yolo11n.yaml")
        v8, d8 = official("v8/yolov8s.yaml")
        rt, drt = official("rt-detr/rtdetr-l.yaml")
        cases = [("yolo11n-insert", y11, d11, edit(d11, "insert", 5), "insert"),
                 ("yolo11n-neck", y11, d11, edit(d11, "replace", ("C3k2", "C2f")), "replace"),
                 ("yolov8s-width", v8, d8, edit(d8, "width", 5), "width"),
                 ("yolov8s-remove", v8, d8, edit(d8, "remove", 8), "remove"),
                 ("rtdetr-l-insert", rt, drt, edit(drt, "insert", 13), "insert"),
                 ("rtdetr-l-neck", rt, drt, edit(drt, "replace", ("RepC3", "C2f")), "replace")]

    data = None
    if train:
        # 80 classes, as the official configs' nc, so the head keeps the file's shapes
        data = synthetic_dataset([f"c{i}" for i in range(80)])
    results, failed = [], False
    for name, base, d_from, d_to, kind in cases:
        # the variant's name starts as the base's (yolo11n-…), so both tools guess the same scale from it
        to_path = os.path.join(out, f"{name}.yaml")
        variant = {k: v for k, v in d_to.items() if k not in ("yaml_file", "scale", "ch", "channels")}
        with open(to_path, "w") as f:
            yaml.safe_dump(variant, f, sort_keys=False, default_flow_style=None)
        cls = model_class(d_from)
        model = cls(copy.deepcopy(d_from), verbose=False)
        g = torch.Generator().manual_seed(len(results) + 1)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                with torch.no_grad():
                    m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.2 - 0.1)
                    m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.5)
                    m.num_batches_tracked.fill_(5)
        from_path = os.path.join(out, f"{name}-from.pt")
        torch.save({"model": copy.deepcopy(model).half(), "date": "2026-12-07T00:00:00", "version": ultralytics.__version__,
                    "train_args": {"task": "detect"}}, from_path)

        def build_to():
            return wrapper(d_to)(to_path)
        rule = transferred(lambda: build_to().load(from_path))

        init_path = os.path.join(out, f"{name}-init.pt")
        command = [modelgraph, "transfer", from_path, to_path, "--json", "-o", init_path]
        if fork:
            command += ["--source", fork]
        run = subprocess.run(command, capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{name}: modelgraph failed: {run.stderr.strip()}")
            failed = True
            continue
        report = json.loads(run.stdout)
        ours = (report["ultralytics_rule"]["transferred"], report["ultralytics_rule"]["total"])
        carried = report["aligned"]["carried"]

        target = build_to()
        loaded = transferred(lambda: target.load(init_path))
        source = torch.load(from_path, map_location="cpu", weights_only=False)["model"].float().state_dict()
        state = target.model.state_dict()
        values_equal = all(torch.equal(state[k].float(), source[fk].float()) for k, fk in carried)
        paired_rows_whole = all(r["kept"] == r["total"] for r in report["aligned"]["rows"] if r["from"] is not None)
        ok = ours == rule and loaded == (len(carried), report["aligned"]["total"]) and values_equal
        if kind in ("insert", "remove"):
            ok = ok and paired_rows_whole
        trained = None
        if train and ok:
            # an RT-DETR decoder takes its top 300 anchors, more than a 64 px image has before 8.4 clamps it
            size = 320 if model_class(d_to) is T.RTDETRDetectionModel else 64
            settings = dict(data=data, epochs=1, imgsz=size, batch=4, workers=0, device="cpu", plots=False, amp=False, val=False,
                            project=os.path.join(out, "runs"), name=name, exist_ok=True, verbose=False)
            if fork:
                # before 8.4, Model.train builds the model itself and skips `pretrained=`; load() first is the way
                trained = transferred(lambda: wrapper(d_to)(to_path).load(init_path).train(**settings))
            else:
                trained = transferred(lambda: wrapper(d_to)(to_path).train(pretrained=init_path, **settings))
            ok = ok and trained[0] == len(carried)
        failed |= not ok
        results.append(dict(name=name, kind=kind, ultralytics=list(rule), modelgraph_rule=list(ours),
                            carried=len(carried), loaded_from_init=list(loaded), values_equal=values_equal,
                            paired_rows_whole=paired_rows_whole, trained_from_init=list(trained) if trained else None, ok=ok))
        print(f"{'ok  ' if ok else 'FAIL'} {name:26s} Ultralytics {rule[0]}/{rule[1]}  ModelGraph rule {ours[0]}/{ours[1]}  "
              f"aligned {len(carried)}/{report['aligned']['total']}  init.pt loads {loaded[0]}/{loaded[1]}"
              f"{'' if values_equal else '  VALUES DIFFER'}" + (f"  trained from {trained[0]}" if trained else ""), flush=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(dict(ultralytics=ultralytics.__version__, fork=fork, results=results), f, indent=1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
