"""Compares `modelgraph predict --json` with Ultralytics' `model.predict` on the same
checkpoints and images, detection by detection.

    REFENV/bin/python scripts/compare-predict.py MODELGRAPH CHECKPOINT IMAGE... [--conf C] [--max-det N] [--retina-masks]

Each image is predicted alone (as `yolo predict` runs a file or folder: batch 1, minimal
letterbox). A reference detection matches one of ours of the same class whose box is within
1 px on every side (OBB: centre, size within 1 px, angle within 1e-3 rad) and score within 1e-3;
masks must reach IoU ≥ 0.98, keypoints lie within 1 px. Counts may differ by one only where a
score lies within 1e-4 of the threshold. Classification: the same top 5, probabilities within 1e-3.
Prints one line per image and exits 1 on any mismatch.

With --source FORK the reference is the fork's own predictor (the script re-runs itself with the
fork's `ultralytics` first on the path, as scripts/transfer-check.py does) and ModelGraph predicts
in fork mode (`modelgraph predict CHECKPOINT --source FORK`).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

if "--source" in sys.argv and not os.environ.get("COMPARE_PREDICT_CHILD"):
    from reference_support import rerun_under_fork
    fork = os.path.abspath(sys.argv[sys.argv.index("--source") + 1])
    rerun_under_fork(fork, "COMPARE_PREDICT_CHILD", [os.path.abspath(a) if os.path.exists(a) else a for a in sys.argv[1:]])

from ultralytics import RTDETR, YOLO


def decode_rle(mask):
    bits = np.zeros(mask["width"] * mask["height"], np.uint8)
    position, value = 0, 0
    for count in mask["counts"]:
        bits[position : position + count] = value
        position += count
        value ^= 1
    return bits.reshape(mask["height"], mask["width"])


def reference(model, image, conf, retina, max_det=300):
    result = model.predict(image, conf=conf, retina_masks=retina, max_det=max_det, verbose=False)[0]
    if result.probs is not None:
        top5 = result.probs.top5
        return {"top5": [(int(c), float(result.probs.data[c])) for c in top5]}
    detections = []
    if getattr(result, "obb", None) is not None:  # releases before 8.1 have no obb
        for xywhr, score, cls in zip(result.obb.xywhr.tolist(), result.obb.conf.tolist(), result.obb.cls.tolist()):
            detections.append({"class": int(cls), "confidence": score, "xywhr": xywhr})
        return {"detections": detections}
    boxes = result.boxes
    masks = result.masks.data.cpu().numpy() if result.masks is not None else None
    keypoints = result.keypoints.data.cpu().numpy() if result.keypoints is not None else None
    for i, (box, score, cls) in enumerate(zip(boxes.xyxy.tolist(), boxes.conf.tolist(), boxes.cls.tolist())):
        detection = {"class": int(cls), "confidence": score, "box": box}
        if masks is not None:
            detection["mask"] = masks[i] > 0.5
        if keypoints is not None:
            detection["keypoints"] = keypoints[i]
        detections.append(detection)
    return {"detections": detections}


def ours(binary, checkpoint, image, conf, retina, source=None, max_det=300):
    command = [binary, "predict", checkpoint, image, "--json", "--conf", str(conf), "--max-det", str(max_det)] + (["--retina-masks"] if retina else [])
    command += ["--source", source] if source else []
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"modelgraph failed: {run.stderr}")
    record = json.loads(run.stdout.strip().splitlines()[-1])
    if "top5" in record:
        return {"top5": [(e["class"], e["confidence"]) for e in record["top5"]]}
    detections = []
    for d in record["detections"]:
        detection = {"class": d["class"], "confidence": d["confidence"]}
        if "xywhr" in d:
            detection["xywhr"] = d["xywhr"]
        else:
            b = d["box"]
            detection["box"] = [b["x1"], b["y1"], b["x2"], b["y2"]]
        if "mask" in d:
            detection["mask"] = decode_rle(d["mask"]) > 0
        if "keypoints" in d:
            k = d["keypoints"]
            columns = [k["x"], k["y"]] + ([k["visible"]] if "visible" in k else [])
            detection["keypoints"] = np.array(columns, np.float32).T
        detections.append(detection)
    return {"detections": detections}


def angle_difference(a, b):
    d = abs(a - b) % np.pi
    return min(d, np.pi - d)


def close(ref, our):
    if ref["class"] != our["class"] or abs(ref["confidence"] - our["confidence"]) > 1e-3:
        return False
    if "xywhr" in ref:
        r, o = ref["xywhr"], our["xywhr"]
        return max(abs(r[i] - o[i]) for i in range(4)) <= 1 and angle_difference(r[4], o[4]) <= 1e-3
    return max(abs(r - o) for r, o in zip(ref["box"], our["box"])) <= 1


def compare(ref, our, conf):
    """Returns (matched, problems, worst): problems is a list of strings."""
    if "top5" in ref:
        same = [r[0] for r in ref["top5"]] == [o[0] for o in our["top5"]]
        worst = max(abs(r[1] - o[1]) for r, o in zip(ref["top5"], our["top5"]))
        problems = [] if same and worst <= 1e-3 else [f"top5 {ref['top5']} vs {our['top5']}"]
        return 5, problems, {"probability": worst}
    problems, worst = [], {"box": 0.0, "score": 0.0, "mask_iou": 1.0, "keypoint": 0.0}
    unmatched = list(range(len(our["detections"])))
    matched = 0
    for r in ref["detections"]:
        candidates = [j for j in unmatched if close(r, our["detections"][j])]
        if not candidates:
            if abs(r["confidence"] - conf) > 1e-4:
                problems.append(f"reference detection class {r['class']} score {r['confidence']:.5f} {r.get('box', r.get('xywhr'))} has no match")
            continue
        key = "box" if "box" in r else "xywhr"
        j = min(candidates, key=lambda j: max(abs(a - b) for a, b in zip(r[key], our["detections"][j][key])))
        o = our["detections"][j]
        unmatched.remove(j)
        matched += 1
        worst["box"] = max(worst["box"], max(abs(a - b) for a, b in zip(r[key][:4], o[key][:4])))
        worst["score"] = max(worst["score"], abs(r["confidence"] - o["confidence"]))
        if "mask" in r:
            union = np.logical_or(r["mask"], o["mask"]).sum()
            iou = np.logical_and(r["mask"], o["mask"]).sum() / union if union else 1.0
            worst["mask_iou"] = min(worst["mask_iou"], iou)
            if iou < 0.98:
                problems.append(f"mask IoU {iou:.4f} for class {r['class']} score {r['confidence']:.4f}")
        if "keypoints" in r:
            distance = float(np.abs(r["keypoints"][:, :2] - o["keypoints"][:, :2]).max())
            worst["keypoint"] = max(worst["keypoint"], distance)
            if distance > 1:
                problems.append(f"keypoints differ by {distance:.3f} px")
    for j in unmatched:
        o = our["detections"][j]
        if abs(o["confidence"] - conf) > 1e-4:
            problems.append(f"our detection class {o['class']} score {o['confidence']:.5f} has no reference")
    return matched, problems, worst


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("checkpoint")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--retina-masks", action="store_true")
    parser.add_argument("--max-det", type=int, default=300, help="detections kept per image (an untrained model's many near-equal scores: keep the top few)")
    parser.add_argument("--source", help="a fork's folder: its own predictor is the reference, and ModelGraph runs in fork mode")
    args = parser.parse_args()
    model = (RTDETR if "rtdetr" in args.checkpoint else YOLO)(args.checkpoint)
    if "RTDETR" in type(model.model).__name__ and not isinstance(model, RTDETR):
        model = RTDETR(args.checkpoint)  # an RT-DETR checkpoint by any name: its own predictor
    failed = False
    for image in args.images:
        ref = reference(model, image, args.conf, args.retina_masks, args.max_det)
        our = ours(args.binary, args.checkpoint, image, args.conf, args.retina_masks, args.source, args.max_det)
        matched, problems, worst = compare(ref, our, args.conf)
        count = len(ref.get("detections", ref.get("top5")))
        our_count = len(our.get("detections", our.get("top5")))
        figures = " ".join(f"{k} {v:.3g}" for k, v in worst.items())
        status = "ok" if not problems else "MISMATCH"
        print(f"{status} {args.checkpoint.split('/')[-1]} {image.split('/')[-1]}: reference {count}, ours {our_count}, matched {matched}; worst {figures}")
        for problem in problems[:10]:
            print(f"    {problem}")
        failed |= bool(problems)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
