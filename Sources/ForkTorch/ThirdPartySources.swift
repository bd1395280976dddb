/// The parts of timm that model code imports (layers and initialisers), written in ModelGraph's
/// own Python after timm 1.0's documented behaviour; the rest of timm is left out.
enum ThirdPartySources {
    static let modules: [String: String] = [
        "timm": "from timm import layers, models, data\n__version__ = '1.0.31'\ndef create_model(*args, **kwargs):\n    raise NotImplementedError('timm.create_model downloads or builds timm\\'s own architectures; fork mode does not provide them')\n",
        "timm.layers": #"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.init import trunc_normal_ as _trunc
import collections.abc

def _ntuple(n):
    def parse(x):
        if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
            return tuple(x)
        return tuple([x] * n)
    return parse

to_1tuple = _ntuple(1)
to_2tuple = _ntuple(2)
to_3tuple = _ntuple(3)
to_4tuple = _ntuple(4)
to_ntuple = _ntuple

def make_divisible(v, divisor=8, min_value=None, round_limit=.9):
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v

def trunc_normal_(tensor, mean=0., std=1., a=-2., b=2.):
    return _trunc(tensor)

def trunc_normal_tf_(tensor, mean=0., std=1., a=-2., b=2.):
    return _trunc(tensor)

def lecun_normal_(tensor):
    return _trunc(tensor)

def variance_scaling_(tensor, scale=1.0, mode='fan_in', distribution='normal'):
    return _trunc(tensor)

def drop_path(x, drop_prob=0., training=False, scale_by_keep=True):
    return x

class DropPath(nn.Module):
    def __init__(self, drop_prob=0., scale_by_keep=True):
        super().__init__()
        self.drop_prob = drop_prob
        self.scale_by_keep = scale_by_keep
    def forward(self, x):
        return drop_path(x, self.drop_prob, self.training, self.scale_by_keep)

class DropBlock2d(nn.Module):
    def __init__(self, drop_prob=0.1, block_size=7, gamma_scale=1.0, with_noise=False, inplace=False, batchwise=False, fast=True):
        super().__init__()
        self.drop_prob = drop_prob
    def forward(self, x):
        return x

def get_act_layer(name):
    if name is None:
        return None
    if not isinstance(name, str):
        return name
    return {'relu': nn.ReLU, 'relu6': nn.ReLU6, 'gelu': nn.GELU, 'silu': nn.SiLU, 'swish': nn.SiLU, 'sigmoid': nn.Sigmoid,
            'tanh': nn.Tanh, 'hard_sigmoid': nn.Hardsigmoid, 'hard_swish': nn.Hardswish, 'mish': nn.Mish,
            'leaky_relu': nn.LeakyReLU, 'elu': nn.ELU, 'prelu': nn.PReLU, 'identity': nn.Identity}[name]

def create_act_layer(name, inplace=None, **kwargs):
    act_layer = get_act_layer(name)
    if act_layer is None:
        return None
    if inplace is None:
        return act_layer(**kwargs)
    try:
        return act_layer(inplace=inplace, **kwargs)
    except TypeError:
        return act_layer(**kwargs)

class SEModule(nn.Module):
    def __init__(self, channels, rd_ratio=1. / 16, rd_channels=None, rd_divisor=8, add_maxpool=False, bias=True,
                 act_layer=nn.ReLU, norm_layer=None, gate_layer='sigmoid', device=None, dtype=None):
        super().__init__()
        self.add_maxpool = add_maxpool
        if not rd_channels:
            rd_channels = make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.)
        self.fc1 = nn.Conv2d(channels, rd_channels, kernel_size=1, bias=bias)
        self.bn = norm_layer(rd_channels) if norm_layer else nn.Identity()
        self.act = create_act_layer(act_layer, inplace=True)
        self.fc2 = nn.Conv2d(rd_channels, channels, kernel_size=1, bias=bias)
        self.gate = create_act_layer(gate_layer)
    def forward(self, x):
        x_se = x.mean((2, 3), keepdim=True)
        x_se = self.fc1(x_se)
        x_se = self.act(self.bn(x_se))
        x_se = self.fc2(x_se)
        return x * self.gate(x_se)

SqueezeExcite = SEModule

class Mlp(nn.Module):
    def __init__(self, in_features, hidden_features=None, out_features=None, act_layer=nn.GELU, norm_layer=None, bias=True,
                 drop=0., use_conv=False):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        bias = to_2tuple(bias)
        drop_probs = to_2tuple(drop)
        linear_layer = nn.Conv2d if use_conv else nn.Linear
        if use_conv:
            self.fc1 = nn.Conv2d(in_features, hidden_features, kernel_size=1, bias=bias[0])
        else:
            self.fc1 = nn.Linear(in_features, hidden_features, bias=bias[0])
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop_probs[0])
        self.norm = norm_layer(hidden_features) if norm_layer is not None else nn.Identity()
        if use_conv:
            self.fc2 = nn.Conv2d(hidden_features, out_features, kernel_size=1, bias=bias[1])
        else:
            self.fc2 = nn.Linear(hidden_features, out_features, bias=bias[1])
        self.drop2 = nn.Dropout(drop_probs[1])
    def forward(self, x):
        x = self.fc1(x)
        x = self.act(x)
        x = self.drop1(x)
        x = self.norm(x)
        x = self.fc2(x)
        x = self.drop2(x)
        return x

