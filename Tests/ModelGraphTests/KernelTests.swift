import Foundation
import ModelGraph
import Tensor
import Testing

/// The fast kernels (oneDNN GEMMs, tap tables, parallel loops) against naive loops written
/// straight from PyTorch's definitions.
struct KernelTests {
    static func random(_ shape: [Int], seed: UInt64, range: ClosedRange<Float> = -1...1) -> Tensor {
        var generator = SplitMix64(seed: seed)
        return Tensor(shape: shape, storage: (0..<Tensor.count(of: shape)).map { _ in Float.random(in: range, using: &generator) })
    }

    static func close(_ a: Tensor, _ b: Tensor, tolerance: Float = 1e-4) -> Bool {
        a.shape == b.shape && a.maxDifference(to: b) <= tolerance * max(1, b.maxMagnitude)
    }

    /// `F.conv2d` as its definition: out[n, o, y, x] = b[o] + Σ w[o, i, ky, kx] · in[n, g·I + i, y·s − p + ky·d, x·s − p + kx·d].
    static func naiveConvolution(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, stride: Int, padding: Int, dilation: Int, groups: Int) -> Tensor {
        let (batch, inputChannels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (outputChannels, perGroup, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let outHeight = (height + 2 * padding - dilation * (kh - 1) - 1) / stride + 1
        let outWidth = (width + 2 * padding - dilation * (kw - 1) - 1) / stride + 1
        var out = Tensor(shape: [batch, outputChannels, outHeight, outWidth])
        let outPerGroup = outputChannels / groups
        for n in 0..<batch { for o in 0..<outputChannels { for y in 0..<outHeight { for x0 in 0..<outWidth {
            var sum = bias?.storage[o] ?? 0
            let group = o / outPerGroup
            for i in 0..<perGroup { for ky in 0..<kh { for kx in 0..<kw {
                let iy = y * stride - padding + ky * dilation, ix = x0 * stride - padding + kx * dilation
                guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                let channel = group * perGroup + i
                sum += w.storage[((o * perGroup + i) * kh + ky) * kw + kx] * x.storage[((n * inputChannels + channel) * height + iy) * width + ix]
            } } }
            out.storage[((n * outputChannels + o) * outHeight + y) * outWidth + x0] = sum
        } } } }
        return out
    }

    struct ConvolutionCase: Sendable, CustomTestStringConvertible {
        var inputChannels, outputChannels, kernel, stride, padding, dilation, groups: Int
        var bias: Bool
        var testDescription: String {
            "\(inputChannels)→\(outputChannels) k\(kernel) s\(stride) p\(padding) d\(dilation) g\(groups)\(bias ? " bias" : "")"
        }
    }

    @Test(arguments: [
        ConvolutionCase(inputChannels: 8, outputChannels: 16, kernel: 1, stride: 1, padding: 0, dilation: 1, groups: 1, bias: true),
        ConvolutionCase(inputChannels: 8, outputChannels: 12, kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 1, bias: false),
        ConvolutionCase(inputChannels: 6, outputChannels: 10, kernel: 3, stride: 2, padding: 1, dilation: 1, groups: 1, bias: true),
        ConvolutionCase(inputChannels: 8, outputChannels: 8, kernel: 3, stride: 1, padding: 2, dilation: 2, groups: 4, bias: true),
        ConvolutionCase(inputChannels: 16, outputChannels: 16, kernel: 7, stride: 1, padding: 3, dilation: 1, groups: 16, bias: true),
        ConvolutionCase(inputChannels: 8, outputChannels: 8, kernel: 3, stride: 2, padding: 1, dilation: 1, groups: 8, bias: false),
        ConvolutionCase(inputChannels: 4, outputChannels: 6, kernel: 5, stride: 1, padding: 0, dilation: 1, groups: 2, bias: false),
        ConvolutionCase(inputChannels: 3, outputChannels: 5, kernel: 1, stride: 2, padding: 0, dilation: 1, groups: 1, bias: true),
    ])
    func convolutionMatchesDefinition(_ c: ConvolutionCase) throws {
        let x = Self.random([2, c.inputChannels, 11, 9], seed: 1)
        let w = Self.random([c.outputChannels, c.inputChannels / c.groups, c.kernel, c.kernel], seed: 2)
        let bias = c.bias ? Self.random([c.outputChannels], seed: 3) : nil
        let fast = x.conv2d(weight: w, bias: bias, geometry: ConvolutionGeometry(kernelSize: c.kernel, stride: c.stride, padding: c.padding,
                                                                                   dilation: c.dilation), groups: c.groups)
        let naive = Self.naiveConvolution(x, w, bias, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        #expect(Self.close(fast, naive))
        // the plan's oneDNN primitive (blocked layout, bias and activation as post-ops)
        let geometry = ConvolutionGeometry(kernelSize: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation)
        for activation in [Activation.identity, .silu, .relu6] {
            let primitive = try #require(DNNLConvolution(inputShape: x.shape, weight: w, bias: bias, geometry: geometry,
                                                         groups: c.groups, activation: activation, scratch: Scratch()))
            #expect(Self.close(primitive(x), naive.activated(activation)), "\(activation)")
        }
    }

    /// Reductions along any axis and broadcast arithmetic equal their definitions element by element.
    @Test func reductionsAndBroadcastsMatchDefinition() {
        let x = Self.random([2, 3, 4, 5], seed: 11, range: -2...2)
        for axis in 0..<4 {
            var shape = x.shape
            shape.remove(at: axis)
            let strides = Tensor.strides(of: x.shape)
            let sums = x.reducedSum(axis: axis), maxima = x.reducedMax(axis: axis)
            #expect(sums.shape == shape && maxima.shape == shape)
            for (flat, index) in (0..<x.count).map({ ($0, $0) }) where (index / strides[axis]) % x.shape[axis] == 0 {
                // the reduced output's element for this position: drop `axis` from the index
                let values = (0..<x.shape[axis]).map { x.storage[flat + $0 * strides[axis]] }
                let outer = flat / (strides[axis] * x.shape[axis]), inner = flat % strides[axis]
                let target = outer * strides[axis] + inner
                #expect(sums.storage[target] == Float(values.reduce(0.0) { $0 + Double($1) }), "sums accumulate in double precision")
                #expect(maxima.storage[target] == values.max()!)
            }
        }
        let row = Self.random([1, 3, 1, 5], seed: 12, range: -1...1)
        for (result, op) in [(x * row, { (a: Float, b: Float) in a * b }), (x / row, { $0 / $1 }), (x - row, { $0 - $1 }), (x + row, { $0 + $1 })] as [(Tensor, (Float, Float) -> Float)] {
            #expect(result.shape == x.shape)
            for n in 0..<2 { for c in 0..<3 { for h in 0..<4 { for w in 0..<5 {
                let at = ((n * 3 + c) * 4 + h) * 5 + w
                #expect(result.storage[at] == op(x.storage[at], row.storage[c * 5 + w]))
            } } } }
        }
    }

    @Test func matmulAndLinearMatchDefinition() {
        let a = Self.random([3, 5, 7], seed: 4), w = Self.random([6, 7], seed: 5), b = Self.random([6], seed: 6)
        let out = a.linear(weight: w, bias: b)
        var expected = Tensor(shape: [3, 5, 6])
        for row in 0..<15 { for o in 0..<6 {
            var sum = b.storage[o]
            for k in 0..<7 { sum += a.storage[row * 7 + k] * w.storage[o * 7 + k] }
            expected.storage[row * 6 + o] = sum
        } }
        #expect(Self.close(out, expected))
        #expect(Self.close(a.matmul(w.permuted([1, 0])), a.linear(weight: w, bias: nil)))
    }

    @Test func attentionMatchesDefinition() {
        let (batch, lq, lk, heads, d) = (2, 5, 7, 2, 4)
        let q = Self.random([batch, lq, heads * d], seed: 7), k = Self.random([batch, lk, heads * d], seed: 8)
        let v = Self.random([batch, lk, heads * d], seed: 9)
        let fast = Tensor.attention(query: q, key: k, value: v, heads: heads)
        var expected = Tensor(shape: [batch, lq, heads * d])
        for n in 0..<batch { for h in 0..<heads { for i in 0..<lq {
            var scores = (0..<lk).map { j in
                (0..<d).reduce(Float(0)) { $0 + q.storage[(n * lq + i) * heads * d + h * d + $1] * k.storage[(n * lk + j) * heads * d + h * d + $1] } / Float(d).squareRoot()
            }
            let largest = scores.max()!
            scores = scores.map { expf($0 - largest) }
            let total = scores.reduce(0, +)
            for c in 0..<d {
                expected.storage[(n * lq + i) * heads * d + h * d + c] =
                    (0..<lk).reduce(Float(0)) { $0 + scores[$1] / total * v.storage[(n * lk + $1) * heads * d + h * d + c] }
            }
        } } }
        #expect(Self.close(fast, expected))
    }

    /// PyTorch's grid_sampler_2d bilinear, align_corners=False, written from its CPU kernel.
    static func naiveGridSample(_ x: Tensor, _ grid: Tensor, border: Bool) -> Tensor {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (grid.shape[1], grid.shape[2])
        var out = Tensor(shape: [batch, channels, oh, ow])
        for n in 0..<batch { for y in 0..<oh { for x0 in 0..<ow {
            let g = ((n * oh + y) * ow + x0) * 2
            var ix = ((grid.storage[g] + 1) * Float(width) - 1) / 2, iy = ((grid.storage[g + 1] + 1) * Float(height) - 1) / 2
            if border { ix = min(max(ix, 0), Float(width - 1)); iy = min(max(iy, 0), Float(height - 1)) }
            let west = ix.rounded(.down), north = iy.rounded(.down)
            let corners: [(Float, Float, Float)] = [
                (west, north, (west + 1 - ix) * (north + 1 - iy)), (west + 1, north, (ix - west) * (north + 1 - iy)),
                (west, north + 1, (west + 1 - ix) * (iy - north)), (west + 1, north + 1, (ix - west) * (iy - north)),
            ]
            for c in 0..<channels {
                var value: Float = 0
                for (cx, cy, weight) in corners where cx >= 0 && cy >= 0 && cx < Float(width) && cy < Float(height) {
                    value += weight * x.storage[((n * channels + c) * height + Int(cy)) * width + Int(cx)]
                }
                out.storage[((n * channels + c) * oh + y) * ow + x0] = value
            }
        } } }
        return out
    }

    @Test(arguments: [false, true])
    func gridSampleMatchesDefinition(border: Bool) {
        let x = Self.random([2, 3, 6, 5], seed: 10)
        let grid = Self.random([2, 4, 7, 2], seed: 11, range: -1.4...1.4)  // some points outside
        #expect(Self.close(x.gridSample(grid, padding: border ? .border : .zeros), Self.naiveGridSample(x, grid, border: border)))
    }

    @Test func deformableAttentionMatchesGridSampleComposition() {
        // multi_scale_deformable_attn_pytorch composed from grid samples of each level
        let levels = [(height: 4, width: 5), (height: 2, width: 3)]
        let (batch, queries, heads, d, points) = (2, 3, 2, 4, 2)
        let length = levels.reduce(0) { $0 + $1.height * $1.width }
        let value = Self.random([batch, length, heads, d], seed: 12)
        let locations = Self.random([batch, queries, heads, levels.count * points, 2], seed: 13, range: -0.1...1.1)
        let weights = Self.random([batch, queries, heads, levels.count * points], seed: 14, range: 0...1)
        let fast = Tensor.deformableAttention(value: value, levelShapes: levels, locations: locations, weights: weights)
        var expected = Tensor(shape: [batch, queries, heads * d])
        var start = 0
        for (level, shape) in levels.enumerated() {
            for n in 0..<batch { for h in 0..<heads {
                // this head's values of this level as a [1, d, H, W] map
                var map = Tensor(shape: [1, d, shape.height, shape.width])
                for p in 0..<(shape.height * shape.width) { for c in 0..<d {
                    map.storage[c * shape.height * shape.width + p] = value.storage[((n * length + start + p) * heads + h) * d + c]
                } }
                var grid = Tensor(shape: [1, queries, points, 2])
                for q in 0..<queries { for point in 0..<points { for axis in 0..<2 {
                    let l = (((n * queries + q) * heads + h) * levels.count * points + level * points + point) * 2 + axis
                    grid.storage[(q * points + point) * 2 + axis] = 2 * locations.storage[l] - 1
                } } }
                let sampled = Self.naiveGridSample(map, grid, border: false)
                for q in 0..<queries { for point in 0..<points { for c in 0..<d {
                    let a = weights.storage[((n * queries + q) * heads + h) * levels.count * points + level * points + point]
                    expected.storage[(n * queries + q) * heads * d + h * d + c] += a * sampled.storage[(c * queries + q) * points + point]
                } } }
            } }
            start += shape.height * shape.width
        }
        #expect(Self.close(fast, expected))
    }

    @Test(arguments: [(3, 1), (5, 2), (3, 2)])
    func carafeMatchesSeedComposition(kernel: Int, up: Int) {
        // seed 000: F.pad(reflect) → F.unfold → nearest upsample → mask-weighted sum
        let x = Self.random([2, 3, 5, 6], seed: 15)
        let mask = Self.random([2, kernel * kernel, 5 * up, 6 * up], seed: 16, range: 0...1)
        let fast = x.carafeReassembled(mask: mask, kernelSize: kernel, up: up)
        let unfolded = x.reflectPadded(kernel / 2).unfold(geometry: ConvolutionGeometry(kernelSize: kernel))
            .reshaped([2, 3 * kernel * kernel, 5, 6])
            .interpolateNearest(height: 5 * up, width: 6 * up, scaleHeight: 1 / Float(up), scaleWidth: 1 / Float(up))
            .reshaped([2, 3, kernel * kernel, 5 * up, 6 * up])
        let expected = (unfolded * mask.reshaped([2, 1, kernel * kernel, 5 * up, 6 * up])).sum(axis: 2)
        #expect(Self.close(fast, expected))
    }

    @Test func carafeCombinedMatchesSeparatePasses() {
        let x = Self.random([2, 4, 6, 5], seed: 21), addend = Self.random([2, 4, 6, 5], seed: 22)
        let mask = Self.random([2, 9, 6, 5], seed: 23, range: 0...1)
        let carafe = x.carafeReassembled(mask: mask, kernelSize: 3, up: 1)
        #expect(x.carafeCombined(mask: mask, kernelSize: 3, adding: addend) { v, c in (v - c) + v } == (x - carafe) + x + addend)
        #expect(x.carafeCombined(mask: mask, kernelSize: 3) { v, c in v + v - c } == x + x - carafe)
    }

    @Test(arguments: [(3, 1), (5, 2)])
    func channelsLastCarafeMatchesPlain(kernel: Int, up: Int) {
        // 83 channels: a 64-channel register block, a 16-channel vector and 3 scalar lanes
        let x = Self.random([2, 83, 5, 6], seed: 24), addend = Self.random([2, 83, 5, 6], seed: 25)
        let mask = Self.random([2, kernel * kernel, 5 * up, 6 * up], seed: 26, range: 0...1)
        let last = x.permuted([0, 2, 3, 1])
        #expect(last.carafeReassembledChannelsLast(mask: mask, kernelSize: kernel, up: up)
                == x.carafeReassembled(mask: mask, kernelSize: kernel, up: up).permuted([0, 2, 3, 1]))
        if up == 1 {
            let combined = last.carafeCombinedChannelsLast(mask: mask, kernelSize: kernel, adding: addend.permuted([0, 2, 3, 1])) { v, c in v - c }
            #expect(combined == x.carafeCombined(mask: mask, kernelSize: kernel, adding: addend) { v, c in v - c }.permuted([0, 2, 3, 1]))
        }
    }

