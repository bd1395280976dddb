/// How sampling treats coordinates outside the input (`F.grid_sample`'s `padding_mode`).
public enum GridPadding: Sendable { case zeros, border }

extension Tensor {
    /// `F.interpolate(mode="nearest")` (or `"nearest-exact"` with `exact`) to a size. `scale` is the
    /// source step per output pixel: 1/scale_factor when a factor was given, else input/output.
    public func interpolateNearest(height outHeight: Int, width outWidth: Int,
                                   scaleHeight: Float? = nil, scaleWidth: Float? = nil, exact: Bool = false) -> Tensor {
        let (height, width) = (shape[2], shape[3])
        let rows = Tensor.nearestSources(outHeight, from: height, step: scaleHeight, exact: exact)
        let columns = Tensor.nearestSources(outWidth, from: width, step: scaleWidth, exact: exact)
        return mappingPlanes(height: outHeight, width: outWidth) { _, input, output in
            Tensor.resampleNearest(input, width: width, rows: rows, columns: columns, element: 1, into: output)
        }
    }

    /// One plane of a nearest resampling: output (y, x) copies input (rows[y], columns[x]), an
    /// element being one float (NCHW) or a pixel's channel run (NHWC).
    static func resampleNearest(_ input: UnsafePointer<Float>, width: Int, rows: [Int], columns: [Int], element: Int,
                                into output: UnsafeMutablePointer<Float>) {
        let line = columns.count * element
        for oy in 0..<rows.count {
            let destination = output + oy * line
            // rows that repeat the previous source row (upsampling) are one copy
            if oy > 0 && rows[oy] == rows[oy - 1] {
                destination.update(from: destination - line, count: line)
                continue
            }
            let source = input + rows[oy] * width * element
            if element == 1 {
                for ox in 0..<columns.count { destination[ox] = source[columns[ox]] }
            } else {
                for ox in 0..<columns.count { Tensor.copy(source + columns[ox] * element, to: destination + ox * element, count: element) }
            }
        }
    }

    /// The source index of each of `count` nearest-interpolated outputs along an axis of `size`.
    static func nearestSources(_ count: Int, from size: Int, step: Float?, exact: Bool) -> [Int] {
        let step = step ?? Float(size) / Float(count)
        let offset: Float = exact ? 0.5 : 0
        return (0..<count).map { min(Int(((Float($0) + offset) * step).rounded(.down)), size - 1) }
    }

    /// `F.interpolate(mode="bilinear", align_corners=…)` to a size; `scale` as in `interpolateNearest`.
    public func interpolateBilinear(height outHeight: Int, width outWidth: Int, alignCorners: Bool,
                                    scaleHeight: Float? = nil, scaleWidth: Float? = nil) -> Tensor {
        let (height, width) = (shape[2], shape[3])
        func taps(_ outSize: Int, _ inSize: Int, _ scale: Float?) -> [(Int, Int, Float)] {
            (0..<outSize).map { o in
                var source: Float
                if alignCorners {
                    source = outSize > 1 ? Float(o) * Float(inSize - 1) / Float(outSize - 1) : 0
                } else {
                    let step = scale ?? Float(inSize) / Float(outSize)
                    source = max(step * (Float(o) + 0.5) - 0.5, 0)
                }
                let low = min(Int(source), inSize - 1)
                let high = min(low + 1, inSize - 1)
                return (low, high, source - Float(low))
            }
        }
        let rowTaps = taps(outHeight, height, scaleHeight), columnTaps = taps(outWidth, width, scaleWidth)
        return mappingPlanes(height: outHeight, width: outWidth) { _, input, output in
            for oy in 0..<outHeight {
                let (y0, y1, fy) = rowTaps[oy]
                for ox in 0..<outWidth {
                    let (x0, x1, fx) = columnTaps[ox]
                    let top = input[y0 * width + x0] * (1 - fx) + input[y0 * width + x1] * fx
                    let bottom = input[y1 * width + x0] * (1 - fx) + input[y1 * width + x1] * fx
                    output[oy * outWidth + ox] = top * (1 - fy) + bottom * fy
                }
            }
        }
    }

