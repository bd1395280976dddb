/// How Ultralytics reads a model name (`yaml_model_load`, `guess_model_scale`): `yolo11s.yaml`
/// is the architecture `yolo11.yaml` at scale s, `yolov8n-seg.yaml` is `yolov8-seg.yaml` at n.
public enum ModelNames {
    /// The scale letter in a file name: the first `yolo[e-][v]<digits><n|s|m|l|x>` in its stem
    /// (`yolov8s-p6.yaml` → s; `rtdetr-l.yaml` → nil: RT-DETR names carry no scale).
    public static func scale(fromFileName path: String) -> String? {
        let characters = Array(stem(of: path))
        var start = 0
        while start + 4 <= characters.count {
            if String(characters[start..<start + 4]) == "yolo" {
                var i = start + 4
                if i + 2 <= characters.count, characters[i] == "e", characters[i + 1] == "-" { i += 2 }
                if i < characters.count, characters[i] == "v" { i += 1 }
                let digits = i
                while i < characters.count, characters[i].isASCII, characters[i].isNumber { i += 1 }
                if i > digits, i < characters.count, "nslmx".contains(characters[i]) { return String(characters[i]) }
            }
            start += 1
        }
        return nil
    }

    /// The architecture's file name with the scale letter dropped (`re.sub(r"(\d+)([nslmx])(.+)?$",
    /// r"\1\3", name)`): `yolo11n-pose.yaml` → `yolo11-pose.yaml`; names without one are kept.
    public static func unifiedFileName(_ name: String) -> String {
        let characters = Array(name)
        // the regex is anchored at the end and its first group is greedy from the leftmost
        // match: the first run of digits followed by a scale letter
        var i = 0
        while i < characters.count {
            guard characters[i].isASCII, characters[i].isNumber else { i += 1; continue }
            var end = i
            while end < characters.count, characters[end].isASCII, characters[end].isNumber { end += 1 }
            if end < characters.count, "nslmx".contains(characters[end]) {
                return String(characters[..<end]) + String(characters[(end + 1)...])
            }
            i = end
        }
        return name
    }

    /// Ultralytics' old P6 names as `yaml_model_load` renames them: `yolov5n6.yaml` →
    /// `yolov5n-p6.yaml` (YOLOv5 and YOLOv8, any scale); other names are kept.
    public static func p6Renamed(_ name: String) -> String {
        let stem = stem(of: name)
        let olds = ["5", "8"].flatMap { version in "nsmlx".map { "yolov\(version)\($0)6" } }
        guard olds.contains(String(stem)) else { return name }
        return String(name[..<stem.index(before: stem.endIndex)]) + "-p6" + String(name[stem.endIndex...])
    }

    /// The file name without folders and without its last extension.
    static func stem(of path: String) -> Substring {
        let name = path.split(separator: "/").last ?? Substring(path)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return name[..<dot]
    }
}