    @Test(arguments: [9, 25])
    func kernelNormalizerMatchesSeedComposition(taps: Int) {
        // seed 000's kernel_normalizer: F.softmax(mask, dim=1) · window, then / its sum over dim 1
        let mask = Self.random([2, taps, 5, 7], seed: 19, range: -6...6)
        let window = Self.random([taps], seed: 20, range: 0.1...1)
        let weighted = mask.softmax(axis: 1) * window.reshaped([1, taps, 1, 1])
        let expected = weighted / weighted.sum(axis: 1).reshaped([2, 1, 5, 7])
        #expect(Self.close(mask.kernelsNormalized(window: window), expected, tolerance: 1e-6))
        let uniform = Tensor(shape: [1], storage: [0.5])
        #expect(Self.close(mask.kernelsNormalized(window: uniform), mask.softmax(axis: 1), tolerance: 1e-6))
    }

    @Test func carafeModuleMatchesSeedComposition() {
        // seed 003: unfold(upsample(X), k, dilation=s, padding=k//2·s) then einsum with the kernels
        let (k, s) = (3, 2)
        let x = Self.random([1, 4, 3, 5], seed: 17)
        let w = Self.random([1, k * k, 6, 10], seed: 18, range: 0...1)
        let fast = x.carafeModuleReassembled(weights: w, kernelSize: k, scale: s)
        let unfolded = x.interpolateNearest(height: 6, width: 10, scaleHeight: 0.5, scaleWidth: 0.5)
            .unfold(geometry: ConvolutionGeometry(kernelSize: k, padding: k / 2 * s, dilation: s))
            .reshaped([1, 4, k * k, 6, 10])
        let expected = (unfolded * w.reshaped([1, 1, k * k, 6, 10])).sum(axis: 2)
        #expect(Self.close(fast, expected))
    }

