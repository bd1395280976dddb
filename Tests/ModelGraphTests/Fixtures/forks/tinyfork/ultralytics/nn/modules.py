import math

import torch
import torch.nn as nn


def autopad(k, p=None, d=1):
    """Same-size padding for a kernel k with dilation d."""
    if d > 1:
        k = d * (k - 1) + 1 if isinstance(k, int) else [d * (x - 1) + 1 for x in k]
    if p is None:
        p = k // 2 if isinstance(k, int) else [x // 2 for x in k]
    return p


class Conv(nn.Module):
    default_act = nn.SiLU()

    def __init__(self, c1, c2, k=1, s=1, p=None, g=1, d=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = self.default_act if act is True else act if isinstance(act, nn.Module) else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Concat(nn.Module):
    def __init__(self, dimension=1):
        super().__init__()
        self.d = dimension

    def forward(self, x):
        return torch.cat(x, self.d)


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut=True, g=1, k=(3, 3), e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, k[0], 1)
        self.cv2 = Conv(c_, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        return x + self.cv2(self.cv1(x)) if self.add else self.cv2(self.cv1(x))


class C2f(nn.Module):
    def __init__(self, c1, c2, n=1, shortcut=False, g=1, e=0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, k=((3, 3), (3, 3)), e=1.0) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class Detect(nn.Module):
    """A detection head: per level, a box branch and a class branch; returns [B, 4 + nc, anchors]."""
    stride = torch.zeros(1)

    def __init__(self, nc=80, ch=()):
        super().__init__()
        self.nc = nc
        self.nl = len(ch)
        self.no = nc + 4
        c2, c3 = max(16, ch[0] // 4, 16), max(ch[0], min(self.nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), nn.Conv2d(c2, 4, 1)) for x in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), nn.Conv2d(c3, self.nc, 1)) for x in ch)

    def forward(self, x):
        for i in range(self.nl):
            x[i] = torch.cat((self.cv2[i](x[i]), self.cv3[i](x[i])), 1)
        if self.training:
            return x
        shape = x[0].shape
        return torch.cat([xi.view(shape[0], self.no, -1) for xi in x], 2)

    def bias_init(self):
        for a, b, s in zip(self.cv2, self.cv3, self.stride):
            a[-1].bias.data[:] = 1.0
            b[-1].bias.data[: self.nc] = math.log(5 / self.nc / (640 / s) ** 2)


class QueryDecoder(nn.Module):
    """A query head in the style of older RT-DETR forks: its label embedding has nc + 1 rows and it
    returns [B, queries, 4 + nc]."""

    def __init__(self, nc=80, ch=(), hd=64, nq=30):
        super().__init__()
        self.nc = nc
        self.nq = nq
        self.input_proj = nn.ModuleList(nn.Sequential(nn.Conv2d(x, hd, 1, bias=False), nn.BatchNorm2d(hd)) for x in ch)
        self.denoising_class_embed = nn.Embedding(nc + 1, hd)
        self.enc_score_head = nn.Linear(hd, nc)
        self.dec_bbox_head = nn.Sequential(nn.Linear(hd, hd), nn.ReLU(), nn.Linear(hd, 4))
        self.query_pos_head = nn.Linear(4, hd)

    def forward(self, x):
        feats = [proj(f).flatten(2).permute(0, 2, 1) for proj, f in zip(self.input_proj, x)]
        memory = torch.cat(feats, 1)
        scores = self.enc_score_head(memory)
        topk = torch.topk(scores.max(-1).values, self.nq, dim=1).indices
        picked = memory.gather(1, topk.unsqueeze(-1).repeat(1, 1, memory.shape[-1]))
        boxes = self.dec_bbox_head(picked).sigmoid()
        logits = self.enc_score_head(picked + self.query_pos_head(boxes))
        return torch.cat([boxes, logits.sigmoid()], -1)


class SegmentHead(Detect):
    """A segmentation head: Detect's rows plus nm mask coefficients per anchor, and nm prototypes at the
    first level's resolution; in eval it returns (cat([y, coefficients], 1), (coefficients, prototypes))."""

    def __init__(self, nc=80, nm=4, ch=()):
        super().__init__(nc, ch)
        self.nm = nm
        self.proto = nn.Sequential(Conv(ch[0], 16, 3), nn.Conv2d(16, nm, 1))
        self.cv4 = nn.ModuleList(nn.Conv2d(x, nm, 1) for x in ch)

    def forward(self, x):
        prototypes = self.proto(x[0])
        batch = prototypes.shape[0]
        coefficients = torch.cat([self.cv4[i](x[i]).view(batch, self.nm, -1) for i in range(self.nl)], 2)
        y = Detect.forward(self, x)
        if self.training:
            return y, coefficients, prototypes
        return torch.cat([y[:, :4], y[:, 4:].sigmoid(), coefficients], 1), (coefficients, prototypes)