def get_padding(kernel_size, stride=1, dilation=1, **_):
    return ((stride - 1) + dilation * (kernel_size - 1)) // 2

class CondConv2d(nn.Module):
    """Conditionally parameterized convolution: num_experts kernels mixed per sample by routing weights."""
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding='', dilation=1, groups=1, bias=False, num_experts=4):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = to_2tuple(kernel_size)
        self.stride = to_2tuple(stride)
        if isinstance(padding, str):
            padding = get_padding(kernel_size, stride, dilation)
        self.dynamic_padding = False
        self.padding = to_2tuple(padding)
        self.dilation = to_2tuple(dilation)
        self.groups = groups
        self.num_experts = num_experts
        self.weight_shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        weight_num_param = 1
        for wd in self.weight_shape:
            weight_num_param *= wd
        self.weight = torch.nn.Parameter(torch.empty(self.num_experts, weight_num_param))
        if bias:
            self.bias_shape = (self.out_channels,)
            self.bias = torch.nn.Parameter(torch.empty(self.num_experts, self.out_channels))
        else:
            self.register_parameter('bias', None)
    def forward(self, x, routing_weights):
        B, C, H, W = x.shape
        weight = torch.matmul(routing_weights, self.weight)
        new_weight_shape = (B * self.out_channels, self.in_channels // self.groups) + self.kernel_size
        weight = weight.view(new_weight_shape)
        bias = None
        if self.bias is not None:
            bias = torch.matmul(routing_weights, self.bias)
            bias = bias.view(B * self.out_channels)
        x = x.reshape(1, B * C, H, W)
        out = F.conv2d(x, weight, bias, stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups * B)
        return out.permute([1, 0, 2, 3]).view(B, self.out_channels, out.shape[-2], out.shape[-1])

def use_fused_attn(experimental=False):
    return False

class LayerNorm2d(nn.LayerNorm):
    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)