    @Test func pixelShuffleFollowsItsDefinition() {
        let x = Self.random([2, 8, 3, 4], seed: 19)
        let shuffled = x.pixelShuffle(2)
        #expect(shuffled.shape == [2, 2, 6, 8])
        // out[n, c, h·r + i, w·r + j] = in[n, c·r² + i·r + j, h, w]
        var ok = true
        for n in 0..<2 { for c in 0..<2 { for h in 0..<3 { for w in 0..<4 { for i in 0..<2 { for j in 0..<2 {
            let source = x.storage[((n * 8 + c * 4 + i * 2 + j) * 3 + h) * 4 + w]
            ok = ok && shuffled.storage[((n * 2 + c) * 6 + h * 2 + i) * 8 + w * 2 + j] == source
        } } } } } }
        #expect(ok)
        #expect(shuffled.pixelUnshuffle(2) == x)
    }

    @Test func softmaxAndNormsAreNormalised() {
        let x = Self.random([2, 5, 3, 4], seed: 20, range: -5...5)
        let probabilities = x.softmax(axis: 1).sum(axis: 1)
        #expect(probabilities.storage.allSatisfy { abs($0 - 1) < 1e-5 })
        let ones = Tensor(shape: [4], repeating: 1), zeros = Tensor(shape: [4], repeating: 0)
        let normalized = x.layerNorm(weight: ones, bias: zeros)
        for row in 0..<30 {
            let values = normalized.storage[(row * 4)..<(row * 4 + 4)]
            let mean = values.reduce(0, +) / 4
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 4
            #expect(abs(mean) < 1e-5 && abs(variance - 1) < 1e-3)
        }
    }

