"""Compares ModelGraph's output with the PyTorch reference's.

usage: python compare-outputs.py REFERENCE_OUTPUT.safetensors OURS.safetensors
Reference tensor: `output.0` (RTDETRDecoder's y) or `output`; ours: `output`. Prints the max
absolute error, max |reference| and their ratio; exits 1 when the ratio exceeds 1e-5. Detections
[B, n, 6] are compared per part: boxes and scores each against their own max |ref|, classes equal.
Detections [B, n, 6] sorted by score may swap rows whose scores tie to within float rounding:
each reference row is matched to the closest unused row of ours at most 3 ranks away, and the
score column is also compared position by position, so the check stays strict.
"""
import sys

from safetensors.numpy import load_file
import numpy as np

TOLERANCE = 1e-5


def match_rows(ours, ref):
    """For each reference row, the index of the row of ours it is compared with: the same rank,
    else the closest unused row at most 3 ranks away (near-tie scores may swap rows)."""
    matches, swaps = [], 0
    for n in range(ref.shape[0]):
        used, row = set(), []
        for i in range(ref.shape[1]):
            candidates = [j for j in range(max(0, i - 3), min(ref.shape[1], i + 4)) if j not in used]
            if not candidates:
                return None, swaps
            _, _, j = min((float(np.abs(ours[n, j] - ref[n, i]).max()), j != i, j) for j in candidates)
            used.add(j)
            swaps += j != i
            row.append(j)
        matches.append(row)
    return matches, swaps


def main():
    ref_file, ours_file = sys.argv[1], sys.argv[2]
    refs = load_file(ref_file)
    ref = refs.get("output.0", refs.get("output"))
    ours = load_file(ours_file)["output"]
    if ref.shape != ours.shape:
        print(f"shape mismatch: reference {ref.shape}, ours {ours.shape}")
        sys.exit(1)
    plain = float(np.abs(ours - ref).max())
    if not (ref.ndim == 3 and ref.shape[2] == 6):
        scale = float(np.abs(ref).max())
        ratio = plain / scale if scale else plain
        verdict = "ok" if ratio <= TOLERANCE else "FAIL"
        print(f"{verdict}: shape {list(ref.shape)}, max error {plain:.3g}, max |ref| {scale:.3g}, ratio {ratio:.3g}")
        sys.exit(0 if verdict == "ok" else 1)
    # detections [B, n, 6] = box (4), score, class: each part against its own max |ref|, so
    # class indices (up to nc - 1) cannot hide a box or score error; classes must be equal
    matches, swaps = match_rows(ours, ref)
    if matches is None:
        print("FAIL: rows could not be matched")
        sys.exit(1)
    matched = np.stack([ours[n, matches[n]] for n in range(ref.shape[0])])
    worst, lines = 0.0, []
    for name, part in (("boxes", slice(0, 4)), ("scores", slice(4, 5))):
        error = float(np.abs(matched[..., part] - ref[..., part]).max())
        # the score sequence position by position too, so a swap cannot hide a wrong score
        if name == "scores":
            error = max(error, float(np.abs(ours[..., 4] - ref[..., 4]).max()))
        scale = float(np.abs(ref[..., part]).max())
        ratio = error / scale if scale else error
        worst = max(worst, ratio)
        lines.append(f"{name} max error {error:.3g}, max |ref| {scale:.3g}, ratio {ratio:.3g}")
    classes_equal = bool((matched[..., 5] == ref[..., 5]).all())
    lines.append("classes equal" if classes_equal else "classes DIFFER")
    verdict = "ok" if worst <= TOLERANCE and classes_equal else "FAIL"
    note = f"; {swaps} rows swapped on near-tie scores (plain elementwise max error {plain:.3g})" if swaps else ""
    print(f"{verdict}: shape {list(ref.shape)}, " + "; ".join(lines) + note)
    sys.exit(0 if verdict == "ok" else 1)


if __name__ == "__main__":
    main()
