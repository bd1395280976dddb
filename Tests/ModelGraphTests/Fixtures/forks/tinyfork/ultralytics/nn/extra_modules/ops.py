"""Modules in the forks' style that exercise the torch ops fork mode traces into its program
(written for ModelGraph's tests: strided slices, a 1-d convolution, rectangular adaptive pools,
GroupNorm, strip convolutions, attention over tokens, pixel shuffle, resizes and reductions)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..modules import Conv

__all__ = ["SPDConv", "ECA", "CoordGate", "GNMix", "TokenAttention", "InplaceMix", "ShuffleUp", "FlipMix", "UnfoldMix", "EinsumMix", "FoldMix", "CumsumMix", "ViewInplace", "PyramidPool", "FlowWarp", "PadAssign", "StatsMix", "MHAMix", "IndexMix", "AssignMix", "SampleMix", "VolumeMix", "SpectrumMix", "GraphMix", "DeformMix", "BankConv", "DropGate", "UnpoolMix", "PhaseMix", "SpectralBank", "ModulatedDeform", "OffsetSample"]


class SPDConv(nn.Module):
    """Space-to-depth by strided slices, then a 3x3 Conv: downsampling without a strided kernel."""

    def __init__(self, c1, c2):
        super().__init__()
        self.conv = Conv(c1 * 4, c2, 3)

    def forward(self, x):
        x = torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1)
        return self.conv(x)


class ECA(nn.Module):
    """Efficient channel attention: a 1-d convolution across the pooled map's channels."""

    def __init__(self, c, gamma=2, b=1):
        super().__init__()
        t = int(abs((math.log(c, 2) + b) / gamma))
        k = t if t % 2 else t + 1
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=(k - 1) // 2, bias=False)

    def forward(self, x):
        y = self.pool(x)
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * y.sigmoid().expand_as(x)


class CoordGate(nn.Module):
    """Coordinate attention: pooling along each axis, hardswish, a split back into the two axes."""

    def __init__(self, c, reduction=8):
        super().__init__()
        hidden = max(8, c // reduction)
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))
        self.conv1 = nn.Conv2d(c, hidden, 1)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.act = nn.Hardswish()
        self.conv_h = nn.Conv2d(hidden, c, 1)
        self.conv_w = nn.Conv2d(hidden, c, 1)

    def forward(self, x):
        n, c, h, w = x.size()
        x_h = self.pool_h(x)
        x_w = self.pool_w(x).permute(0, 1, 3, 2)
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))
        x_h, x_w = torch.split(y, [h, w], dim=2)
        a_h = self.conv_h(x_h).sigmoid()
        a_w = self.conv_w(x_w.permute(0, 1, 3, 2)).sigmoid()
        return x * a_w * a_h