    @Test func topKIsSortedWithLowerIndexFirstOnTies() {
        let x = Tensor(shape: [1, 6], storage: [0.5, 0.9, 0.5, .nan, -1, 0.9])
        let (values, indices) = x.topK(4)
        #expect(indices[0] == [3, 1, 5, 0])
        #expect(values[0][1] == 0.9)
    }

    @Test(arguments: [1, 4])
    func channelsLastPositionalAttentionMatchesPlain(areas: Int) {
        // 2 heads of key 3, head 5: qkv has 2·(3 + 3 + 5) channels; 4×6 positions split in areas
        let qkv = Self.random([2, 22, 4, 6], seed: 37)
        let plain = Tensor.positionalAttention(qkv: qkv, heads: 2, keyDimension: 3, headDimension: 5, scale: 0.5, areas: areas)
        let last = Tensor.positionalAttentionChannelsLast(qkv: qkv.permuted([0, 2, 3, 1]), heads: 2, keyDimension: 3, headDimension: 5,
                                                          scale: 0.5, areas: areas)
        #expect(last.values == plain.values.permuted([0, 2, 3, 1]))
        #expect(Self.close(last.attended, plain.attended.permuted([0, 2, 3, 1])))
    }

    @Test(arguments: [16, 48])
    func blockedAttentionMatchesDefinition(headWidth: Int) {
        // 13 queries: two register blocks of 6 and a partial one; 37 keys: not a whole vector
        let (batch, heads, queries, keys) = (2, 3, 13, 37)
        let width = heads * headWidth
        let q = Self.random([batch, queries, width], seed: 38), k = Self.random([batch, keys, width], seed: 39)
        let v = Self.random([batch, keys, width], seed: 40)
        let fast = Tensor.attention(query: q, key: k, value: v, heads: heads)
        var expected = Tensor(shape: [batch, queries, width])
        let scale = 1 / Float(headWidth).squareRoot()
        for n in 0..<batch { for h in 0..<heads { for i in 0..<queries {
            var scores = (0..<keys).map { j in
                (0..<headWidth).reduce(Float(0)) { $0 + q.storage[(n * queries + i) * width + h * headWidth + $1] * k.storage[(n * keys + j) * width + h * headWidth + $1] } * scale
            }
            let largest = scores.max()!
            scores = scores.map { expf($0 - largest) }
            let total = scores.reduce(0, +)
            for c in 0..<headWidth {
                expected.storage[(n * queries + i) * width + h * headWidth + c] =
                    (0..<keys).reduce(Float(0)) { $0 + scores[$1] / total * v.storage[(n * keys + $1) * width + h * headWidth + c] }
            }
        } } }
        #expect(Self.close(fast, expected, tolerance: 1e-5))
    }