    /// A new [N, C, outHeight, outWidth] tensor whose planes `body(plane index, input plane,
    /// output plane)` fills from this NCHW tensor's planes, in parallel.
    @inline(__always)
    func mappingPlanes(height outHeight: Int, width outWidth: Int,
                       _ body: (Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        return Tensor(shape: [batch, channels, outHeight, outWidth]) { out in
            storage.withUnsafeBufferPointer { x in
                let destination = out.baseAddress, source = x.baseAddress
                Threads.parallelFor(batch * channels) { plane in
                    body(plane, source! + plane * height * width, destination! + plane * outHeight * outWidth)
                }
            }
        }
    }

    /// `F.pixel_shuffle(x, r)`: [N, C·r², H, W] → [N, C, H·r, W·r].
    public func pixelShuffle(_ r: Int) -> Tensor {
        let (batch, channels, height, width) = (shape[0], shape[1] / (r * r), shape[2], shape[3])
        return reshaped([batch, channels, r, r, height, width]).permuted([0, 1, 4, 2, 5, 3])
            .reshaped([batch, channels, height * r, width * r])
    }

    /// `F.pixel_unshuffle(x, r)`: [N, C, H·r, W·r] → [N, C·r², H, W].
    public func pixelUnshuffle(_ r: Int) -> Tensor {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2] / r, shape[3] / r)
        return reshaped([batch, channels, height, r, width, r]).permuted([0, 1, 3, 5, 2, 4])
            .reshaped([batch, channels * r * r, height, width])
    }

    /// `F.grid_sample(x, grid, mode="bilinear", align_corners=False)`: x [N, C, H, W],
    /// grid [N, Ho, Wo, 2] of (x, y) in [-1, 1] → [N, C, Ho, Wo].
    public func gridSample(_ grid: Tensor, padding: GridPadding) -> Tensor {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let (outHeight, outWidth) = (grid.shape[1], grid.shape[2])
        let positions = outHeight * outWidth
        return Tensor(shape: [batch, channels, outHeight, outWidth]) { out in
            storage.withUnsafeBufferPointer { x in
                grid.storage.withUnsafeBufferPointer { g in
                    let destination = out.baseAddress, source = x.baseAddress, coordinates = g.baseAddress
                    Threads.parallelRanges(batch * positions, minimumPerChunk: 256) { range in
                        for index in range {
                            let n = index / positions, p = index % positions
                            let tap = BilinearTap(x: coordinates![index * 2], y: coordinates![index * 2 + 1],
                                                  width: width, height: height, padding: padding)
                            for c in 0..<channels {
                                let plane = source! + (n * channels + c) * height * width
                                destination![(n * channels + c) * positions + p] = tap.sample(plane, stride: 1)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Reflect padding on the two spatial axes (`F.pad(x, [p]*4, mode="reflect")`).
    public func reflectPadded(_ pad: Int) -> Tensor {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let outHeight = height + 2 * pad, outWidth = width + 2 * pad
        return Tensor(shape: [batch, channels, outHeight, outWidth]) { out in
            storage.withUnsafeBufferPointer { x in
                for plane in 0..<(batch * channels) {
                    for oy in 0..<outHeight {
                        let iy = reflect(oy - pad, height)
                        for ox in 0..<outWidth {
                            out[plane * outHeight * outWidth + oy * outWidth + ox] =
                                x[plane * height * width + iy * width + reflect(ox - pad, width)]
                        }
                    }
                }
            }
        }
    }
}

/// PyTorch's reflect index (edge not repeated); valid when the overshoot is below `size`.
@inline(__always)
func reflect(_ index: Int, _ size: Int) -> Int {
    if size == 1 { return 0 }
    var i = index
    if i < 0 { i = -i }
    if i >= size { i = 2 * (size - 1) - i }
    return i
}

/// One bilinear sample position with `align_corners=False`: the four corner offsets and weights.
public struct BilinearTap {
    var offsets: (Int, Int, Int, Int) = (0, 0, 0, 0)
    var weights: (Float, Float, Float, Float) = (0, 0, 0, 0)

    /// `x`, `y` normalised to [-1, 1] over a `width` × `height` map.
    @inline(__always)
    public init(x: Float, y: Float, width: Int, height: Int, padding: GridPadding) {
        var ix = ((x + 1) * Float(width) - 1) / 2
        var iy = ((y + 1) * Float(height) - 1) / 2
        if padding == .border {
            ix = min(max(ix, 0), Float(width - 1))
            iy = min(max(iy, 0), Float(height - 1))
        }
        guard ix.isFinite, iy.isFinite else { return }
        let x0f = ix.rounded(.down), y0f = iy.rounded(.down)
        // far outside: every corner is out of range (and the Int conversion must not overflow)
        guard x0f > -2, y0f > -2, x0f < Float(width) + 1, y0f < Float(height) + 1 else { return }
        let x0 = Int(x0f), y0 = Int(y0f)
        let fx = ix - x0f, fy = iy - y0f
        func corner(_ cx: Int, _ cy: Int, _ w: Float) -> (Int, Float) {
            (cx >= 0 && cx < width && cy >= 0 && cy < height) ? (cy * width + cx, w) : (0, 0)
        }
        let a = corner(x0, y0, (1 - fx) * (1 - fy)), b = corner(x0 + 1, y0, fx * (1 - fy))
        let c = corner(x0, y0 + 1, (1 - fx) * fy), d = corner(x0 + 1, y0 + 1, fx * fy)
        offsets = (a.0, b.0, c.0, d.0)
        weights = (a.1, b.1, c.1, d.1)
    }

    /// Corner `index` (0…3) as (pixel offset, weight); weight 0 outside the map.
    @inline(__always)
    public func corner(_ index: Int) -> (Int, Float) {
        switch index {
        case 0: return (offsets.0, weights.0)
        case 1: return (offsets.1, weights.1)
        case 2: return (offsets.2, weights.2)
        default: return (offsets.3, weights.3)
        }
    }

    /// The interpolated value of a plane whose pixel i is at `plane[i * stride]`.
    @inline(__always)
    public func sample(_ plane: UnsafePointer<Float>, stride: Int) -> Float {
        plane[offsets.0 * stride] * weights.0 + plane[offsets.1 * stride] * weights.1
            + plane[offsets.2 * stride] * weights.2 + plane[offsets.3 * stride] * weights.3
    }
}

extension Tensor {
    /// `F.pad(x, [0, right, 0, bottom])` on an NCHW map: zero columns on the right, zero rows at the bottom.
    public func zeroPadded(left: Int = 0, right: Int, top: Int = 0, bottom: Int) -> Tensor {
        let (height, width) = (shape[2], shape[3])
        let (outHeight, outWidth) = (top + height + bottom, left + width + right)
        return mappingPlanes(height: outHeight, width: outWidth) { _, input, output in
            Tensor.zeroPad(input, height: height, width: width, left: left, right: right, top: top, bottom: bottom, element: 1, into: output)
        }
    }

    /// One plane of `zeroPadded`: `top` zero rows; then each row's elements between `left` and
    /// `right` zero elements; then `bottom` zero rows; an element being one float (NCHW) or a
    /// pixel's channel run (NHWC).
    static func zeroPad(_ input: UnsafePointer<Float>, height: Int, width: Int, left: Int, right: Int, top: Int, bottom: Int, element: Int,
                        into output: UnsafeMutablePointer<Float>) {
        let (line, outLine) = (width * element, (left + width + right) * element)
        output.update(repeating: 0, count: top * outLine)
        for y in 0..<height {
            let row = output + (top + y) * outLine
            row.update(repeating: 0, count: left * element)
            (row + left * element).update(from: input + y * line, count: line)
            (row + left * element + line).update(repeating: 0, count: right * element)
        }
        (output + (top + height) * outLine).update(repeating: 0, count: bottom * outLine)
    }
}
