import Foundation

extension RGBImage {
    /// Resized as OpenCV's `cv2.resize(..., INTER_LINEAR)` on 8-bit images, byte for byte: 11-bit
    /// fixed-point weights per axis from float32 source positions (out-of-range taps clamped
    /// to the edge, their weights kept), an integer horizontal pass, then the vertical pass as
    /// OpenCV's vector path rounds it (each row's sum shifted right by 4, high half of the
    /// 16-bit product, + 2 >> 2).
    public func resizedLinear(width newWidth: Int, height newHeight: Int) -> RGBImage {
        precondition(newWidth >= 1 && newHeight >= 1 && width >= 1 && height >= 1)
        if newWidth == width && newHeight == height { return self }
        let columns = LinearTaps(source: width, destination: newWidth)
        let rows = LinearTaps(source: height, destination: newHeight)
        let rowLength = newWidth * 3
        // horizontal pass of the source rows the vertical pass reads, each once
        var horizontal = [Int32](repeating: 0, count: height * rowLength)
        var needed = [Bool](repeating: false, count: height)
        for tap in rows.taps { needed[tap.first] = true; needed[tap.second] = true }
        pixels.withUnsafeBufferPointer { source in
            horizontal.withUnsafeMutableBufferPointer { target in
                for y in 0..<height where needed[y] {
                    let sourceRow = y * width * 3, targetRow = y * rowLength
                    for (x, tap) in columns.taps.enumerated() {
                        let a = sourceRow + tap.first * 3, b = sourceRow + tap.second * 3
                        for channel in 0..<3 {
                            target[targetRow + x * 3 + channel] = Int32(source[a + channel]) * tap.firstWeight + Int32(source[b + channel]) * tap.secondWeight
                        }
                    }
                }
            }
        }
        var out = [UInt8](repeating: 0, count: newHeight * rowLength)
        horizontal.withUnsafeBufferPointer { rowsIn in
            out.withUnsafeMutableBufferPointer { target in
                for (y, tap) in rows.taps.enumerated() {
                    let first = tap.first * rowLength, second = tap.second * rowLength
                    let (b0, b1) = (tap.firstWeight, tap.secondWeight)
                    for i in 0..<rowLength {
                        let upper = ((rowsIn[first + i] >> 4) * b0) >> 16
                        let lower = ((rowsIn[second + i] >> 4) * b1) >> 16
                        target[y * rowLength + i] = UInt8(clamping: (upper + lower + 2) >> 2)
                    }
                }
            }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: out)
    }

    /// This image placed at (`left`, `top`) on a canvas of `fill`.
    public func padded(top: Int, bottom: Int, left: Int, right: Int, fill: UInt8) -> RGBImage {
        let newWidth = width + left + right, newHeight = height + top + bottom
        var out = [UInt8](repeating: fill, count: newWidth * newHeight * 3)
        for y in 0..<height {
            let from = y * width * 3, to = ((y + top) * newWidth + left) * 3
            out.replaceSubrange(to..<(to + width * 3), with: pixels[from..<(from + width * 3)])
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: out)
    }

    /// The `width`×`height` region at (`left`, `top`); parts outside the image are black.
    public func cropped(left: Int, top: Int, width newWidth: Int, height newHeight: Int) -> RGBImage {
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        for y in 0..<newHeight where (0..<height).contains(y + top) {
            for x in 0..<newWidth where (0..<width).contains(x + left) {
                let from = ((y + top) * width + x + left) * 3, to = (y * newWidth + x) * 3
                out[to] = pixels[from]; out[to + 1] = pixels[from + 1]; out[to + 2] = pixels[from + 2]
            }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: out)
    }
}

/// OpenCV's linear taps for one axis: two source indices and their 11-bit weights per output.
struct LinearTaps {
    struct Tap { var first: Int; var second: Int; var firstWeight: Int32; var secondWeight: Int32 }
    var taps: [Tap]

    init(source: Int, destination: Int) {
        let scale = 1.0 / (Double(destination) / Double(source))
        taps = (0..<destination).map { index in
            let position = Float((Double(index) + 0.5) * scale - 0.5)
            let floorIndex = Int(position.rounded(.down))
            let fraction = position - Float(floorIndex)
            let first = Int32(((1 - fraction) * 2048).rounded(.toNearestOrEven))
            let second = Int32((fraction * 2048).rounded(.toNearestOrEven))
            return Tap(first: min(max(floorIndex, 0), source - 1), second: min(max(floorIndex + 1, 0), source - 1),
                       firstWeight: first, secondWeight: second)
        }
    }
}

/// Ultralytics' `LetterBox` as the predictor uses it: scale to fit, round each side, pad to the
/// target (or, with `auto`, only to a multiple of the stride) with grey 114, centred.
public struct Letterbox: Sendable, Equatable {
    public let sourceWidth: Int
    public let sourceHeight: Int
    public let resizedWidth: Int
    public let resizedHeight: Int
    public let top: Int, bottom: Int, left: Int, right: Int

    public var width: Int { resizedWidth + left + right }
    public var height: Int { resizedHeight + top + bottom }