    @Test func topKEqualsAFullSort() {
        // values from a few levels, so ties are common; k below, at and above the row length
        let x = Tensor(shape: [3, 200], storage: Self.random([600], seed: 31).storage.map { ($0 * 8).rounded() })
        for k in [1, 7, 200, 250] {
            let (values, indices) = x.topK(k)
            for row in 0..<3 {
                let sorted = (0..<200).sorted { a, b in
                    let (p, q) = (x.storage[row * 200 + a], x.storage[row * 200 + b])
                    return p != q ? p > q : a < b
                }.prefix(k)
                #expect(indices[row] == Array(sorted), "k = \(k)")
                #expect(values[row] == sorted.map { x.storage[row * 200 + $0] })
            }
        }
    }

    @Test func tokensFromChannelsLastMapsEqualPlain() {
        let maps = [Self.random([2, 5, 3, 4], seed: 32), Self.random([2, 5, 2, 2], seed: 33)]
        let weights = [Self.random([6, 5], seed: 34), Self.random([6, 5], seed: 35)], biases = [Self.random([6], seed: 36), nil]
        let plain = Tensor.tokens(projecting: maps, channelsLast: [false, false], weights: weights, biases: biases)
        let mixed = Tensor.tokens(projecting: [maps[0].permuted([0, 2, 3, 1]), maps[1]], channelsLast: [true, false], weights: weights, biases: biases)
        #expect(plain.shape == [2, 16, 6])
        #expect(Self.close(mixed, plain))
    }

    @Test func projectedDeformableAttentionEqualsProjectingFirst() {
        // sampling raw features then projecting per head == projecting every token then sampling
        let levels = [(height: 5, width: 4), (height: 3, width: 2)]
        let (batch, queries, heads, d, points, channels) = (2, 4, 2, 3, 2, 5)
        let length = 26
        let features = Self.random([batch, length, channels], seed: 21)
        let weight = Self.random([heads * d, channels], seed: 22), bias = Self.random([heads * d], seed: 23)
        let locations = Self.random([batch, queries, heads, levels.count * points, 2], seed: 24, range: -0.2...1.2)
        let attention = Self.random([batch, queries, heads, levels.count * points], seed: 25, range: 0...1)
        let projected = features.linear(weight: weight, bias: bias).reshaped([batch, length, heads, d])
        let expected = Tensor.deformableAttention(value: projected, levelShapes: levels, locations: locations, weights: attention)
        let fast = Tensor.projectedDeformableAttention(features: features, levelShapes: levels, locations: locations,
                                                       weights: attention, valueWeight: weight, valueBias: bias, heads: heads)
        #expect(Self.close(fast, expected))
    }

    @Test func fastActivationsMatchLibm() {
        var worst: Float = 0
        for step in 0...20000 {
            let x = Float(step) / 100 - 100  // −100…100
            let expected = 1 / (1 + expf(-x))
            worst = max(worst, abs(Activation.sigmoid.apply(x) - expected) / max(expected, 1e-30))
        }
        #expect(worst < 1e-6)
        let softmax = Tensor(shape: [1, 4], storage: [1, 2, -.infinity, 3]).softmax(axis: 1)
        let total = expf(1) + expf(2) + expf(3)
        #expect(Self.close(softmax, Tensor(shape: [1, 4], storage: [expf(1) / total, expf(2) / total, 0, expf(3) / total]), tolerance: 1e-6))
    }
}

extension KernelTests {
    /// Channels that are and are not whole vectors, maps with partial edge tiles, interior tiles
    /// (≥ 10²), one-tile maps, several blocks per thread (40² at 64 channels).
    @Test(arguments: [(8, 12, 7, 9), (16, 8, 10, 10), (3, 5, 1, 2), (32, 16, 5, 6), (64, 64, 13, 11), (80, 48, 9, 14), (64, 64, 40, 40)])
    func winogradMatchesDefinition(inputChannels: Int, outputChannels: Int, height: Int, width: Int) {
        let x = Self.random([2, inputChannels, height, width], seed: 30)
        let w = Self.random([outputChannels, inputChannels, 3, 3], seed: 31), b = Self.random([outputChannels], seed: 32)
        let naive = Self.naiveConvolution(x, w, b, stride: 1, padding: 1, dilation: 1, groups: 1)
        for activation in [Activation.identity, .silu] {
            let winograd = WinogradConvolution(weight: w, bias: b, activation: activation, scratch: Scratch())
            let y = winograd(x.permuted([0, 2, 3, 1]))
            #expect(y.shape == [2, height, width, outputChannels])
            #expect(Self.close(y.permuted([0, 3, 1, 2]), naive.activated(activation), tolerance: 1e-5), "\(activation)")
        }
    }