from timm.layers import weight_init
"""#,
        "timm.layers.weight_init": "from timm.layers import trunc_normal_, trunc_normal_tf_, lecun_normal_, variance_scaling_\n",
        "timm.layers.helpers": "from timm.layers import make_divisible, to_2tuple, to_1tuple, to_3tuple, to_4tuple, to_ntuple\n",
        "timm.layers.drop": "from timm.layers import DropPath, drop_path, DropBlock2d\n",
        "timm.models": "from timm.models import layers, registry\ndef named_apply(fn, module, name='', depth_first=True, include_root=False):\n    if not depth_first and include_root:\n        fn(module=module, name=name)\n    for child_name, child_module in module.named_children():\n        child_name = '.'.join((name, child_name)) if name else child_name\n        named_apply(fn=fn, module=child_module, name=child_name, depth_first=depth_first, include_root=True)\n    if depth_first and include_root:\n        fn(module=module, name=name)\n    return module\ndef checkpoint_seq(functions, x, every=1, flatten=False, skip_last=False, preserve_rng_state=True):\n    for f in functions:\n        x = f(x)\n    return x\ndef register_model(fn):\n    return fn\n",
        "timm.models.layers": "from timm.layers import *\nfrom timm.layers import _ntuple\n",
        "timm.models.vision_transformer": "from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD\ndef _cfg(url='', **kwargs):\n    return {'url': url, 'num_classes': 1000, 'input_size': (3, 224, 224), 'pool_size': None, 'crop_pct': .9, 'interpolation': 'bicubic', 'fixed_input_size': True, 'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD, 'first_conv': 'patch_embed.proj', 'classifier': 'head', **kwargs}\n",
        "timm.models.registry": "def register_model(fn):\n    return fn\n",
        "timm.models._registry": "def register_model(fn):\n    return fn\n",
        "timm.models._builder": "def build_model_with_cfg(*args, **kwargs):\n    raise NotImplementedError('timm.build_model_with_cfg is not provided in fork mode')\n",
        // PyWavelets' Wavelet filter banks (the coefficients are the published values, as pywt lists them)
        "pywt": #"""
_FILTERS = {
    'haar' : [[0.7071067811865476, 0.7071067811865476], [-0.7071067811865476, 0.7071067811865476], [0.7071067811865476, 0.7071067811865476], [0.7071067811865476, -0.7071067811865476]] ,
    'db1' : [[0.7071067811865476, 0.7071067811865476], [-0.7071067811865476, 0.7071067811865476], [0.7071067811865476, 0.7071067811865476], [0.7071067811865476, -0.7071067811865476]] ,
    'db2' : [[-0.12940952255126037, 0.2241438680420134, 0.8365163037378079, 0.48296291314453416], [-0.48296291314453416, 0.8365163037378079, -0.2241438680420134, -0.12940952255126037], [0.48296291314453416, 0.8365163037378079, 0.2241438680420134, -0.12940952255126037], [-0.12940952255126037, -0.2241438680420134, 0.8365163037378079, -0.48296291314453416]] ,
    'db3' : [[0.03522629188570953, -0.08544127388202666, -0.13501102001025458, 0.45987750211849154, 0.8068915093110925, 0.33267055295008263], [-0.33267055295008263, 0.8068915093110925, -0.45987750211849154, -0.13501102001025458, 0.08544127388202666, 0.03522629188570953], [0.33267055295008263, 0.8068915093110925, 0.45987750211849154, -0.13501102001025458, -0.08544127388202666, 0.03522629188570953], [0.03522629188570953, 0.08544127388202666, -0.13501102001025458, -0.45987750211849154, 0.8068915093110925, -0.33267055295008263]] ,
    'db4' : [[-0.010597401785069032, 0.0328830116668852, 0.030841381835560764, -0.18703481171909309, -0.027983769416859854, 0.6308807679298589, 0.7148465705529157, 0.2303778133088965], [-0.2303778133088965, 0.7148465705529157, -0.6308807679298589, -0.027983769416859854, 0.18703481171909309, 0.030841381835560764, -0.0328830116668852, -0.010597401785069032], [0.2303778133088965, 0.7148465705529157, 0.6308807679298589, -0.027983769416859854, -0.18703481171909309, 0.030841381835560764, 0.0328830116668852, -0.010597401785069032], [-0.010597401785069032, -0.0328830116668852, 0.030841381835560764, 0.18703481171909309, -0.027983769416859854, -0.6308807679298589, 0.7148465705529157, -0.2303778133088965]] ,
    'sym2' : [[-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025], [-0.48296291314469025, 0.836516303737469, -0.22414386804185735, -0.12940952255092145], [0.48296291314469025, 0.836516303737469, 0.22414386804185735, -0.12940952255092145], [-0.12940952255092145, -0.22414386804185735, 0.836516303737469, -0.48296291314469025]] ,
    'sym3' : [[0.035226291882100656, -0.08544127388224149, -0.13501102001039084, 0.4598775021193313, 0.8068915093133388, 0.3326705529509569], [-0.3326705529509569, 0.8068915093133388, -0.4598775021193313, -0.13501102001039084, 0.08544127388224149, 0.035226291882100656], [0.3326705529509569, 0.8068915093133388, 0.4598775021193313, -0.13501102001039084, -0.08544127388224149, 0.035226291882100656], [0.035226291882100656, 0.08544127388224149, -0.13501102001039084, -0.4598775021193313, 0.8068915093133388, -0.3326705529509569]] ,
    'sym4' : [[-0.07576571478927333, -0.02963552764599851, 0.49761866763201545, 0.8037387518059161, 0.29785779560527736, -0.09921954357684722, -0.012603967262037833, 0.0322231006040427], [-0.0322231006040427, -0.012603967262037833, 0.09921954357684722, 0.29785779560527736, -0.8037387518059161, 0.49761866763201545, 0.02963552764599851, -0.07576571478927333], [0.0322231006040427, -0.012603967262037833, -0.09921954357684722, 0.29785779560527736, 0.8037387518059161, 0.49761866763201545, -0.02963552764599851, -0.07576571478927333], [-0.07576571478927333, 0.02963552764599851, 0.49761866763201545, -0.8037387518059161, 0.29785779560527736, 0.09921954357684722, -0.012603967262037833, -0.0322231006040427]] ,
    'coif1' : [[-0.015655728135791993, -0.07273261951252645, 0.3848648468648578, 0.8525720202116004, 0.3378976624574818, -0.07273261951252645], [0.07273261951252645, 0.3378976624574818, -0.8525720202116004, 0.3848648468648578, 0.07273261951252645, -0.015655728135791993], [-0.07273261951252645, 0.3378976624574818, 0.8525720202116004, 0.3848648468648578, -0.07273261951252645, -0.015655728135791993], [-0.015655728135791993, 0.07273261951252645, 0.3848648468648578, -0.8525720202116004, 0.3378976624574818, 0.07273261951252645]] ,
    'bior1.1' : [[0.7071067811865476, 0.7071067811865476], [-0.7071067811865476, 0.7071067811865476], [0.7071067811865476, 0.7071067811865476], [0.7071067811865476, -0.7071067811865476]] ,
}
class Wavelet:
    def __init__(self, name):
        if name not in _FILTERS:
            raise ValueError(f"Unknown wavelet name {name!r} (fork mode knows {', '.join(sorted(_FILTERS))})")
        self.name = name
        self.dec_lo, self.dec_hi, self.rec_lo, self.rec_hi = [list(f) for f in _FILTERS[name]]
        self.dec_len = self.rec_len = len(self.dec_lo)
        self.filter_bank = (self.dec_lo, self.dec_hi, self.rec_lo, self.rec_hi)
