"""The demo detector's synthetic dataset: filled circles, squares and triangles on textured
backgrounds, with YOLO labels.

    REFENV/bin/python scripts/make-demo-dataset.py OUTDIR [--train 600] [--val 100]

Writes OUTDIR/images/{train,val}/NNNN.jpg, OUTDIR/labels/{train,val}/NNNN.txt and
OUTDIR/shapes.yaml (Ultralytics' dataset file). Seeded: the same files every run.
"""
import argparse
from pathlib import Path

import cv2
import numpy as np

NAMES = ["circle", "square", "triangle"]


def background(rng, height, width):
    """Smooth colour gradient, blotches, stripes and noise, so shapes are not trivially separable."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.zeros((height, width, 3), np.float32)
    for channel in range(3):
        a, b, c = rng.uniform(-0.4, 0.4, 3)
        image[..., channel] = 128 + 90 * np.sin(a * x / 17 + b * y / 23 + c * 6)
    for _ in range(rng.integers(3, 9)):
        center = tuple(int(v) for v in (rng.integers(0, width), rng.integers(0, height)))
        axes = tuple(int(v) for v in rng.integers(10, 80, 2))
        color = tuple(float(v) for v in rng.integers(0, 256, 3))
        cv2.ellipse(image, center, axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
    image = cv2.GaussianBlur(image, (0, 0), 6)
    for _ in range(rng.integers(2, 7)):
        p1 = tuple(int(v) for v in (rng.integers(0, width), rng.integers(0, height)))
        p2 = tuple(int(v) for v in (rng.integers(0, width), rng.integers(0, height)))
        cv2.line(image, p1, p2, tuple(float(v) for v in rng.integers(0, 256, 3)), int(rng.integers(1, 4)))
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def draw_shape(rng, image, kind, boxes):
    height, width = image.shape[:2]
    for _ in range(20):  # find a place that does not overlap earlier shapes much
        size = int(rng.integers(24, 96) * height / 320)
        cx, cy = int(rng.integers(size // 2, width - size // 2)), int(rng.integers(size // 2, height - size // 2))
        box = (cx - size // 2, cy - size // 2, cx + size // 2, cy + size // 2)
        if all(min(box[2], b[2]) - max(box[0], b[0]) < 8 or min(box[3], b[3]) - max(box[1], b[1]) < 8 for b in boxes):
            break
    else:
        return None
    color = tuple(int(v) for v in rng.integers(0, 256, 3))
    half = size // 2
    if kind == 0:
        cv2.circle(image, (cx, cy), half, color, -1, cv2.LINE_AA)
    elif kind == 1:
        angle = float(rng.uniform(-20, 20))
        corners = cv2.boxPoints(((cx, cy), (size * 0.8, size * 0.8), angle)).astype(np.int32)
        cv2.fillPoly(image, [corners], color, cv2.LINE_AA)
        x, y, w, h = cv2.boundingRect(corners)
        box = (x, y, x + w, y + h)
    else:
        corners = np.array([(cx, cy - half), (cx - half, cy + half), (cx + half, cy + half)], np.int32)
        cv2.fillPoly(image, [corners], color, cv2.LINE_AA)
    boxes.append(box)
    return box


def make(rng, out, split, count, size):
    (out / "images" / split).mkdir(parents=True, exist_ok=True)
    (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        height, width = size if rng.random() < 0.5 else (size[0], int(size[1] * rng.uniform(0.75, 1.33)))
        image = background(rng, height, width)
        boxes, lines = [], []
        for _ in range(rng.integers(1, 7)):
            kind = int(rng.integers(0, 3))
            box = draw_shape(rng, image, kind, boxes)
            if box is None:
                continue
            x1, y1, x2, y2 = (max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3]))
            lines.append(f"{kind} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
        cv2.imwrite(str(out / "images" / split / f"{index:04d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        (out / "labels" / split / f"{index:04d}.txt").write_text("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--val", type=int, default=100)
    parser.add_argument("--size", type=int, default=320, help="image height (widths vary from 0.75 to 1.33 times it)")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    rng = np.random.default_rng(2026)
    make(rng, out, "train", args.train, (args.size, args.size))
    make(rng, out, "val", args.val, (args.size, args.size))
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(NAMES))
    (out / "shapes.yaml").write_text(f"path: {out}\ntrain: images/train\nval: images/val\nnames:\n{names}\n")
    print(f"wrote {args.train} training and {args.val} validation images to {out}")


if __name__ == "__main__":
    main()
