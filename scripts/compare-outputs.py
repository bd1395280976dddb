"""Compares ModelGraph's output with the PyTorch reference's.

usage: python compare-outputs.py REFERENCE_OUTPUT.safetensors OURS.safetensors
Reference tensor: `output.0` (RTDETRDecoder's y) or `output`; ours: `output`. Prints the max
absolute error, max |reference| and their ratio; exits 1 when the ratio exceeds 1e-5.
Detections [B, n, 6] sorted by score may swap rows whose scores tie to within float rounding:
each reference row is matched to the closest unused row of ours at most 3 ranks away, and the
score column is also compared position by position, so the check stays strict.
"""
import sys

from safetensors.numpy import load_file
import numpy as np

TOLERANCE = 1e-5


def detection_error(ours, ref):
    worst, swaps = 0.0, 0
    for n in range(ref.shape[0]):
        used = set()
        for i in range(ref.shape[1]):
            worst = max(worst, abs(float(ours[n, i, 4]) - float(ref[n, i, 4])))
            candidates = [j for j in range(max(0, i - 3), min(ref.shape[1], i + 4)) if j not in used]
            # the same rank first (rows can be exact duplicates), else the closest unused row
            errors = [(float(np.abs(ours[n, j] - ref[n, i]).max()), j != i, j) for j in candidates]
            if not errors:
                return float("inf"), swaps
            error, _, j = min(errors)
            used.add(j)
            swaps += j != i
            worst = max(worst, error)
    return worst, swaps


def main():
    ref_file, ours_file = sys.argv[1], sys.argv[2]
    refs = load_file(ref_file)
    ref = refs.get("output.0", refs.get("output"))
    ours = load_file(ours_file)["output"]
    if ref.shape != ours.shape:
        print(f"shape mismatch: reference {ref.shape}, ours {ours.shape}")
        sys.exit(1)
    plain = float(np.abs(ours - ref).max())
    swaps = 0
    scale_ = float(np.abs(ref).max())
    if ref.ndim == 3 and ref.shape[2] == 6 and plain > TOLERANCE * scale_:
        error, swaps = detection_error(ours, ref)
    else:
        error = plain
    scale = float(np.abs(ref).max())
    ratio = error / scale if scale else error
    verdict = "ok" if ratio <= TOLERANCE else "FAIL"
    note = f", {swaps} rows swapped on near-tie scores (plain elementwise max error {plain:.3g})" if swaps else ""
    print(f"{verdict}: shape {list(ref.shape)}, max error {error:.3g}, max |ref| {scale:.3g}, ratio {ratio:.3g}{note}")
    sys.exit(0 if verdict == "ok" else 1)


if __name__ == "__main__":
    main()
