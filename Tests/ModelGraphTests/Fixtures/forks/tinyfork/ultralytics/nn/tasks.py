import contextlib
import math
from copy import deepcopy

import torch
import torch.nn as nn

from ultralytics.nn.modules import *
from ultralytics.nn.extra_modules import *

try:
    import thop
except ImportError:
    thop = None


def make_divisible(x, divisor):
    return math.ceil(x / divisor) * divisor


class BaseModel(nn.Module):
    def forward(self, x, *args, **kwargs):
        return self.predict(x, *args, **kwargs)

    def predict(self, x, profile=False, visualize=False):
        return self._predict_once(x)

    def _predict_once(self, x):
        y = []
        for m in self.model:
            if m.f != -1:
                x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
            if hasattr(m, "backbone"):
                x = m(x)
                for _ in range(5 - len(x)):
                    x.insert(0, None)
                for i_idx, i in enumerate(x):
                    if i_idx in self.save:
                        y.append(i)
                    else:
                        y.append(None)
                x = x[-1]
            else:
                x = m(x)
                y.append(x if m.i in self.save else None)
        return x


class DetectionModel(BaseModel):
    def __init__(self, cfg="tiny.yaml", ch=3, nc=None, verbose=True):
        super().__init__()
        self.yaml = cfg if isinstance(cfg, dict) else yaml_model_load(cfg)
        ch = self.yaml["ch"] = self.yaml.get("ch", ch)
        if nc and nc != self.yaml["nc"]:
            self.yaml["nc"] = nc
        self.model, self.save = parse_model(deepcopy(self.yaml), ch=ch, verbose=verbose)
        self.names = {i: f"{i}" for i in range(self.yaml["nc"])}
        m = self.model[-1]
        if isinstance(m, Detect):
            s = 256
            m.stride = torch.tensor([s / x.shape[-2] for x in (lambda o: o[0] if isinstance(m, SegmentHead) else o)(self.forward(torch.zeros(1, ch, s, s)))])
            self.stride = m.stride
            m.bias_init()
        else:
            self.stride = torch.Tensor([32])


class QueryDetectionModel(DetectionModel):
    pass


RTDETRDetectionModel = QueryDetectionModel


class SegmentationModel(DetectionModel):
    pass


class PoseModel(DetectionModel):
    pass


class ClassificationModel(DetectionModel):
    pass


def guess_model_task(cfg):
    return "detect"


def yaml_model_load(path):
    import yaml
    with open(path) as f:
        d = yaml.safe_load(f)
    d["yaml_file"] = str(path)
    return d


def parse_model(d, ch, verbose=True):
    import ast

    max_channels = float("inf")
    nc, act, scales = (d.get(x) for x in ("nc", "activation", "scales"))
    depth, width = (d.get(x, 1.0) for x in ("depth_multiple", "width_multiple"))
    if scales:
        scale = d.get("scale")
        if not scale:
            scale = tuple(scales.keys())[0]
        depth, width, max_channels = scales[scale]
    if act:
        Conv.default_act = eval(act)

    ch = [ch]
    layers, save, c2 = [], [], ch[-1]
    is_backbone = False
    for i, (f, n, m, args) in enumerate(d["backbone"] + d["head"]):
        try:
            if m == "node_mode":
                m = d[m]
            t = m
            m = getattr(torch.nn, m[3:]) if "nn." in m else globals()[m]
        except:
            pass
        for j, a in enumerate(args):
            if isinstance(a, str):
                with contextlib.suppress(ValueError):
                    try:
                        args[j] = locals()[a] if a in locals() else ast.literal_eval(a)
                    except:
                        args[j] = a

        n = n_ = max(round(n * depth), 1) if n > 1 else n
        if m in (Conv, Bottleneck, SPPF, C2f, C2f_Star, nn.Conv2d, SPDConv, BankConv):
            if args[0] == "head_channel":
                args[0] = d[args[0]]
            c1, c2 = ch[f], args[0]
            if c2 != nc:
                c2 = make_divisible(min(c2, max_channels) * width, 8)
            args = [c1, c2, *args[1:]]
            if m in (C2f, C2f_Star):
                args.insert(2, n)
                n = 1
        elif m is Concat:
            c2 = sum(ch[x] for x in f)
        elif m is GatedFusion:
            c2 = d[args[0]] if isinstance(args[0], str) else args[0]
            args = [[ch[x] for x in f], c2]
        elif m in (ChannelGate, PatchMixer, ECA, CoordGate, GNMix, TokenAttention, InplaceMix, ShuffleUp, FlipMix, UnfoldMix, EinsumMix, FoldMix, CumsumMix, ViewInplace, PyramidPool, FlowWarp, PadAssign, StatsMix, MHAMix, IndexMix, AssignMix, SampleMix, VolumeMix, SpectrumMix, GraphMix, DeformMix, UnpoolMix, PhaseMix, SpectralBank, ModulatedDeform, OffsetSample):
            c2 = ch[f]
            args = [c2, *args]
        elif m in (Detect, SegmentHead):
            args.append([ch[x] for x in f])
        elif m is QueryDecoder:
            args.insert(1, [ch[x] for x in f])
        elif m in {tiny_pyramid, tiny_pyramid_wide}:
            m = m(*args)
            c2 = m.channel
        else:
            c2 = ch[f]

        if isinstance(c2, list):
            is_backbone = True
            m_ = m
            m_.backbone = True
        else:
            m_ = nn.Sequential(*(m(*args) for _ in range(n))) if n > 1 else m(*args)
            t = str(m)[8:-2].replace("__main__.", "")
        m.np = sum(x.numel() for x in m_.parameters())
        m_.i, m_.f, m_.type = i + 4 if is_backbone else i, f, t
        save.extend(x % (i + 4 if is_backbone else i) for x in ([f] if isinstance(f, int) else f) if x != -1)
        layers.append(m_)
        if i == 0:
            ch = []
        if isinstance(c2, list):
            ch.extend(c2)
            for _ in range(5 - len(ch)):
                ch.insert(0, 0)
        else:
            ch.append(c2)
    return nn.Sequential(*layers), sorted(save)
