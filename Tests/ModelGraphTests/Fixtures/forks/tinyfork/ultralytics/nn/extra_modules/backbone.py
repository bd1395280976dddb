import torch
import torch.nn as nn

from ..modules import Conv

__all__ = ["tiny_pyramid", "tiny_pyramid_wide"]


class Stage(nn.Module):
    def __init__(self, c1, c2, depth, drop_rates):
        super().__init__()
        self.down = Conv(c1, c2, 3, 2)
        self.blocks = nn.Sequential(*[Conv(c2, c2, 3) for _ in range(depth)])
        self.drop_rates = drop_rates

    def forward(self, x):
        return self.blocks(self.down(x))


class TinyPyramid(nn.Module):
    """A backbone that returns a list of feature maps (stem + 3 stages); parse_model gives it one index per map."""

    def __init__(self, widths=(16, 32, 64, 128), depths=(1, 2, 1), drop_path_rate=0.1):
        super().__init__()
        self.stem = Conv(3, widths[0], 3, 2)
        rates = [x.item() for x in torch.linspace(0, drop_path_rate, sum(depths))]
        stages, cursor = [], 0
        for i, depth in enumerate(depths):
            stages.append(Stage(widths[i], widths[i + 1], depth, rates[cursor:cursor + depth]))
            cursor += depth
        self.stages = nn.ModuleList(stages)
        self.channel = [i.size(1) for i in self.forward(torch.randn(1, 3, 64, 64))]

    def forward(self, x):
        outs = [self.stem(x)]
        for stage in self.stages:
            outs.append(stage(outs[-1]))
        return outs


def tiny_pyramid(*args):
    return TinyPyramid()


def tiny_pyramid_wide(*args):
    return TinyPyramid(widths=(24, 48, 96, 192), depths=(1, 1, 2))
