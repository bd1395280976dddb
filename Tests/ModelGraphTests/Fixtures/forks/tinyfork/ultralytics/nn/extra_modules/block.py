import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from ..modules import C2f, Conv

try:
    from fancy_cuda_ops import fused_star  # a compiled extension; absent on a CPU
except ImportError:
    fused_star = None

__all__ = ["C2f_Star", "GatedFusion", "PatchMixer", "ChannelGate"]


class StarBlock(nn.Module):
    def __init__(self, dim, mlp_ratio=3):
        super().__init__()
        self.dwconv = Conv(dim, dim, 7, g=dim, act=False)
        self.f1 = nn.Conv2d(dim, mlp_ratio * dim, 1)
        self.f2 = nn.Conv2d(dim, mlp_ratio * dim, 1)
        self.g = Conv(mlp_ratio * dim, dim, 1, act=False)
        self.act = nn.ReLU6()

    def forward(self, x):
        y = self.dwconv(x)
        y = self.act(self.f1(y)) * self.f2(y) if fused_star is None else fused_star(y)
        return x + self.g(y)


class C2f_Star(C2f):
    """C2f whose bottlenecks are star blocks: the parent builds, the child swaps self.m."""

    def __init__(self, c1, c2, n=1, shortcut=False, g=1, e=0.5):
        super().__init__(c1, c2, n, shortcut, g, e)
        self.m = nn.ModuleList(StarBlock(self.c) for _ in range(n))


class ChannelGate(nn.Module):
    def __init__(self, c, reduction=4):
        super().__init__()
        hidden = max(c // reduction, 8)
        self.fc = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, hidden, 1), nn.SiLU(), nn.Conv2d(hidden, c, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.fc(x)


class GatedFusion(nn.Module):
    """Fuses two maps of different widths into head_channel channels (the width comes from the YAML's top level)."""

    def __init__(self, inc, ouc):
        super().__init__()
        self.proj = nn.ModuleList(Conv(c, ouc, 1) if c != ouc else nn.Identity() for c in inc)
        self.gate = ChannelGate(ouc)

    def forward(self, xs):
        low, high = xs
        high = F.interpolate(self.proj[1](high), size=low.shape[2:], mode="nearest")
        return self.gate(self.proj[0](low) + high)


class PatchMixer(nn.Module):
    """Mixes tokens inside 2x2 patches (einops), with a stochastic-depth path."""

    def __init__(self, c, drop_path=0.1):
        super().__init__()
        from timm.layers import DropPath, trunc_normal_
        self.norm = nn.LayerNorm(c * 4)
        self.mix = nn.Linear(c * 4, c * 4)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        trunc_normal_(self.mix.weight, std=0.02)

    def forward(self, x):
        b, c, h, w = x.shape
        t = rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=2, p2=2)
        t = t + self.drop_path(self.mix(self.norm(t)))
        return rearrange(t, "b (h w) (p1 p2 c) -> b c (h p1) (w p2)", h=h // 2, p1=2, p2=2)
