"""Compares ModelGraph's output with the PyTorch reference's.

usage: python compare-outputs.py REFERENCE_OUTPUT.safetensors OURS.safetensors
Reference tensors: the eval output's primary part as zoo.py flattens it (`output.0`, or
`output.0.0` and `output.0.1` for Segment's (y, proto), or `output`); ours: `output` (and `proto`).
Prints the max absolute error, max |reference| and their ratio per part; exits 1 when a ratio
exceeds 1e-5. A Detect-family output [B, 4 + nc + extra, A] is compared per part (boxes, scores,
extras such as mask coefficients, keypoints or angles), nc read from zoo.py's meta.json beside the
reference. Detections [B, n, 6 + extra] are compared per part: boxes, scores and extras each
against their own max |ref|, classes equal.
Detections sorted by score may order rows whose scores tie to within 1e-5 x max score
differently (random weights give thousands of such ties): each reference row is matched to the
closest unused row of ours among its ties, rows tied with the last kept score may differ at the
top-k's cut (counted, not compared), and the score column is also compared rank by rank.
"""
import json
import sys
from pathlib import Path

from safetensors.numpy import load_file
import numpy as np

TOLERANCE = 1e-5


def match_rows(ours, ref):
    """For each reference row, the index of the row of ours it is compared with, or -1. Rows
    whose scores tie to within 1e-5 x max score may come in any order (random weights give
    thousands of near-equal scores), so a row is matched to the closest unused row of ours whose
    score is within that tolerance; a row at the top-k's cut (its score tied with the last kept)
    may be kept by one side only and is then left unmatched."""
    matches, moved, cut = [], 0, 0
    for n in range(ref.shape[0]):
        tie = TOLERANCE * float(np.abs(ref[n, :, 4]).max())
        last = float(ref[n, -1, 4])
        used, row = np.zeros(ours.shape[1], bool), []
        for i in range(ref.shape[1]):
            candidates = np.flatnonzero(~used & (np.abs(ours[n, :, 4] - ref[n, i, 4]) <= tie))
            if len(candidates) == 0:
                if ref[n, i, 4] - last <= tie:
                    row.append(-1)
                    cut += 1
                    continue
                return None, moved, cut
            distance = np.abs(ours[n, candidates] - ref[n, i]).max(axis=1)
            j = int(candidates[np.argmin(distance)])
            if distance.min() > 0 and ref[n, i, 4] - last <= tie and np.abs(ours[n, j, :4] - ref[n, i, :4]).max() > 1e-3 * np.abs(ref[n, :, :4]).max():
                row.append(-1)  # tied at the cut: the other side kept another pair
                cut += 1
                continue
            used[j] = True
            moved += j != i
            row.append(j)
        matches.append(row)
    return matches, moved, cut


def compare_dense(ours, ref, parts):
    """Each part (name, channel slice) against its own max |ref|; returns (ok, text)."""
    worst, lines = 0.0, []
    for name, part in parts:
        error = float(np.abs(ours[:, part] - ref[:, part]).max())
        scale = float(np.abs(ref[:, part]).max())
        ratio = error / scale if scale else error
        worst = max(worst, ratio)
        lines.append(f"{name} max error {error:.3g}, max |ref| {scale:.3g}, ratio {ratio:.3g}")
    return worst <= TOLERANCE, "; ".join(lines)


def compare_detections(ours, ref):
    """Detections [B, n, 6 + extra]: boxes, scores and extras apart, classes equal."""
    matches, swaps, cut = match_rows(ours, ref)
    if matches is None:
        return False, "rows could not be matched"
    keep = [[i for i, j in enumerate(row) if j >= 0] for row in matches]
    matched = np.concatenate([ours[n, [matches[n][i] for i in keep[n]]] for n in range(ref.shape[0])])
    ref_kept = np.concatenate([ref[n, keep[n]] for n in range(ref.shape[0])])
    worst, lines = 0.0, []
    parts = [("boxes", slice(0, 4)), ("scores", slice(4, 5))] + ([("extras", slice(6, None))] if ref.shape[2] > 6 else [])
    for name, part in parts:
        error = float(np.abs(matched[..., part] - ref_kept[..., part]).max())
        # the score sequence position by position too, so a swap cannot hide a wrong score
        if name == "scores":
            error = max(error, float(np.abs(ours[..., 4] - ref[..., 4]).max()))
        scale = float(np.abs(ref_kept[..., part]).max())
        ratio = error / scale if scale else error
        worst = max(worst, ratio)
        lines.append(f"{name} max error {error:.3g}, max |ref| {scale:.3g}, ratio {ratio:.3g}")
    classes_equal = bool((matched[..., 5] == ref_kept[..., 5]).all())
    lines.append("classes equal" if classes_equal else "classes DIFFER")
    if swaps or cut:
        lines.append(f"{swaps} rows in another order among near-tie scores, {cut} tied at the top-k cut not compared "
                     f"(plain elementwise max error {float(np.abs(ours - ref).max()):.3g})")
    return worst <= TOLERANCE and classes_equal, "; ".join(lines)


def main():
    ref_file, ours_file = sys.argv[1], sys.argv[2]
    refs, mine = load_file(ref_file), load_file(ours_file)
    meta_file = Path(ref_file).with_name("meta.json")
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    head = meta.get("head", {})
    if "output.0.0" in refs:  # Segment: ((y, proto), preds)
        pairs = [("output", refs["output.0.0"]), ("proto", refs["output.0.1"])]
    else:
        pairs = [("output", refs.get("output.0", refs.get("output")))]
    all_ok, reports = True, []
    for name, ref in pairs:
        ours = mine.get(name)
        if ours is None or ref.shape != ours.shape:
            print(f"FAIL: {name}: reference {ref.shape}, ours {None if ours is None else ours.shape}")
            sys.exit(1)
        nc = head.get("nc")
        if ref.ndim == 3 and ref.shape[2] >= 6 and name == "output" and (meta.get("topk") or (not meta and ref.shape[2] == 6)):
            ok, text = compare_detections(ours, ref)
        elif name == "output" and ref.ndim == 3 and nc is not None and ref.shape[1] >= 4 + nc:
            parts = [("boxes", slice(0, 4)), ("scores", slice(4, 4 + nc))] + ([("extras", slice(4 + nc, None))] if ref.shape[1] > 4 + nc else [])
            ok, text = compare_dense(ours, ref, parts)
        else:
            ok, text = compare_dense(ours, ref, [("all", slice(None))])
        all_ok &= ok
        reports.append(f"{name} {list(ref.shape)}: {text}")
    print(("ok: " if all_ok else "FAIL: ") + " | ".join(reports))
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
