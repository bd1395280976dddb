from pathlib import Path
p = Path("a/b/yolo11n-cls.yaml")
print(p.stem, p.suffix, p.name, str(p.parent), p.with_suffix(".pt"), p.parts, str(p.parents[1]), Path("/x") / "y" / "z.txt")
print(Path("yolo11.yaml").stem.replace("yolo", "YOLO"), Path("").stem, repr(str(Path(""))))