    /// `stretch`: RT-DETR's `scale_fill` (resize to the target, no padding).
    public init(sourceWidth: Int, sourceHeight: Int, targetHeight: Int, targetWidth: Int, stride: Int, auto: Bool, stretch: Bool = false) {
        self.sourceWidth = sourceWidth
        self.sourceHeight = sourceHeight
        if stretch {
            (resizedWidth, resizedHeight) = (targetWidth, targetHeight)
            (top, bottom, left, right) = (0, 0, 0, 0)
            return
        }
        let ratio = min(Double(targetHeight) / Double(sourceHeight), Double(targetWidth) / Double(sourceWidth))
        resizedWidth = max(Int((Double(sourceWidth) * ratio).rounded(.toNearestOrEven)), 1)
        resizedHeight = max(Int((Double(sourceHeight) * ratio).rounded(.toNearestOrEven)), 1)
        var padWidth = Double(targetWidth - resizedWidth), padHeight = Double(targetHeight - resizedHeight)
        if auto {
            padWidth = Double((targetWidth - resizedWidth) %% stride)
            padHeight = Double((targetHeight - resizedHeight) %% stride)
        }
        padWidth /= 2
        padHeight /= 2
        top = Int((padHeight - 0.1).rounded(.toNearestOrEven))
        bottom = Int((padHeight + 0.1).rounded(.toNearestOrEven))
        left = Int((padWidth - 0.1).rounded(.toNearestOrEven))
        right = Int((padWidth + 0.1).rounded(.toNearestOrEven))
    }

    /// The letterboxed image (cv2.resize only when the size changes, as Ultralytics).
    public func apply(_ image: RGBImage) -> RGBImage {
        let resized = image.width == resizedWidth && image.height == resizedHeight ? image : image.resizedLinear(width: resizedWidth, height: resizedHeight)
        return resized.padded(top: top, bottom: bottom, left: left, right: right, fill: 114)
    }
}

infix operator %%: MultiplicationPrecedence
/// Python's modulo (the result has the divisor's sign), as `np.mod`.
func %% (lhs: Int, rhs: Int) -> Int {
    let remainder = lhs % rhs
    return remainder != 0 && (remainder < 0) != (rhs < 0) ? remainder + rhs : remainder
}

extension RGBImage {
    /// Resized as Pillow's `Image.resize(size, BILINEAR)` (torchvision's `Resize` on a PIL
    /// image), byte for byte: a triangle filter widened by the downscale factor (antialiased),
    /// 22-bit fixed-point weights, the horizontal pass rounded to 8 bits before the vertical.
    public func resizedPillowBilinear(width newWidth: Int, height newHeight: Int) -> RGBImage {
        precondition(newWidth >= 1 && newHeight >= 1 && width >= 1 && height >= 1)
        if newWidth == width && newHeight == height { return self }
        let horizontal = PillowTaps(source: width, destination: newWidth)
        let vertical = PillowTaps(source: height, destination: newHeight)
        // Pillow's horizontal pass covers only the source rows the vertical pass reads
        let firstRow = vertical.bounds.first?.start ?? 0
        let lastRow = vertical.bounds.last.map { $0.start + $0.count } ?? height
        var middle = RGBImage(width: newWidth, height: lastRow - firstRow, pixels: [UInt8](repeating: 0, count: newWidth * (lastRow - firstRow) * 3))
        for y in firstRow..<lastRow {
            for x in 0..<newWidth {
                let (start, count) = horizontal.bounds[x]
                for channel in 0..<3 {
                    var sum = PillowTaps.half
                    for k in 0..<count { sum += Int(pixels[(y * width + start + k) * 3 + channel]) * horizontal.weights[x][k] }
                    middle.pixels[((y - firstRow) * newWidth + x) * 3 + channel] = PillowTaps.clip(sum)
                }
            }
        }
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        for y in 0..<newHeight {
            let (start, count) = vertical.bounds[y]
            for x in 0..<newWidth {
                for channel in 0..<3 {
                    var sum = PillowTaps.half
                    for k in 0..<count { sum += Int(middle.pixels[((start - firstRow + k) * newWidth + x) * 3 + channel]) * vertical.weights[y][k] }
                    out[(y * newWidth + x) * 3 + channel] = PillowTaps.clip(sum)
                }
            }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: out)
    }

    /// Ultralytics' classification preprocessing (`classify_transforms(size)`): torchvision
    /// `Resize(size)` (shorter side to `size`, the longer truncated) with Pillow's bilinear,
    /// then `CenterCrop(size)`.
    public func classificationCrop(size: Int) -> RGBImage {
        let (short, long) = width <= height ? (width, height) : (height, width)
        let newLong = Int(Double(size) * Double(long) / Double(short))
        let (newWidth, newHeight) = width <= height ? (size, newLong) : (newLong, size)
        let resized = resizedPillowBilinear(width: newWidth, height: newHeight)
        let top = Int((Double(newHeight - size) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(newWidth - size) / 2).rounded(.toNearestOrEven))
        return resized.cropped(left: left, top: top, width: size, height: size)
    }
}

/// Pillow's `precompute_coeffs` and `normalize_coeffs_8bpc` for the bilinear filter.
struct PillowTaps {
    static let precisionBits = 22
    static let half = 1 << (precisionBits - 1)
    var bounds: [(start: Int, count: Int)] = []
    var weights: [[Int]] = []

    init(source: Int, destination: Int) {
        let scale = Double(source) / Double(destination)
        let filterScale = max(scale, 1)
        let support = 1.0 * filterScale
        let inverse = 1.0 / filterScale
        for index in 0..<destination {
            let center = (Double(index) + 0.5) * scale
            let start = max(Int(center - support + 0.5), 0)
            let end = min(Int(center + support + 0.5), source)
            var values = [Double]()
            var total = 0.0
            for x in start..<max(end, start) {
                let w = max(0, 1 - abs((Double(x) - center + 0.5) * inverse))
                values.append(w)
                total += w
            }
            if total != 0 { values = values.map { $0 / total } }
            bounds.append((start, values.count))
            weights.append(values.map { value in
                let scaled = value * Double(1 << PillowTaps.precisionBits)
                return Int(value < 0 ? (scaled - 0.5).rounded(.towardZero) : (scaled + 0.5).rounded(.towardZero))
            })
        }
    }

    static func clip(_ sum: Int) -> UInt8 { UInt8(clamping: sum >> precisionBits) }
}