def wavelist(family=None, kind="all"):
    return sorted(_FILTERS)
from pywt import data
"""#,
        "pywt.data": "",
        // numpy as model code uses it while building: math on numbers, small arrays as tensors
        "numpy": #"""
import math as _math
import torch as _torch
pi = _math.pi
e = _math.e
inf = float("inf")
nan = float("nan")
newaxis = None
float32 = _torch.float32
float64 = _torch.float64
float16 = _torch.float16
int64 = _torch.int64
int32 = _torch.int32
uint8 = _torch.uint8
bool_ = _torch.bool
ndarray = _torch.Tensor
integer = int
floating = float
number = float
float_ = float
int_ = int
def _unary(f):
    def apply(x, *args, **kwargs):
        if isinstance(x, _torch.Tensor):
            return getattr(_torch, f.__name__)(x)
        if isinstance(x, (list, tuple)):
            return array([apply(v) for v in x])
        return f(x)
    return apply
def log(x): return _math.log(x)
def exp(x): return _math.exp(x)
def sqrt(x): return _math.sqrt(x)
def floor(x): return float(_math.floor(x))
def ceil(x): return float(_math.ceil(x))
def log2(x): return _math.log2(x)
def log10(x): return _math.log10(x)
def sin(x): return _math.sin(x)
def cos(x): return _math.cos(x)
def tanh(x): return _math.tanh(x)
log = _unary(log)
exp = _unary(exp)
sqrt = _unary(sqrt)
floor = _unary(floor)
ceil = _unary(ceil)
log2 = _unary(log2)
log10 = _unary(log10)
sin = _unary(sin)
cos = _unary(cos)
tanh = _unary(tanh)
def abs(x):
    return _torch.abs(x) if isinstance(x, _torch.Tensor) else (x if x >= 0 else -x)