class GNMix(nn.Module):
    """GroupNorm, leaky ReLU, a 1x5 strip convolution, Mish, padded pools, a scaled residual."""

    def __init__(self, c, groups=4):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.strip = nn.Conv2d(c, c, (1, 5), padding=(0, 2), groups=c)
        self.pool = nn.AvgPool2d(3, 1, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        y = F.leaky_relu(self.norm(x), 0.1)
        y = F.mish(self.strip(y))
        y = self.pool(y) + F.max_pool2d(y, 3, 1, 1)
        return x + self.proj(y) * 0.5


class TokenAttention(nn.Module):
    """Self-attention over the map's tokens: LayerNorm (eps 1e-6), one Linear for q, k and v,
    attention written out and by F.scaled_dot_product_attention, a learned layer scale."""

    def __init__(self, c, heads=2):
        super().__init__()
        self.heads = heads
        self.scale = (c // heads) ** -0.5
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.qkv = nn.Linear(c, c * 3)
        self.proj = nn.Linear(c, c)
        self.gamma = nn.Parameter(torch.ones(c) * 0.5)

    def forward(self, x):
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        q, k, v = self.qkv(self.norm(t)).reshape(b, h * w, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).chunk(3, dim=0)
        q, k, v = q.squeeze(0), k.squeeze(0), v.squeeze(0)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(b, h * w, c)
        y = y + F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, h * w, c)
        t = t + self.gamma * self.proj(y)
        return t.transpose(1, 2).reshape(b, c, h, w)


class InplaceMix(nn.Module):
    """An in-place activation whose input is read again afterwards: nn.SiLU(inplace=True) changes x
    itself (as Ultralytics' initialize_weights makes every SiLU of a model), so tanh reads silu(x)."""

    def __init__(self, c):
        super().__init__()
        self.act = nn.SiLU(inplace=True)
        self.conv = nn.Conv2d(c, c, 1)

    def forward(self, x):
        y = self.conv(self.act(x))
        return y + torch.tanh(x)


class ShuffleUp(nn.Module):
    """Pixel shuffle up and a strided convolution down, a bilinear resize to a size and an
    average pool, an L2-normalised gate, and a channel maximum through tanh."""

    def __init__(self, c):
        super().__init__()
        self.expand = nn.Conv2d(c, c * 4, 1)
        self.reduce = nn.Conv2d(c, c, 3, 2, 1)

    def forward(self, x):
        y = self.reduce(F.pixel_shuffle(self.expand(x), 2))
        z = F.interpolate(x, size=(x.shape[2] * 2, x.shape[3] * 2), mode="bilinear", align_corners=False)
        z = F.avg_pool2d(z, 2)
        g = F.normalize(x.mean(dim=(2, 3), keepdim=True), dim=1)
        return y * torch.sigmoid(g) + z.pow(2).sqrt() - torch.tanh(x.amax(dim=1, keepdim=True))


class FlipMix(nn.Module):
    """Adds the map mirrored left to right, and the map mirrored top to bottom and across channels."""

    def __init__(self, c):
        super().__init__()

    def forward(self, x):
        return x + torch.flip(x, dims=[3]) + 0.5 * x.flip((1, -2))


class UnfoldMix(nn.Module):
    """Local windows three ways: nn.Unfold (padded, dilated taps), F.unfold with a stride, and Tensor.unfold along the width."""

    def __init__(self, c):
        super().__init__()
        self.unfold = nn.Unfold(kernel_size=3, dilation=2, padding=2, stride=1)

    def forward(self, x):
        n, c, h, w = x.shape
        local = self.unfold(x).view(n, c, 9, h, w).mean(2)
        coarse = F.unfold(x, kernel_size=2, stride=2).view(n, c, 4, h // 2, w // 2).amax(2)
        rows = x.unfold(3, 3, 1).mean(-1)
        return local + F.interpolate(coarse, size=(h, w), mode="nearest") + F.pad(rows, (1, 1))


class EinsumMix(nn.Module):
    """Content-aware reassembly of 3×3 taps and a channel mixing by the map's Gram matrix, written with torch.einsum."""

    def __init__(self, c):
        super().__init__()
        self.mask = nn.Conv2d(c, 9, 1)
        self.unfold = nn.Unfold(kernel_size=3, padding=1)

    def forward(self, x):
        b, c, h, w = x.shape
        weights = torch.softmax(self.mask(x), dim=1)
        taps = self.unfold(x).view(b, c, 9, h, w)
        y = torch.einsum("bkhw,bckhw->bchw", [weights, taps])
        gram = torch.einsum("b c h w, b d h w -> b c d", x, x) / (h * w)
        return y + torch.einsum("bcd,bdhw->bchw", gram.softmax(-1), x)


class CumsumMix(nn.Module):
    """Adds the running sum along the width (torch.cumsum: an op fork mode's program has no form for yet)."""

    def __init__(self, c):
        super().__init__()

    def forward(self, x):
        return x + torch.cumsum(x, dim=3)


class ViewInplace(nn.Module):
    """Doubles the first half of the channels in place through a view, then reads the whole map:
    PyTorch's shared storage, which fork mode's program does not model (a located error)."""

    def __init__(self, c):
        super().__init__()

    def forward(self, x):
        half = x[:, : x.shape[1] // 2]
        half.mul_(2)
        return x + 1


class PyramidPool(nn.Module):
    """Pyramid pooling with bins that do not divide the map (windows of unequal sizes), average
    and maximum, upsampled back and summed."""

    def __init__(self, c, bins=(3, 5)):
        super().__init__()
        self.bins = bins
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        h, w = x.shape[2:]
        y = x
        for b in self.bins:
            y = y + F.interpolate(F.adaptive_avg_pool2d(x, b), size=(h, w), mode="bilinear", align_corners=True)
        y = y + F.interpolate(F.adaptive_max_pool2d(x, (2, 3)), size=(h, w), mode="nearest")
        return self.proj(y)


class FlowWarp(nn.Module):
    """Warps the map by a predicted flow with grid_sample(align_corners=True), as flow-alignment
    necks do."""

    def __init__(self, c):
        super().__init__()
        self.flow = nn.Conv2d(c, 2, 3, padding=1)

    def forward(self, x):
        n, _, h, w = x.shape
        ys, xs = torch.meshgrid(torch.linspace(-1.0, 1.0, h), torch.linspace(-1.0, 1.0, w), indexing="ij")
        grid = torch.stack((xs, ys), 2).unsqueeze(0).repeat(n, 1, 1, 1)
        grid = grid + self.flow(x).permute(0, 2, 3, 1) / 8
        return x + F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


class PadAssign(nn.Module):
    """Pads a channels-last view on two axes and crops it back (F.pad of three axes, negative pads),
    then writes into the convolved map by slice and integer assignment."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        t = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, 2, 2, 1))
        t = F.pad(t, (0, 0, -1, -2, -2, -1))
        y = self.conv(t.permute(0, 3, 1, 2).contiguous())
        y[:, :, 0:1, :] = 0.5
        y[:, :, :, -1] = x[:, :, :, 0]
        y[:, 0] = y[:, 1] * 2
        return y + torch.roll(y, shifts=(1, -2), dims=(2, 3))


class StatsMix(nn.Module):
    """ELU, GELU's tanh form, and statistics over channels and planes (std, var, amin)."""

    def __init__(self, c):
        super().__init__()

    def forward(self, x):
        return (F.elu(x) + F.gelu(x, approximate="tanh") + x.std(dim=1, keepdim=True)
                + x.var(dim=(2, 3), keepdim=True, unbiased=False) - x.amin(dim=1, keepdim=True))


class MHAMix(nn.Module):
    """torch's own nn.MultiheadAttention over the map's tokens in both layouts: batch-first with its
    weights dropped (as AIFI calls it), then sequence-first with the averaged weights used."""

    def __init__(self, c, heads=2):
        super().__init__()
        self.first = nn.MultiheadAttention(c, heads, batch_first=True)
        self.second = nn.MultiheadAttention(c, heads)

    def forward(self, x):
        b, c, h, w = x.shape
        t = x.flatten(2).permute(0, 2, 1)
        t = t + self.first(t, t, value=t)[0]
        s = t.transpose(0, 1)
        y, weights = self.second(s, s, s)
        s = s + y * weights.amax(-1).transpose(0, 1).unsqueeze(-1)
        return s.permute(1, 2, 0).reshape(b, c, h, w)


class FoldMix(nn.Module):
    """Overlapping patches weighted and summed back by F.fold (kernel 3, padding 1; kernel 2, dilation 2)."""

    def __init__(self, c):
        super().__init__()
        self.weight = nn.Conv2d(c, 9, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        cols = F.unfold(x, 3, padding=1).view(n, c, 9, h * w)
        cols = cols * torch.softmax(self.weight(x), 1).view(n, 1, 9, h * w)
        y = F.fold(cols.view(n, c * 9, h * w), output_size=(h, w), kernel_size=3, padding=1)
        z = F.fold(F.unfold(x, 2, dilation=2), (h, w), 2, dilation=2)
        return x + y / 9 + z / 4


class IndexMix(nn.Module):
    """Indexing with integers: channels reordered by a list, a last axis swapped by a tuple
    (`x[..., (1, 0)]`), and a bias table indexed by an int64 buffer — cached when the module is
    switched to eval, as window-attention modules cache theirs."""

    def __init__(self, c, n=4):
        super().__init__()
        self.n = n
        self.biases = nn.Parameter(torch.randn(c, 2 * n - 1))
        offsets = [[i - j + n - 1 for j in range(n)] for i in range(n)]
        self.register_buffer("bias_index", torch.LongTensor(offsets))

    def train(self, mode=True):
        super().train(mode)
        if mode and hasattr(self, "cached"):
            del self.cached
        else:
            self.cached = self.biases[:, self.bias_index]

    def forward(self, x):
        b, c, h, w = x.shape
        y = x[:, [2, 0, 1] + list(range(3, c))]
        pair = torch.stack([x.mean(1), x.amax(1)], -1)[..., (1, 0)]
        bias = self.biases[:, self.bias_index] if self.training else self.cached
        pooled = F.adaptive_avg_pool2d(y, self.n) + bias
        return y + F.interpolate(pooled, size=(h, w)) + (pair[..., 0] - pair[..., 1]).unsqueeze(1)


class AssignMix(nn.Module):
    """Assignment into strided slices and through lists of integers, a kernel built in the
    forward from a zero-filled torch.FloatTensor, as difference convolutions build theirs, and a
    copy_ into a strided view of zeros (an upsampler's), and an in-place activation on one part
    of a split."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)

    def forward(self, x):
        w = self.conv.weight
        c0, c1 = w.shape[:2]
        flat = w.view(c0, c1, 9)
        k = torch.FloatTensor(c0, c1, 9).fill_(0)
        k = k.to(w.dtype)
        k[:, :, [0, 3, 6]] = flat[:, :, [2, 5, 8]]
        k[:, :, [8, 5, 2]] = -flat[:, :, [0, 3, 6]]
        k[:, :, 4] = flat[:, :, 4] - flat.sum(2)
        y = F.conv2d(x, k.view(c0, c1, 3, 3), padding=1)
        y[:, 1::3] = y[:, 1::3].sigmoid()
        y[:, :, ::2, 1::2] = 0.25 * y[:, :, ::2, 1::2]
        # an activation in place on one part of a split: the other part keeps its values
        h, z = torch.split(y.detach(), [c0 // 2, c0 - c0 // 2], dim=1)
        z = F.silu(z.contiguous(), inplace=True)
        y = torch.cat([h * z, h.contiguous() + 1], 1)
        up = torch.zeros_like(y)
        up[..., 1::2, ::2].copy_(y[..., ::2, ::2])
        return y + up


class SampleMix(nn.Module):
    """Bilinear sampling written by hand, as deformable-kernel modules write it: offsets from a
    convolution, floor, clamp, long(), flat indices and torch.gather; then rows of the flattened
    map picked by a computed index (`rows[index]`), as snake convolutions pick theirs; the samples
    mixed by column convolutions whose stride is their kernel ((n, 1) and (1, 2))."""

    def __init__(self, c, n=3):
        super().__init__()
        self.n = n
        self.offset = nn.Conv2d(c, 2 * n, 3, padding=1)
        self.mix = nn.Conv2d(c, c, (n, 1), stride=(n, 1))
        self.row = nn.Conv2d(c, c, (1, 2), stride=(1, 2), bias=False)

    def forward(self, x):
        b, c, h, w = x.shape
        n = self.n
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w))
        base = torch.cat([ys.reshape(1, 1, h, w).repeat(1, n, 1, 1), xs.reshape(1, 1, h, w).repeat(1, n, 1, 1)], 1).type(x.dtype)
        p = (base + 2.0 * self.offset(x)).permute(0, 2, 3, 1)
        p = torch.where(torch.isnan(p), torch.zeros_like(p), p)  # get_flops feeds torch.empty
        q = p.detach().floor()
        q0 = torch.cat([torch.clamp(q[..., :n], 0, h - 1), torch.clamp(q[..., n:], 0, w - 1)], -1).long()
        q1 = torch.cat([torch.clamp(q[..., :n] + 1, 0, h - 1), torch.clamp(q[..., n:] + 1, 0, w - 1)], -1).long()
        p = torch.cat([torch.clamp(p[..., :n], 0, h - 1), torch.clamp(p[..., n:], 0, w - 1)], -1)
        flat = x.contiguous().view(b, c, -1)

        def pick(qy, qx):
            index = (qy * w + qx).unsqueeze(1).expand(-1, c, -1, -1, -1).contiguous().view(b, c, -1)
            return flat.gather(dim=-1, index=index).view(b, c, h, w, n)

        y0, x0, y1, x1 = q0[..., :n], q0[..., n:], q1[..., :n], q1[..., n:]
        py, px = p[..., :n], p[..., n:]
        out = (((1 + (y0.type_as(p) - py)) * (1 + (x0.type_as(p) - px))).unsqueeze(1) * pick(y0, x0)
               + ((1 - (y1.type_as(p) - py)) * (1 - (x1.type_as(p) - px))).unsqueeze(1) * pick(y1, x1)
               + ((1 + (y0.type_as(p) - py)) * (1 - (x1.type_as(p) - px))).unsqueeze(1) * pick(y0, x1)
               + ((1 - (y1.type_as(p) - py)) * (1 + (x0.type_as(p) - px))).unsqueeze(1) * pick(y1, x0))
        out = out.permute(0, 1, 2, 4, 3).reshape(b, c, h * n, w)
        rows = x.permute(0, 2, 3, 1).reshape(-1, c)
        index = torch.floor(p[..., 0].reshape(-1)).int() * w + torch.floor(p[..., n].reshape(-1)).int()
        index = torch.clamp(index, torch.zeros([]).int(), h * w - 1)
        picked = rows[index.type(torch.int64)].view(b, h, w, c).permute(0, 3, 1, 2)
        # a grid normalised to [-1, 1] in place through views of it, as deformable attention builds its own
        grid = torch.stack(torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij"), -1)
        grid[..., 1].div_(w - 1.0).mul_(2.0).sub_(1.0)
        grid[..., 0].div_(h - 1.0).mul_(2.0).sub_(1.0)
        return self.mix(out) + self.row(torch.cat([picked, picked.flip(-1)], -1)) + grid[..., 0] * grid[..., 1]


class VolumeMix(nn.Module):
    """3-d convolutions whose kernels span depth (a depthwise 3x3x3 over an unsqueezed map, a
    (2, 3, 3) over stacked maps), padding by reflection with unequal sides, by replication and by
    wrapping, dilated max pooling, average pooling without the padding counted, rot90, adaptive
    pooling of an unbatched map and to many cells, and F.fold with a stride (overlapping and
    tiling windows)."""

    def __init__(self, c):
        super().__init__()
        self.depthwise = nn.Conv3d(c, c, 3, padding=1, groups=c)
        self.stacked = nn.Conv3d(c, c // 2, (2, 3, 3), padding=(0, 1, 1))

    def forward(self, x):
        y = self.depthwise(x.unsqueeze(2)).squeeze(2)
        z = self.stacked(torch.stack([x, y, x * y], 2)).flatten(1, 2)
        r = F.pad(x, (1, 2, 2, 1), mode="reflect")
        p = F.pad(y, (2, 1, 0, 3), mode="replicate")
        q = F.pad(z, (3, 0, 1, 2), mode="circular")
        m = F.pad(F.max_pool2d(x, 3, 1, 1, dilation=2), (1, 1, 1, 1)) + F.avg_pool2d(y, 3, 1, 1, count_include_pad=False)
        o = torch.rot90(z, 1, [2, 3]) + torch.rot90(z, 2, [2, 3]) + torch.rot90(z, -1, [2, 3])
        h, w = x.shape[2:]
        f = F.fold(F.unfold(x, 3, padding=1, stride=2), (h, w), 3, padding=1, stride=2) + F.fold(F.unfold(y, 2, stride=2), (h, w), 2, stride=2)
        g = F.adaptive_max_pool2d(x, (None, 1)) + F.adaptive_avg_pool2d(y, (70, 3)).mean(dim=(2, 3), keepdim=True)
        return F.avg_pool2d(r + p + q, 4, 1) + m + o + F.adaptive_avg_pool2d(x[0], (3, 5)).mean() + 0.1 * f + g


class SpectrumMix(nn.Module):
    """Filtering in the frequency domain as the forks' FFT blocks write it: rfft2 times a learned
    complex weight (view_as_complex), irfft2 back; fft2 with fftshift, a product with a real part,
    ifftshift, ifft2 and abs; real and imaginary parts stacked, mixed by a 1x1 convolution and made
    complex again (torch.complex, view_as_complex) for irfft2; attention between normalised spectra
    (F.normalize and matmul of complex tensors); a complex tensor divided by a Python number stays
    complex."""

    def __init__(self, c):
        super().__init__()
        self.complex_weight = nn.Parameter(torch.randn(c, 1, 1, 2))
        self.mix = nn.Conv2d(2 * c, 2 * c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        f = torch.fft.rfft2(x, norm="ortho")
        y = torch.fft.irfft2(f * torch.view_as_complex(self.complex_weight) / 2.0, s=(h, w), norm="ortho")
        g = torch.fft.fftshift(torch.fft.fft2(x, dim=(-2, -1)), dim=(-2, -1))
        g = g * torch.fft.fft2(x).real.sigmoid()
        z = torch.abs(torch.fft.ifft2(torch.fft.ifftshift(g, dim=(-2, -1))))
        re, im = self.mix(torch.cat([f.real, f.imag], 1)).chunk(2, 1)
        u = torch.fft.irfft2(torch.complex(re, im), s=(h, w), norm="ortho")
        parts = torch.stack([torch.real(f), torch.imag(f)], -1)
        v = torch.fft.irfftn(torch.view_as_complex(parts.contiguous()), s=(h, w), dim=(2, 3))
        q = F.normalize(torch.fft.fft2(x).flatten(2), dim=-1)
        attn = q @ q.transpose(-2, -1)
        attn = torch.complex(F.softmax(attn.real, dim=-1), F.softmax(attn.imag, dim=-1))
        o = torch.abs(torch.fft.ifft2(attn @ q)).view(b, c, h, w)
        return y + z + u + v + o


class GraphMix(nn.Module):
    """A hypergraph over the map's positions as hypergraph modules build one: cdist between tokens
    (the product form past 25 rows, differences below), a threshold made float, a mean over
    incidences whose infinities (empty rows) a boolean mask zeroes, then where, sign and
    masked_fill; and a 1x1 convolution over the tokens reshaped (not permuted) into a map."""

    def __init__(self, c):
        super().__init__()
        self.fc = nn.Linear(c, c)
        self.conv = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        t = x.view(b, c, -1).transpose(1, 2).contiguous()
        d = torch.cdist(t, t)
        g = (d < d.mean()).float()
        e = torch.matmul(g.transpose(1, 2), self.fc(t))
        norm = 1 / torch.sum(g[:, :, :4], dim=2, keepdim=True)
        norm[torch.isinf(norm)] = 0
        y = (norm * e).transpose(1, 2).reshape(b, c, h, w)
        y = torch.where(y > 0, y, 0.1 * y) + torch.sign(x) * 0.01 + torch.cdist(t[:, :10], t[:, 10:30]).mean()
        # tokens [b, n, c] viewed as a map without a permute, as linear-attention blocks do, and back
        z = self.conv(t.reshape([b, c, h, w])).reshape(b, h * w, c).permute(0, 2, 1).reshape(b, c, h, w)
        return x + y.masked_fill(x.abs() < 0.05, 0.0) + z


def deform_sample(value, shapes, locations, weights):
    """Multi-scale deformable sampling the way the forks' utils write it: per level, the heads' values as
    maps, grid_sample at 2 * locations - 1, stacked, weighted and summed. value [b, n, heads, d];
    locations [b, q, heads, levels, points, 2] in [0, 1]; weights [b, q, heads, levels, points]."""
    b, _, heads, d = value.shape
    _, q, _, levels, points, _ = locations.shape
    parts = value.split([h * w for h, w in shapes], dim=1)
    grids = 2 * locations - 1
    sampled = []
    for level, (h, w) in enumerate(shapes):
        maps = parts[level].flatten(2).transpose(1, 2).reshape(b * heads, d, h, w)
        grid = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        sampled.append(F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False))
    weights = weights.transpose(1, 2).reshape(b * heads, 1, q, levels * points)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * weights).sum(-1).view(b, heads * d, q)
    return out.transpose(1, 2).contiguous()


class DeformMix(nn.Module):
    """A channel gate from a deformable attention over two levels of the map (the map and its 2x2 average):
    a few queries pooled from the map, offsets and weights from them, the values projected over every token
    and sampled per level."""

    def __init__(self, c, heads=2, points=3, queries=5):
        super().__init__()
        self.heads, self.points, self.queries = heads, points, queries
        self.value_proj = nn.Linear(c, c)
        self.offsets = nn.Linear(c, heads * 2 * points * 2)
        self.weights = nn.Linear(c, heads * 2 * points)
        self.out = nn.Linear(c, c)

    def forward(self, x):
        b, c, h, w = x.shape
        low = F.avg_pool2d(x, 2)
        shapes = [(h, w), (low.shape[2], low.shape[3])]
        tokens = torch.cat([x.flatten(2), low.flatten(2)], 2).transpose(1, 2)
        query = F.adaptive_avg_pool2d(x, (1, self.queries)).flatten(2).transpose(1, 2)
        value = self.value_proj(tokens).view(b, -1, self.heads, c // self.heads)
        reference = torch.linspace(0.1, 0.9, self.queries).view(1, self.queries, 1, 1, 1, 1)
        offsets = self.offsets(query).view(b, self.queries, self.heads, 2, self.points, 2).tanh() * 0.3
        locations = reference + offsets
        weights = F.softmax(self.weights(query).view(b, self.queries, self.heads, 2 * self.points), -1)
        weights = weights.view(b, self.queries, self.heads, 2, self.points)
        y = self.out(deform_sample(value, shapes, locations, weights))
        return x * torch.sigmoid(y.mean(1)).view(b, c, 1, 1) + x



class BankConv(nn.Module):
    """A dynamic convolution as attention-over-kernels blocks write it: a pooled descriptor picks a softmax mix of
    a bank of kernels (and biases) per image, run as one grouped conv2d over the batch folded into the channels,
    then BatchNorm and SiLU, scaled and shifted."""

    def __init__(self, c1, c2, k=3, s=1, bank=4):
        super().__init__()
        self.c2, self.k, self.s = c2, k, s
        self.bank = nn.Parameter(torch.randn(bank, c2, c1, k, k) * (2.0 / (c1 * k * k)) ** 0.5)
        self.bank_bias = nn.Parameter(torch.randn(bank, c2) * 0.1)
        self.pick = nn.Linear(c1, bank)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()

    def forward(self, x):
        b, c, h, w = x.shape
        mix = F.softmax(self.pick(x.mean((2, 3))) / 0.5, dim=1)
        weight = torch.mm(mix, self.bank.view(self.bank.shape[0], -1)).view(b * self.c2, c, self.k, self.k)
        bias = torch.mm(mix, self.bank_bias).view(-1)
        y = F.conv2d(x.reshape(1, -1, h, w), weight, bias, stride=self.s, padding=self.k // 2, groups=b)
        return self.act(self.bn(y.view(b, self.c2, y.shape[-2], y.shape[-1]))) * 0.5 + 0.25


class DropGate(nn.Module):
    """Training-time noise left in a forward, as some forks leave it: F.dropout called without
    training=self.training keeps PyTorch's default training=True and drops at random even in eval();
    nn.Dropout, and F.dropout given the module's flag, do not."""

    def __init__(self, p=0.2):
        super().__init__()
        self.p = p
        self.drop = nn.Dropout(p)

    def forward(self, x):
        return F.dropout(self.drop(x), self.p) + F.dropout(x, self.p, training=self.training)


class UnpoolMix(nn.Module):
    """A decoder step as segmentation nets write it: max pooling that keeps its argmax indices, a
    convolution on the pooled map, and an unpooling that puts the result back where the maxima were
    (after a ReLU, so ties among zeros decide which tap keeps its place); then a shift of the map as
    a padded [B, C, H·W] sequence."""

    def __init__(self, c1):
        super().__init__()
        self.down = nn.MaxPool2d(2, 2, return_indices=True)
        self.up = nn.MaxUnpool2d(2, 2)
        self.mix = nn.Conv2d(c1, c1, 3, 1, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        pooled, index = self.down(F.relu(x))
        y = self.up(torch.sigmoid(self.mix(pooled)), index)
        sequence = F.pad(y.flatten(2), (2, 1))[..., 1:1 + h * w]
        return x + sequence.reshape(b, c, h, w)


class PhaseMix(nn.Module):
    """A frequency-domain block as image-restoration forks write it: the spectrum's magnitude through a
    small MLP, its phase (torch.angle) kept, back through polar form; the complex result cast with
    .float() (which keeps the real part) before the inverse transform."""

    def __init__(self, c1):
        super().__init__()
        self.mlp = nn.Sequential(nn.Conv2d(c1, c1, 1), nn.LeakyReLU(0.1), nn.Conv2d(c1, c1, 1))

    def forward(self, x):
        _, _, h, w = x.shape
        spectrum = torch.fft.rfft2(x.float(), norm="backward")
        magnitude = self.mlp(torch.abs(spectrum))
        phase = torch.angle(spectrum)
        mixed = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        real = torch.fft.irfft2(mixed, s=(h, w), norm="backward")
        return x + real + torch.fft.irfft2(mixed.float(), s=(h, w)) * 0.5 + torch.angle(x) * 0.1


class SpectralBank(nn.Module):
    """Frequency-domain weights as frequency-decomposed convolutions write them: a kernel's spectrum
    read at precomputed (row, column) index pairs, scaled per image and written back into a zero map
    with `+=` through the same pairs (advanced indexing copies, so the read stays as it was); a
    low-pass mask set through a boolean index of the last two axes of a complex map; `.real` of a
    real result."""

    def __init__(self, c1, k=3):
        super().__init__()
        self.k = k
        self.weight = nn.Parameter(torch.randn(c1, k * k) * 0.3)
        self.scale = nn.Linear(c1, 2)
        order = (torch.arange(c1 * (k * k // 2 + 1)) * 7) % (c1 * (k * k // 2 + 1))  # a permutation: 7 is prime to the count
        self.pairs = torch.stack([order // (k * k // 2 + 1), order % (k * k // 2 + 1)]).reshape(2, 2, -1)

    def forward(self, x):
        b, c, h, w = x.shape
        spectrum = torch.fft.rfft2(self.weight, dim=(0, 1))
        table = torch.stack([spectrum.real, spectrum.imag], dim=-1)
        picked = table[self.pairs[0], self.pairs[1]]
        gain = torch.sigmoid(self.scale(x.mean((2, 3))))
        grid = torch.zeros(b, table.shape[0], table.shape[1], 2)
        grid[:, self.pairs[0], self.pairs[1]] += picked[None] * gain[:, :, None, None]
        kernel = torch.fft.irfft2(torch.view_as_complex(grid), s=(c, self.k * self.k), dim=(1, 2))
        mix = kernel.mean(-1)
        x_fft = torch.fft.rfft2(x, norm="ortho")
        mask = torch.zeros_like(x_fft[:, 0:1])
        rows = torch.arange(h)[:, None].expand(h, w // 2 + 1)
        mask[:, :, rows < h // 2] = 1.0
        low = torch.fft.irfft2(x_fft * mask, s=(h, w), norm="ortho").real
        return x + low * mix[:, :, None, None]


class ModulatedDeform(nn.Module):
    """A modulated deformable 3x3 convolution called as DCNv2 blocks call it
    (torch.ops.torchvision.deform_conv2d): offsets and a sigmoid mask from a convolution of the input,
    with weights of their own so that the taps leave the grid (tanh-bounded to 2.5 pixels), two
    offset groups, then BatchNorm, SiLU and the input added back."""

    def __init__(self, c, k=3, offset_groups=2):
        super().__init__()
        import torchvision  # registers torch.ops.torchvision
        self.k, self.groups = k, offset_groups
        self.offset_mask = nn.Conv2d(c, offset_groups * 3 * k * k, k, 1, k // 2)
        self.weight = nn.Parameter(torch.randn(c, c, k, k) / math.sqrt(c * k * k))
        self.bias = nn.Parameter(torch.randn(c) * 0.1)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        out = self.offset_mask(x)
        taps = self.groups * self.k * self.k
        offset = torch.tanh(out[:, :2 * taps]) * 2.5
        mask = torch.sigmoid(out[:, 2 * taps:])
        y = torch.ops.torchvision.deform_conv2d(x, self.weight, offset, mask, self.bias, 1, 1, self.k // 2, self.k // 2,
                                                1, 1, 1, self.groups, True)
        return F.silu(self.bn(y)) + x


class OffsetSample(nn.Module):
    """torchvision.ops.deform_conv2d without a mask: grouped weights (two groups), dilation 2 with
    padding 2, offsets from a 1x1 convolution scaled to a pixel and a half."""

    def __init__(self, c):
        super().__init__()
        self.offset = nn.Conv2d(c, 2 * 9, 1)
        self.weight = nn.Parameter(torch.randn(c, c // 2, 3, 3) / math.sqrt(c // 2 * 9))

    def forward(self, x):
        import torchvision
        offset = torch.tanh(self.offset(x)) * 1.5
        return x + torchvision.ops.deform_conv2d(x, offset, self.weight, None, stride=1, padding=2, dilation=2)
