import Tensor

// Forward passes of the torch.nn building blocks the module trees are made of, reading their
// tensors by PyTorch's names (see ModuleNode's builders of the same names).
extension LayerWeights {
    /// Whether this scope holds a tensor of that name (fused plans drop folded BatchNorms).
    func has(_ name: String) -> Bool { tensors[prefix + name] != nil }

    /// `nn.Conv2d` named by this scope (bias read when present), then an activation.
    func conv2d(_ x: Tensor, stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1,
                activation: Activation = .identity) -> Tensor {
        let weight = self["weight"]
        let geometry = ConvolutionGeometry(kernelHeight: weight.shape[2], kernelWidth: weight.shape[3], stride: stride,
                                           padding: padding, dilation: dilation)
        let bias = tensors[prefix + "bias"]
        if let cache, WinogradConvolution.applies(weight: weight, geometry: geometry, groups: groups) {
            // one transformed weight set per conv and tile size, any input size
            let tile = WinogradConvolution.outputTile(height: x.shape[2], width: x.shape[3])
            let winograd = cache.winograd("\(prefix)|\(activation)|\(tile)") {
                WinogradConvolution(weight: weight, bias: bias, activation: activation, outputTile: tile, scratch: cache.scratch)
            }
            return winograd(x)
        }
        if let cache, !geometry.isPointwise || groups != 1 {
            // (1×1 convs stay a plain GEMM on the NCHW planes: oneDNN's layout reorders around
            // them cost more than they save — 512→256 at 81²: 13.5 ms through the primitive)
            let key = "\(prefix)|\(x.shape)|\(stride),\(padding),\(dilation),\(groups)|\(activation)"
            if let convolution = cache.convolution(key, make: {
                DNNLConvolution(inputShape: x.shape, weight: weight, bias: bias, geometry: geometry, groups: groups, activation: activation,
                                scratch: cache.scratch)
            }) {
                return convolution(x)
            }
        }
        return x.conv2d(weight: weight, bias: bias, geometry: geometry, groups: groups, activation: activation)
    }

    /// `nn.BatchNorm2d` in eval mode, then an activation; only the activation when the plan
    /// folded this BatchNorm into the conv before it.
    func batchNorm2d(_ x: Tensor, activation: Activation = .identity) -> Tensor {
        guard has("weight") else { return x.activated(activation) }
        return x.batchNorm(weight: self["weight"], bias: self["bias"], mean: self["running_mean"], variance: self["running_var"],
                           activation: activation)
    }

    /// Conv2d then BatchNorm2d then an activation, as one conv with bias and activation when
    /// the BatchNorm was folded.
    func convBatchNorm(_ x: Tensor, conv: String, norm: String, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
                       groups: Int = 1, activation: Activation) -> Tensor {
        let normScope = child(norm)
        if normScope.has("weight") {
            return normScope.batchNorm2d(child(conv).conv2d(x, stride: stride, padding: padding, dilation: dilation, groups: groups),
                                         activation: activation)
        }
        return child(conv).conv2d(x, stride: stride, padding: padding, dilation: dilation, groups: groups, activation: activation)
    }

    /// `nn.Linear` over the last axis.
    func linear(_ x: Tensor) -> Tensor {
        x.linear(weight: self["weight"], bias: tensors[prefix + "bias"])
    }

    func layerNorm(_ x: Tensor) -> Tensor {
        x.layerNorm(weight: self["weight"], bias: self["bias"])
    }

    func groupNorm(_ x: Tensor, groups: Int) -> Tensor {
        x.groupNorm(groups: groups, weight: self["weight"], bias: self["bias"])
    }

    /// Ultralytics `MLP`: Linear layers in `layers.i` with ReLU between them.
    func mlp(_ x: Tensor, layerCount: Int) -> Tensor {
        var x = x
        for i in 0..<layerCount {
            x = child("layers").child(String(i)).linear(x)
            if i < layerCount - 1 { x = x.activated(.relu) }
        }
        return x
    }

    /// `nn.MultiheadAttention` (batch first: [B, L, E]) with its packed input projection.
    func multiheadAttention(query: Tensor, key: Tensor, value: Tensor, heads: Int) -> Tensor {
        let weight = self["in_proj_weight"], bias = self["in_proj_bias"]
        let width = weight.shape[1]
        let parts = weight.split(axis: 0, sizes: [width, width, width])
        let biases = bias.split(axis: 0, sizes: [width, width, width])
        let q = query.linear(weight: parts[0], bias: biases[0])
        let k = key.linear(weight: parts[1], bias: biases[1])
        let v = value.linear(weight: parts[2], bias: biases[2])
        let attended = Tensor.attention(query: q, key: k, value: v, heads: heads)
        return child("out_proj").linear(attended)
    }
}
