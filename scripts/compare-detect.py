"""Compares a Detect-family eval output [B, 4 + nc (+ extra), A] with the reference's, per part:
the boxes (input pixels) and the class scores (0..1) each against 1e-5 × their own max |ref|, so
large box coordinates cannot hide a score error.

usage: python compare-detect.py OURS.safetensors REFERENCE.safetensors NC [KEY]
"""
import sys
from safetensors.numpy import load_file


def main():
    ours, ref, nc = load_file(sys.argv[1])["output"], load_file(sys.argv[2]), int(sys.argv[3])
    ref = ref[sys.argv[4] if len(sys.argv) > 4 else "output.0"]
    assert ours.shape == ref.shape, f"shape {ours.shape} vs {ref.shape}"
    worst = 0.0
    for name, part in (("boxes", slice(0, 4)), ("scores", slice(4, 4 + nc)), ("extra", slice(4 + nc, None))):
        a, b = ours[:, part], ref[:, part]
        if b.size == 0:
            continue
        error, scale = float(abs(a - b).max()), float(abs(b).max())
        ratio = error / scale if scale else error
        worst = max(worst, ratio)
        print(f"{name}: max error {error:.3g}, max|ref| {scale:.4g}, ratio {ratio:.3g}")
    print("ok" if worst <= 1e-5 else "FAIL", f"(worst ratio {worst:.3g}, tolerance 1e-5)")
    sys.exit(0 if worst <= 1e-5 else 1)


if __name__ == "__main__":
    main()