    /// The depthwise kernel on channels-last maps (windows inside the map four at a time, edges
    /// checked tap by tap, channels past the last whole 16 one by one) equals the definition,
    /// at strides, paddings and dilations, with an activation.
    @Test(arguments: [(32, 7, 1, 9, 3), (16, 3, 2, 1, 1), (20, 5, 1, 2, 1), (3, 3, 1, 1, 2), (48, 7, 2, 3, 1)])
    func depthwiseChannelsLastMatchesDefinition(channels: Int, kernelSize: Int, stride: Int, padding: Int, dilation: Int) {
        let x = Self.random([2, channels, 23, 29], seed: 71)
        let w = Self.random([channels, 1, kernelSize, kernelSize], seed: 72), b = Self.random([channels], seed: 73)
        let geometry = ConvolutionGeometry(kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
        let naive = Self.naiveConvolution(x, w, b, stride: stride, padding: padding, dilation: dilation, groups: channels)
        for activation in [Activation.identity, .gelu] {
            let kernel = DepthwiseConvolutionChannelsLast(weight: w, bias: b, geometry: geometry, activation: activation)
            let y = kernel(x.permuted([0, 2, 3, 1]))
            #expect(y.shape == [2, naive.shape[2], naive.shape[3], channels])
            #expect(Self.close(y.permuted([0, 3, 1, 2]), naive.activated(activation), tolerance: 1e-5), "\(activation)")
        }
    }

    /// Broadcast arithmetic over shapes whose axes merge (a map with per-channel, per-pixel and
    /// scalar operands, NHWC and NCHW, equal shapes in one run) equals the definition; a long
    /// sum keeps double precision's result within float rounding.
    @Test func mergedBroadcastsMatchDefinition() {
        let pairs: [([Int], [Int])] = [([2, 5, 6, 32], [32]), ([2, 5, 6, 32], [1, 1, 1, 32]), ([2, 32, 5, 6], [32, 1, 1]), ([2, 5, 6, 32], [2, 5, 6, 1]),
                                       ([1, 7, 9, 3], [1, 7, 9, 3]), ([4, 1, 6], [1, 5, 1]), ([3, 70000], [1]), ([1], [2, 3]), ([2, 3, 4], [3, 1])]
        for (shapeA, shapeB) in pairs {
            let a = Self.random(shapeA, seed: 81, range: -2...2), b = Self.random(shapeB, seed: 82, range: 0.5...2)
            let rank = max(shapeA.count, shapeB.count)
            let fullA = [Int](repeating: 1, count: rank - shapeA.count) + shapeA, fullB = [Int](repeating: 1, count: rank - shapeB.count) + shapeB
            let outShape = zip(fullA, fullB).map { max($0, $1) }
            for (result, op) in [(a * b, { (x: Float, y: Float) in x * y }), (a - b, { $0 - $1 }), (a / b, { $0 / $1 }), (a + b, { $0 + $1 })]
                as [(Tensor, (Float, Float) -> Float)] {
                #expect(result.shape == outShape, "\(shapeA) with \(shapeB)")
                var mismatches = 0
                for flat in 0..<result.count {
                    var remainder = flat, offsetA = 0, offsetB = 0, strideA = 1, strideB = 1
                    for axis in stride(from: rank - 1, through: 0, by: -1) {
                        let index = remainder % outShape[axis]
                        remainder /= outShape[axis]
                        if fullA[axis] > 1 { offsetA += index * strideA }
                        if fullB[axis] > 1 { offsetB += index * strideB }
                        strideA *= fullA[axis]
                        strideB *= fullB[axis]
                    }
                    if result.storage[flat] != op(a.storage[offsetA], b.storage[offsetB]) { mismatches += 1 }
                }
                #expect(mismatches == 0, "\(shapeA) with \(shapeB)")
            }
        }
        let long = Self.random([3, 1001], seed: 83, range: -1...1)
        let sums = long.reducedSum(axis: 1)
        for row in 0..<3 {
            let exact = (0..<1001).reduce(0.0) { $0 + Double(long.storage[row * 1001 + $1]) }
            #expect(abs(Double(sums.storage[row]) - exact) <= 1e-6 * max(1, abs(exact)))
        }
    }

    /// BatchNorm on a channels-last map's NHWC elements equals the NCHW form.
    @Test func channelsLastBatchNormMatchesPlain() {
        let x = Self.random([2, 20, 5, 7], seed: 91)
        let (weight, bias, mean) = (Self.random([20], seed: 92), Self.random([20], seed: 93), Self.random([20], seed: 94))
        let variance = Self.random([20], seed: 95, range: 0.1...2)
        let plain = x.batchNorm(weight: weight, bias: bias, mean: mean, variance: variance, epsilon: 1e-3)
        let nhwc = x.permuted([0, 2, 3, 1]).batchNormChannelsLast(weight: weight, bias: bias, mean: mean, variance: variance, epsilon: 1e-3)
        #expect(nhwc.permuted([0, 3, 1, 2]).storage == plain.storage)
    }

    /// A 1×1 conv of a concatenation taken part by part — upsampled parts' products at their own
    /// size — equals the conv of the concatenation made in full.
    @Test func partwisePointwiseMatchesConcatenatedConvolution() throws {
        let parts = [Self.random([2, 8, 3, 5], seed: 61), Self.random([2, 12, 6, 10], seed: 62), Self.random([2, 4, 3, 5], seed: 63),
                     Self.random([2, 16, 6, 10], seed: 65)]
        let factors = [2, 1, 2, 1]
        let w = Self.random([24, 40, 1, 1], seed: 64), b = Self.random([24], seed: 66)
        let full = Tensor.concatenate(zip(parts, factors).map { $1 == 1 ? $0 : $0.interpolateNearest(height: 6, width: 10) }, axis: 1)
        for activation in [Activation.identity, .silu] {
            let kernel = try #require(PartwisePointwiseConvolution(partShapes: parts.map(\.shape), factors: factors, weight: w, bias: b,
                                                                   activation: activation, scratch: Scratch()))
            let y = kernel(parts.map { $0.permuted([0, 2, 3, 1]) })
            let naive = Self.naiveConvolution(full, w, b, stride: 1, padding: 0, dilation: 1, groups: 1).activated(activation)
            #expect(Self.close(y.permuted([0, 3, 1, 2]), naive, tolerance: 1e-5), "\(activation)")
        }
        // no full-size part, or a factor that does not tile the output: not taken
        #expect(PartwisePointwiseConvolution(partShapes: [[2, 8, 3, 5]], factors: [2], weight: Self.random([4, 8, 1, 1], seed: 1),
                                             bias: nil, activation: .identity, scratch: Scratch()) == nil)
        #expect(PartwisePointwiseConvolution(partShapes: [[2, 8, 3, 5], [2, 4, 7, 10]], factors: [2, 1], weight: Self.random([4, 12, 1, 1], seed: 1),
                                             bias: nil, activation: .identity, scratch: Scratch()) == nil)
    }

    /// Nearest upsampling, max pooling and zero padding on NHWC maps equal the NCHW kernels (which the parity
    /// fixtures check against PyTorch), including padded, strided and clipped windows.
    @Test func channelsLastPoolingAndUpsamplingMatchPlain() {
        let x = Self.random([2, 19, 7, 9], seed: 45)
        let last = x.permuted([0, 2, 3, 1])
        for (k, stride, padding) in [(5, 1, 2), (3, 2, 1), (2, 2, 0)] {
            let plain = x.maxPooled(kernelSize: k, stride: stride, padding: padding)
            #expect(last.maxPooledChannelsLast(kernelSize: k, stride: stride, padding: padding) == plain.permuted([0, 2, 3, 1]), "k\(k) s\(stride) p\(padding)")
        }
        #expect(last.zeroPaddedChannelsLast(right: 1, bottom: 2) == x.zeroPadded(right: 1, bottom: 2).permuted([0, 2, 3, 1]))
        for (height, width, scale, exact) in [(14, 18, Float(0.5), false), (10, 4, nil, false), (5, 13, nil, true)] {
            let plain = x.interpolateNearest(height: height, width: width, scaleHeight: scale, scaleWidth: scale, exact: exact)
            let channelsLast = last.interpolateNearestChannelsLast(height: height, width: width, scaleHeight: scale, scaleWidth: scale, exact: exact)
            #expect(channelsLast == plain.permuted([0, 2, 3, 1]), "\(height)×\(width)")
        }
    }

    /// The channels-last path: the converter's reorders equal a permutation, and oneDNN
    /// primitives reading and writing NHWC (strided, 1×1, depthwise, the image's 3 channels)
    /// equal the naive convolution; channel slices and concatenation along NHWC's last axis
    /// equal the NCHW ones.
    @Test func channelsLastConvolutionsMatchDefinition() throws {
        let converter = try #require(LayoutConverter())
        let x = Self.random([2, 24, 13, 11], seed: 41)
        let last = converter.channelsLast(x)
        #expect(last == x.permuted([0, 2, 3, 1]))
        #expect(converter.channelsFirst(last) == x)
        for (inputs, outputs, kernel, stride, groups) in [(24, 32, 3, 2, 1), (24, 16, 1, 1, 1), (24, 24, 3, 1, 24), (3, 16, 3, 2, 1)] {
            let input = inputs == 24 ? x : Self.random([2, inputs, 13, 11], seed: 43)
            let w = Self.random([outputs, inputs / groups, kernel, kernel], seed: 42)
            let b = Self.random([outputs], seed: 44)
            let geometry = ConvolutionGeometry(kernelSize: kernel, stride: stride, padding: kernel / 2)
            let naive = Self.naiveConvolution(input, w, b, stride: stride, padding: kernel / 2, dilation: 1, groups: groups).activated(.silu)
            for (sourceLast, destinationLast) in [(true, true), (false, true), (true, false)] {
                let primitive = try #require(DNNLConvolution(inputShape: input.shape, weight: w, bias: b, geometry: geometry, groups: groups,
                                                             activation: .silu, scratch: Scratch(),
                                                             channelsLastSource: sourceLast, channelsLastDestination: destinationLast))
                let y = primitive(sourceLast ? converter.channelsLast(input) : input)
                #expect(Self.close(destinationLast ? converter.channelsFirst(y) : y, naive, tolerance: 1e-5),
                        "\(inputs)→\(outputs) k\(kernel) s\(stride) g\(groups) NHWC in \(sourceLast) out \(destinationLast)")
            }
        }
        let pieces = last.split(axis: 3, sizes: [8, 16])
        #expect(converter.channelsFirst(pieces[1]) == x.slice(axis: 1, 8..<24))
        #expect(converter.channelsFirst(Tensor.concatenate([pieces[1], pieces[0]], axis: 3))
                == Tensor.concatenate([x.slice(axis: 1, 8..<24), x.slice(axis: 1, 0..<8)], axis: 1))
    }

    /// `nn.ConvTranspose2d` by its definition: every input pixel scatters its kernel window,
    /// weighted, into the output (PyTorch's weight [in, out / groups, k, k]).
    static func naiveTransposedConvolution(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, stride: Int, padding: Int, groups: Int) -> Tensor {
        let (batch, inputs, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (perGroup, k) = (w.shape[1], w.shape[2])
        let outputs = perGroup * groups, groupIn = inputs / groups
        let (outHeight, outWidth) = ((height - 1) * stride - 2 * padding + k, (width - 1) * stride - 2 * padding + k)
        var out = Tensor(shape: [batch, outputs, outHeight, outWidth])
        for n in 0..<batch {
            for o in 0..<outputs { for p in 0..<(outHeight * outWidth) { out.storage[(n * outputs + o) * outHeight * outWidth + p] = bias?.storage[o] ?? 0 } }
            for c in 0..<inputs {
                let group = c / groupIn
                for y in 0..<height {
                    for xx in 0..<width {
                        let value = x.storage[((n * inputs + c) * height + y) * width + xx]
                        for local in 0..<perGroup {
                            let o = group * perGroup + local
                            for i in 0..<k {
                                for j in 0..<k {
                                    let (oy, ox) = (y * stride - padding + i, xx * stride - padding + j)
                                    guard oy >= 0, oy < outHeight, ox >= 0, ox < outWidth else { continue }
                                    out.storage[((n * outputs + o) * outHeight + oy) * outWidth + ox] += value * w.storage[((c * perGroup + local) * k + i) * k + j]
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The three transposed-convolution kernels against the definition: the general one
    /// (overlapping windows, padding, groups), the non-overlapping GEMM on NCHW, and the
    /// channels-last one, which writes its products in place.
    @Test func transposedConvolutionsMatchDefinition() throws {
        let x = Self.random([2, 12, 5, 7], seed: 61)
        for (outputs, k, stride, padding, groups) in [(8, 3, 2, 1, 1), (6, 4, 2, 1, 2), (10, 2, 2, 0, 1), (5, 3, 3, 0, 1)] {
            let w = Self.random([12, outputs / groups, k, k], seed: 62)
            let b = Self.random([outputs], seed: 63)
            let naive = Self.naiveTransposedConvolution(x, w, b, stride: stride, padding: padding, groups: groups)
            let general = x.transposedConv2d(weight: w, bias: b, kernelSize: k, stride: stride, padding: padding, outputPadding: 0,
                                             dilation: 1, groups: groups)
            #expect(Self.close(general, naive, tolerance: 1e-5), "k\(k) s\(stride) p\(padding) g\(groups)")
            guard stride == k && padding == 0 && groups == 1 else { continue }
            #expect(Self.close(x.transposedConv2dNonOverlapping(weight: w, bias: b), naive, tolerance: 1e-5), "k\(k) NCHW")
            let channelsLast = x.permuted([0, 2, 3, 1]).transposedConv2dNonOverlappingChannelsLast(weight: w, bias: b)
            #expect(Self.close(channelsLast.permuted([0, 3, 1, 2]), naive, tolerance: 1e-5), "k\(k) NHWC")
            #expect(Self.close(x.permuted([0, 2, 3, 1]).transposedConv2dNonOverlappingChannelsLast(weight: w, bias: nil).permuted([0, 3, 1, 2]),
                               Self.naiveTransposedConvolution(x, w, nil, stride: stride, padding: 0, groups: 1), tolerance: 1e-5), "k\(k) NHWC, no bias")
        }
    }

    /// DFL's fused softmax + weighted sum against its definition: softmax over each side's bins,
    /// then the 1×1 conv with the bin weights; max pooling against a loop over each window.
    @Test func distributionExpectationAndMaxPoolMatchDefinition() {
        let (batch, bins, anchors) = (2, 16, 1300)
        let x = Self.random([batch, 4 * bins, anchors], seed: 31, range: -6...6)
        let weights = (0..<bins).map(Float.init)
        let fast = x.distributionExpectation(bins: bins, weights: weights)
        var naive = Tensor(shape: [batch, 4, anchors])
        for n in 0..<batch {
            for side in 0..<4 {
                for a in 0..<anchors {
                    let logits = (0..<bins).map { Double(x.storage[((n * 4 + side) * bins + $0) * anchors + a]) }
                    let top = logits.max()!
                    let exps = logits.map { Foundation.exp($0 - top) }
                    let total = exps.reduce(0, +)
                    naive.storage[(n * 4 + side) * anchors + a] = Float(zip(exps, weights).reduce(0) { $0 + $1.0 / total * Double($1.1) })
                }
            }
        }
        #expect(Self.close(fast, naive, tolerance: 1e-5))

        let maps = Self.random([2, 3, 9, 7], seed: 32)
        for (k, stride, padding) in [(5, 1, 2), (3, 2, 1), (2, 2, 0)] {
            let pooled = maps.maxPooled(kernelSize: k, stride: stride, padding: padding)
            let (height, width) = ((9 + 2 * padding - k) / stride + 1, (7 + 2 * padding - k) / stride + 1)
            #expect(pooled.shape == [2, 3, height, width])
            for plane in 0..<6 {
                for y in 0..<height {
                    for x in 0..<width {
                        var best = -Float.infinity
                        for dy in 0..<k {
                            for dx in 0..<k {
                                let (row, column) = (y * stride - padding + dy, x * stride - padding + dx)
                                if row >= 0, row < 9, column >= 0, column < 7 { best = max(best, maps.storage[(plane * 9 + row) * 7 + column]) }
                            }
                        }
                        #expect(pooled.storage[(plane * height + y) * width + x] == best)
                    }
                }
            }
        }
    }
}
