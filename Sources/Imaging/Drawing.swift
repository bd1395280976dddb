/// An RGB colour.
public struct Color: Sendable, Equatable {
    public var red: UInt8, green: UInt8, blue: UInt8

    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        (self.red, self.green, self.blue) = (red, green, blue)
    }

    /// `0xRRGGBB`.
    public init(hex: UInt32) {
        self.init(UInt8(hex >> 16 & 0xFF), UInt8(hex >> 8 & 0xFF), UInt8(hex & 0xFF))
    }

    public static let white = Color(255, 255, 255)
    public static let black = Color(0, 0, 0)

    /// Perceived brightness (ITU-R BT.601 weights), for choosing a readable text colour.
    public var luma: Double { 0.299 * Double(red) + 0.587 * Double(green) + 0.114 * Double(blue) }
}

/// Drawing on an image; everything clips at the edges.
extension RGBImage {
    public mutating func set(_ x: Int, _ y: Int, _ color: Color) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let index = (y * width + x) * 3
        pixels[index] = color.red
        pixels[index + 1] = color.green
        pixels[index + 2] = color.blue
    }

    /// Fills the rectangle [x0, x1) × [y0, y1).
    public mutating func fill(x0: Int, y0: Int, x1: Int, y1: Int, _ color: Color) {
        let (left, right) = (max(x0, 0), min(x1, width)), (top, bottom) = (max(y0, 0), min(y1, height))
        guard left < right, top < bottom else { return }
        for y in top..<bottom { for x in left..<right { set(x, y, color) } }
    }

    /// A rectangle's outline `thickness` pixels wide, inside the corners.
    public mutating func stroke(x0: Int, y0: Int, x1: Int, y1: Int, thickness: Int, _ color: Color) {
        fill(x0: x0, y0: y0, x1: x1 + 1, y1: y0 + thickness, color)
        fill(x0: x0, y0: y1 - thickness + 1, x1: x1 + 1, y1: y1 + 1, color)
        fill(x0: x0, y0: y0, x1: x0 + thickness, y1: y1 + 1, color)
        fill(x0: x1 - thickness + 1, y0: y0, x1: x1 + 1, y1: y1 + 1, color)
    }

    /// A filled disc.
    public mutating func disc(centerX: Float, centerY: Float, radius: Float, _ color: Color) {
        guard centerX.isFinite, centerY.isFinite, radius.isFinite else { return }
        let r = Int(radius.rounded(.up))
        let (cx, cy) = (Int(centerX.rounded()), Int(centerY.rounded()))
        for dy in -r...r { for dx in -r...r where Float(dx * dx + dy * dy) <= radius * radius { set(cx + dx, cy + dy, color) } }
    }

    /// A straight line `thickness` pixels wide.
    public mutating func line(from start: (x: Float, y: Float), to end: (x: Float, y: Float), thickness: Int, _ color: Color) {
        guard start.x.isFinite, start.y.isFinite, end.x.isFinite, end.y.isFinite else { return }
        let length = max(abs(end.x - start.x), abs(end.y - start.y))
        let steps = min(Int(length.rounded(.up)), 4 * (width + height))
        let radius = Float(thickness) / 2
        for step in 0...max(steps, 0) {
            let t = steps == 0 ? 0 : Float(step) / Float(steps)
            let (x, y) = (start.x + (end.x - start.x) * t, start.y + (end.y - start.y) * t)
            if thickness <= 1 { set(Int(x.rounded()), Int(y.rounded()), color) } else { disc(centerX: x, centerY: y, radius: radius, color) }
        }
    }

    /// Blends `color` at `alpha` into the pixels where `mask` (one byte per pixel of a
    /// `maskWidth`×`maskHeight` grid stretched over the image's `region`) is set.
    public mutating func blend(mask: [UInt8], maskWidth: Int, maskHeight: Int,
                               region: (x: Int, y: Int, width: Int, height: Int), _ color: Color, alpha: Float) {
        guard region.width > 0, region.height > 0, maskWidth > 0, maskHeight > 0 else { return }
        for y in 0..<height {
            let my = region.y + y * region.height / height
            guard my >= 0, my < maskHeight else { continue }
            for x in 0..<width {
                let mx = region.x + x * region.width / width
                guard mx >= 0, mx < maskWidth, mask[my * maskWidth + mx] != 0 else { continue }
                let index = (y * width + x) * 3
                for (offset, value) in [color.red, color.green, color.blue].enumerated() {
                    pixels[index + offset] = UInt8(clamping: Int((Float(pixels[index + offset]) * (1 - alpha) + Float(value) * alpha).rounded()))
                }
            }
        }
    }

    /// Text in ModelGraph's bitmap font, each font pixel `scale`×`scale`, top-left at (x, y).
    public mutating func text(_ string: String, x: Int, y: Int, scale: Int, _ color: Color) {
        var left = x
        for character in string {
            let rows = BitmapFont.rows(character)
            for (row, bits) in rows.enumerated() {
                for column in 0..<BitmapFont.width where bits & (1 << (BitmapFont.width - 1 - column)) != 0 {
                    fill(x0: left + column * scale, y0: y + row * scale, x1: left + (column + 1) * scale, y1: y + (row + 1) * scale, color)
                }
            }
            left += (BitmapFont.width + 1) * scale
        }
    }

    /// The size `text(string, scale:)` covers.
    public static func textSize(_ string: String, scale: Int) -> (width: Int, height: Int) {
        (max(string.count * (BitmapFont.width + 1) - 1, 0) * scale, BitmapFont.height * scale)
    }
}