def round(x, decimals=0):
    return __builtins_round__(x, decimals)
def array(data, dtype=None):
    return _torch.tensor(data, dtype=dtype if dtype is not None else _torch.float64 if _has_float(data) else None)
asarray = array
def _has_float(data):
    if isinstance(data, float):
        return True
    if isinstance(data, (list, tuple)):
        return any(_has_float(v) for v in data)
    return False
def linspace(start, stop, num=50, endpoint=True, dtype=None):
    if not endpoint:
        step = (stop - start) / num
        return array([start + i * step for i in range(num)])
    return _torch.linspace(start, stop, num, dtype=_torch.float64)
def arange(*args, dtype=None):
    return _torch.arange(*args)
def zeros(shape, dtype=None):
    return _torch.zeros(shape, dtype=dtype or _torch.float64)
def ones(shape, dtype=None):
    return _torch.ones(shape, dtype=dtype or _torch.float64)
def prod(x):
    result = 1
    for v in x:
        result *= v
    return result
def sum(x, axis=None):
    total = 0
    for v in x:
        total += v
    return total
def mean(x):
    items = list(x)
    return sum(items) / len(items)
def max(x, axis=None):
    return __builtins_max__(x)
def min(x, axis=None):
    return __builtins_min__(x)
def cumsum(x):
    out, total = [], 0
    for v in x:
        total += v
        out.append(total)
    return array(out)
def clip(x, a, b):
    return a if x < a else b if x > b else x
def isscalar(x):
    return isinstance(x, (int, float, bool))
def stack(arrays, axis=0):
    return _torch.stack([array(a) if not isinstance(a, _torch.Tensor) else a for a in arrays], axis)
def meshgrid(*xi, indexing="xy"):
    return _torch.meshgrid(*[array(x) if not isinstance(x, _torch.Tensor) else x for x in xi], indexing=indexing)
def concatenate(arrays, axis=0):
    return _torch.cat([array(a) if not isinstance(a, _torch.Tensor) else a for a in arrays], axis)
class _RandomState:
    def __init__(self, seed=None):
        pass
    def rand(self, *shape):
        return _torch.rand(*shape)
    def randn(self, *shape):
        return _torch.randn(*shape)
    def uniform(self, low=0.0, high=1.0, size=None):
        return _torch.rand(size) if size is not None else 0.5
    def normal(self, loc=0.0, scale=1.0, size=None):
        return _torch.randn(size) if size is not None else 0.0
    def permutation(self, n):
        return _torch.arange(n)
    def __getattr__(self, name):
        # any other distribution: an array of that size whose values fork mode does not know
        def sample(*args, size=None, **kwargs):
            return _torch.rand(size) if size is not None else 0.5
        return sample
class random:
    RandomState = _RandomState
    @staticmethod
    def seed(s=None):
        pass
    @staticmethod
    def rand(*shape):
        return _torch.rand(*shape)
    @staticmethod
    def randn(*shape):
        return _torch.randn(*shape)
"""#,
        "torchvision": "from torchvision import ops\n__version__ = '0.16.0'\n",
        "torchvision.ops": #"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.utils import _pair
def deform_conv2d(input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), mask=None):
    kh, kw = weight.shape[2], weight.shape[3]
    return torch._deform_conv2d(input, weight, offset, mask, bias, _pair(stride), _pair(padding), _pair(dilation),
                                input.shape[1] // weight.shape[1], offset.shape[1] // (2 * kh * kw))
class DeformConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True):
        super().__init__()
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, self.kernel_size[0], self.kernel_size[1]))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
    def forward(self, input, offset, mask=None):
        return deform_conv2d(input, offset, self.weight, self.bias, self.stride, self.padding, self.dilation, mask)
"""#,
        "timm.data": "IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)\nIMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)\nIMAGENET_INCEPTION_MEAN = (0.5, 0.5, 0.5)\nIMAGENET_INCEPTION_STD = (0.5, 0.5, 0.5)\n",
    ]
}
