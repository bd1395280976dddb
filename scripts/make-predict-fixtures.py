"""Golden predictions for the end-to-end tests of `modelgraph predict`: Ultralytics'
`model.predict` on the demo detector (examples/demo/shapes-yolov8n.pt) and two of its images,
with the default settings and with --classes / --agnostic / --max-det / --conf variations.

    REFENV/bin/python scripts/make-predict-fixtures.py

Writes Tests/ModelGraphTests/Fixtures/predict/golden.json.
"""
import json
from pathlib import Path

from ultralytics import YOLO

root = Path(__file__).resolve().parent.parent
demo = root / "examples" / "demo"
model = YOLO(str(demo / "shapes-yolov8n.pt"))
cases = []
variations = [
    ([], {}),
    (["--conf", "0.05"], {"conf": 0.05}),
    (["--conf", "0.05", "--agnostic"], {"conf": 0.05, "agnostic_nms": True}),
    (["--conf", "0.05", "--classes", "0,2", "--max-det", "4"], {"conf": 0.05, "classes": [0, 2], "max_det": 4}),
]
for image in ["0000.jpg", "0003.jpg"]:
    for arguments, settings in variations:
        result = model.predict(str(demo / "images" / image), verbose=False, **settings)[0]
        detections = [{"class": int(c), "confidence": s, "box": b}
                      for b, s, c in zip(result.boxes.xyxy.tolist(), result.boxes.conf.tolist(), result.boxes.cls.tolist())]
        cases.append({"image": f"examples/demo/images/{image}", "arguments": arguments, "detections": detections,
                      "shape": list(result.orig_shape)})
out = root / "Tests" / "ModelGraphTests" / "Fixtures" / "predict"
out.mkdir(parents=True, exist_ok=True)
(out / "golden.json").write_text(json.dumps({"model": "examples/demo/shapes-yolov8n.pt", "names": list(model.names.values()), "cases": cases}, indent=1))
print(f"wrote {len(cases)} cases to {out / 'golden.json'}")
