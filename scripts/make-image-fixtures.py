"""Golden fixtures for the image readers, resizes, letterbox and NMS, from OpenCV, Pillow,
torchvision and Ultralytics as installed in the reference environment.

    REFENV/bin/python scripts/make-image-fixtures.py

Writes Tests/ModelGraphTests/Fixtures/images/: small JPEG/PNG files of every kind the decoder
converts (with OpenCV's decoded pixels as lossless PNG next to them), resize cases (source,
cv2.resize INTER_LINEAR result, torchvision Resize+CenterCrop result), letterbox geometry, and
NMS cases (random predictions and Ultralytics' `non_max_suppression` output).
"""
import io
import json
import struct
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from ultralytics.data.augment import LetterBox, classify_transforms
from ultralytics.utils.nms import non_max_suppression

out = Path(__file__).resolve().parent.parent / "Tests" / "ModelGraphTests" / "Fixtures" / "images"
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(7)


def scene(height, width):
    """A smooth picture with edges (JPEG-friendly, unlike noise)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([128 + 100 * np.sin(x / 7 + c) * np.cos(y / 9 - c) for c in range(3)], -1)
    cv2.rectangle(image, (width // 5, height // 4), (width // 2, height // 2), (20, 200, 90), -1)
    cv2.circle(image, (2 * width // 3, 2 * height // 3), min(width, height) // 5, (230, 40, 170), -1)
    return np.clip(image, 0, 255).astype(np.uint8)


def golden(name, data):
    """Writes the file and OpenCV's decoding of it (BGR → stored as an RGB PNG via cv2)."""
    (out / name).write_bytes(data)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    cv2.imwrite(str(out / (name + ".cv2.png")), decoded)


def with_exif_orientation(jpeg, orientation):
    """Inserts an APP1 Exif segment holding only the orientation tag after SOI."""
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + b"\x00\x00\x00\x00"
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


picture = scene(47, 61)
golden("baseline.jpg", cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
golden("progressive.jpg", cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes())
golden("subsampled-420.jpg", cv2.imencode(".jpg", scene(33, 50), [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420])[1].tobytes())
golden("grey.jpg", cv2.imencode(".jpg", cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY))[1].tobytes())
buffer = io.BytesIO()
Image.fromarray(picture[..., ::-1]).convert("CMYK").save(buffer, "JPEG", quality=92)
golden("cmyk.jpg", buffer.getvalue())
for orientation in (3, 6, 8):
    golden(f"exif-{orientation}.jpg", with_exif_orientation(cv2.imencode(".jpg", picture)[1].tobytes(), orientation))
golden("rgb.png", cv2.imencode(".png", picture)[1].tobytes())
golden("grey.png", cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY))[1].tobytes())
golden("rgba.png", cv2.imencode(".png", np.dstack([picture, np.linspace(0, 255, 61, dtype=np.uint8)[None, :].repeat(47, 0)]))[1].tobytes())
golden("rgb16.png", cv2.imencode(".png", picture.astype(np.uint16) * 257 + rng.integers(0, 200, picture.shape).astype(np.uint16))[1].tobytes())
buffer = io.BytesIO()
Image.fromarray(picture[..., ::-1]).quantize(17).save(buffer, "PNG")
golden("palette.png", buffer.getvalue())
buffer = io.BytesIO()
Image.fromarray(picture[..., ::-1]).save(buffer, "PNG", interlace=1)
golden("interlaced.png", buffer.getvalue())

# resizes: cv2.resize INTER_LINEAR and Ultralytics' classify transforms (torchvision on PIL)
cases = []
for index, (h, w, dh, dw) in enumerate([(47, 61, 30, 40), (47, 61, 100, 130), (31, 29, 62, 58), (20, 33, 200, 130), (64, 64, 32, 32), (101, 37, 17, 93)]):
    source = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if index % 2 else scene(h, w)
    cv2.imwrite(str(out / f"resize-{index}.png"), source)
    cv2.imwrite(str(out / f"resize-{index}.cv2.png"), cv2.resize(source, (dw, dh), interpolation=cv2.INTER_LINEAR))
    cases.append({"index": index, "width": dw, "height": dh})
crops = []
for index, size in enumerate([24, 40]):
    source = scene(47 + 13 * index, 61)
    cv2.imwrite(str(out / f"crop-{index}.png"), source)
    crop = classify_transforms(size).transforms[:2]
    result = np.array(crop[1](crop[0](Image.fromarray(source))))
    cv2.imwrite(str(out / f"crop-{index}.pil.png"), result)
    crops.append({"index": index, "size": size})

letterboxes = []
for (h, w, target, auto) in [(1080, 810, 640, True), (720, 1280, 640, True), (1080, 810, 640, False), (500, 3, 640, True),
                             (1, 3000, 640, True), (333, 517, 320, True), (640, 640, 640, True), (100, 130, 320, False)]:
    params = LetterBox((target, target), auto=auto, stride=32).get_params({"img": np.zeros((h, w, 3), np.uint8)})
    letterboxes.append({"height": h, "width": w, "target": target, "auto": auto, "resized": list(params["new_unpad"]),
                        "top": params["top"], "bottom": params["bottom"], "left": params["left"], "right": params["right"]})

nms = []
for index, (classes, extra, rotated, agnostic) in enumerate([(3, 0, False, False), (3, 0, False, True), (1, 0, False, False), (4, 1, True, False)]):
    anchors = 200
    generator = torch.Generator().manual_seed(index)
    xy = torch.rand(2, anchors, generator=generator) * 200
    wh = torch.rand(2, anchors, generator=generator) * 60 + 5
    scores = torch.rand(classes, anchors, generator=generator) ** 3
    parts = [xy, wh, scores] + ([torch.rand(extra, anchors, generator=generator) * 3.1 - 1.5] if extra else [])
    prediction = torch.cat(parts, 0)[None]
    kept = non_max_suppression(prediction.clone(), 0.25, 0.5, agnostic=agnostic, rotated=rotated, nc=classes if rotated else 0)[0]
    nms.append({"classes": classes, "extra": extra, "rotated": rotated, "agnostic": agnostic, "conf": 0.25, "iou": 0.5,
                "prediction": prediction[0].flatten().tolist(), "anchors": anchors, "kept": kept.tolist()})

(out / "golden.json").write_text(json.dumps({"resize": cases, "crop": crops, "letterbox": letterboxes, "nms": nms}))
print(f"wrote fixtures to {out}")
