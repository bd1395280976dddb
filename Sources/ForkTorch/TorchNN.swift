/// torch.nn in ModelGraph's own Python, run by the interpreter: nn.Module with PyTorch's
/// registration rules (parameters, buffers and children in assignment order, so state_dict keys
/// and parameter counts equal PyTorch's), the containers, and the layers model code builds.
/// Layers compute through torch.nn.functional, which fork mode implements natively.
enum TorchNNSource {
    static let module = #"""
from collections import OrderedDict
import torch
from torch import Tensor
from torch.nn.parameter import Parameter
import torch.nn.functional as F
from torch.nn import init
import math

class _RemovableHandle:
    def __init__(self, hooks, key):
        self.hooks = hooks
        self.key = key
    def remove(self):
        self.hooks.pop(self.key, None)
    def __enter__(self):
        return self
    def __exit__(self, *args):
        self.remove()

_hook_counter = [0]

class Module:
    dump_patches = False
    _version = 1
    training = True
    call_super_init = False

    def __init__(self, *args, **kwargs):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()

    def forward(self, *input):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            d.pop(name, None)
            d["_buffers"].pop(name, None)
            d["_modules"].pop(name, None)
            d["_non_persistent_buffers_set"].discard(name)
            params[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' (torch.nn.Parameter or None expected)")
            params[name] = value
        else:
            modules = d.get("_modules")
            if isinstance(value, Module):
                if modules is None:
                    raise AttributeError("cannot assign module before Module.__init__() call")
                d.pop(name, None)
                params.pop(name, None)
                d["_buffers"].pop(name, None)
                d["_non_persistent_buffers_set"].discard(name)
                modules[name] = value
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' (torch.nn.Module or None expected)")
                modules[name] = value
            else:
                buffers = d.get("_buffers")
                if buffers is not None and name in buffers:
                    if value is not None and not isinstance(value, Tensor):
                        raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (torch.Tensor or None expected)")
                    buffers[name] = value
                else:
                    object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        if "_parameters" in d:
            p = d["_parameters"]
            if name in p:
                return p[name]
        if "_buffers" in d:
            b = d["_buffers"]
            if name in b:
                return b[name]
        if "_modules" in d:
            m = d["_modules"]
            if name in m:
                return m[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        d = self.__dict__
        if name in d.get("_parameters", {}):
            del d["_parameters"][name]
        elif name in d.get("_buffers", {}):
            del d["_buffers"][name]
            d["_non_persistent_buffers_set"].discard(name)
        elif name in d.get("_modules", {}):
            del d["_modules"][name]
        else:
            object.__delattr__(self, name)

    def register_buffer(self, name, tensor, persistent=True):
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError('buffer name can\'t contain "."')
        if name == "":
            raise KeyError('buffer name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (torch Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name, param):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        if "." in name:
            raise KeyError('parameter name can\'t contain "."')
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
        elif not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' (torch.nn.Parameter or None required)")
        else:
            self._parameters[name] = param

    def add_module(self, name, module):
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {type(name).__name__}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        if target == "":
            return self
        module = self
        for item in target.split("."):
            module = getattr(module, item)
        return module

    def get_parameter(self, target):
        module_path, _, name = target.rpartition(".")
        return getattr(self.get_submodule(module_path), name)

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        torch._modelgraph_enter(self, args)
        result = self.forward(*args, **kwargs)
        torch._modelgraph_leave(self, args, result)
        for hook in list(self._forward_hooks.values()):
            hook_result = hook(self, args, result)
            if hook_result is not None:
                result = hook_result
        return result

    _call_impl = __call__

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        _hook_counter[0] += 1
        self._forward_hooks[_hook_counter[0]] = hook
        return _RemovableHandle(self._forward_hooks, _hook_counter[0])

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        _hook_counter[0] += 1
        self._forward_pre_hooks[_hook_counter[0]] = hook
        return _RemovableHandle(self._forward_pre_hooks, _hook_counter[0])

    def register_full_backward_hook(self, hook, prepend=False):
        return _RemovableHandle({}, 0)

    register_backward_hook = register_full_backward_hook

    def _named_members(self, get_members, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for k, v in get_members(module):
                if v is None or id(v) in memo:
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                name = module_prefix + ("." if module_prefix else "") + k
                yield name, v

    def parameters(self, recurse=True):
        for name, param in self.named_parameters(recurse=recurse):
            yield param

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members(lambda module: module._parameters.items(), prefix=prefix, recurse=recurse, remove_duplicate=remove_duplicate)

    def buffers(self, recurse=True):
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members(lambda module: module._buffers.items(), prefix=prefix, recurse=recurse, remove_duplicate=remove_duplicate)

    def children(self):
        for name, module in self.named_children():
            yield module

    def named_children(self):
        memo = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        if memo is None:
            memo = set()
        if id(self) not in memo:
            if remove_duplicate:
                memo.add(id(self))
            yield prefix, self
            for name, module in self._modules.items():
                if module is None:
                    continue
                submodule_prefix = prefix + ("." if prefix else "") + name
                yield from module.named_modules(memo, submodule_prefix, remove_duplicate)

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        if destination is None:
            destination = OrderedDict()
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def load_state_dict(self, state_dict, strict=True, assign=False):
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}: missing {missing}, unexpected {unexpected}")
        for k, v in state_dict.items():
            if k in own:
                own[k].data = v
        return (missing, unexpected)

    def apply(self, fn):
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        pass

    def to(self, *args, **kwargs):
        return self

    def cuda(self, device=None):
        return self

    def cpu(self):
        return self

    def float(self):
        return self

    def half(self):
        return self

    def double(self):
        return self

    def bfloat16(self):
        return self

    def type(self, dst_type):
        return self

    def share_memory(self):
        return self

    def extra_repr(self):
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        if not self._modules:
            return self._get_name() + "(" + extra + ")"
        lines = [extra] if extra else []
        for key, module in self._modules.items():
            lines.append("(" + key + "): " + repr(module).replace("\n", "\n  "))
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return list(self.__dict__.keys()) + list(self._parameters.keys()) + list(self._modules.keys()) + list(self._buffers.keys())

    def __setstate__(self, state):
        self.__dict__.update(state)


class Sequential(Module):
    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def _get_item_by_idx(self, iterator, idx):
        size = len(self)
        idx = idx.__index__() if not isinstance(idx, int) else idx
        if not -size <= idx < size:
            raise IndexError(f"index {idx} is out of range")
        idx %= size
        return list(iterator)[idx]

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.__class__(OrderedDict(list(self._modules.items())[idx]))
        return self._get_item_by_idx(self._modules.values(), idx)

    def __setitem__(self, idx, module):
        key = self._get_item_by_idx(self._modules.keys(), idx)
        return setattr(self, key, module)

    def __delitem__(self, idx):
        if isinstance(idx, slice):
            for key in list(self._modules.keys())[idx]:
                delattr(self, key)
        else:
            key = self._get_item_by_idx(self._modules.keys(), idx)
            delattr(self, key)
        str_indices = [str(i) for i in range(len(self._modules))]
        self._modules = OrderedDict(list(zip(str_indices, self._modules.values())))

    def __len__(self):
        return len(self._modules)

    def __add__(self, other):
        ret = Sequential()
        for layer in self:
            ret.append(layer)
        for layer in other:
            ret.append(layer)
        return ret

    def __iter__(self):
        return iter(list(self._modules.values()))

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index, module):
        n = len(self._modules)
        if index < 0:
            index += n
        for i in range(n, index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module
        return self

    def extend(self, sequential):
        for layer in sequential:
            self.append(layer)
        return self

    def forward(self, input):
        for module in self:
            input = module(input)
        return input


class ModuleList(Module):
    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self += modules

    def _get_abs_string_index(self, idx):
        idx = idx.__index__() if not isinstance(idx, int) else idx
        if not (-len(self) <= idx < len(self)):
            raise IndexError(f"index {idx} is out of range")
        if idx < 0:
            idx += len(self)
        return str(idx)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.__class__(list(self._modules.values())[idx])
        return self._modules[self._get_abs_string_index(idx)]

    def __setitem__(self, idx, module):
        idx = self._get_abs_string_index(idx)
        return setattr(self, str(idx), module)

    def __delitem__(self, idx):
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                delattr(self, str(k))
        else:
            delattr(self, self._get_abs_string_index(idx))
        str_indices = [str(i) for i in range(len(self._modules))]
        self._modules = OrderedDict(list(zip(str_indices, self._modules.values())))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        combined = ModuleList()
        for i, module in enumerate(list(self) + list(other)):
            combined.add_module(str(i), module)
        return combined

    def insert(self, index, module):
        for i in range(len(self._modules), index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def pop(self, key):
        v = self[key]
        del self[key]
        return v

    def extend(self, modules):
        offset = len(self)
        for i, module in enumerate(modules):
            self.add_module(str(offset + i), module)
        return self


class ModuleDict(Module):
    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.keys()))

    def __contains__(self, key):
        return key in self._modules

    def clear(self):
        self._modules.clear()

    def pop(self, key):
        v = self[key]
        del self[key]
        return v

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def update(self, modules):
        if isinstance(modules, (dict, ModuleDict)):
            for key, module in modules.items():
                self[key] = module
        else:
            for key, module in modules:
                self[key] = module


class ParameterList(Module):
    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList([self[i] for i in range(len(self))[idx]])
        if idx < 0:
            idx += len(self)
        return getattr(self, str(idx))

    def __setitem__(self, idx, param):
        if idx < 0:
            idx += len(self)
        if isinstance(param, Tensor) and not isinstance(param, Parameter):
            param = Parameter(param)
        return setattr(self, str(idx), param)

    def __len__(self):
        return self._size

    def __iter__(self):
        return iter([self[i] for i in range(len(self))])

    def __iadd__(self, parameters):
        return self.extend(parameters)

    def append(self, value):
        new_idx = len(self)
        self._size += 1
        self[new_idx] = value
        return self

    def extend(self, values):
        for value in values:
            self.append(value)
        return self


class ParameterDict(Module):
    def __init__(self, parameters=None):
        super().__init__()
        self._keys = {}
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        return getattr(self, key)

    def __setitem__(self, key, value):
        self._keys[key] = None
        if isinstance(value, Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        setattr(self, key, value)

    def __len__(self):
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __contains__(self, key):
        return key in self._keys

    def keys(self):
        return self._keys.keys()

    def items(self):
        return [(k, self[k]) for k in self._keys]

    def values(self):
        return [self[k] for k in self._keys]

    def update(self, parameters):
        items = parameters.items() if hasattr(parameters, "items") else parameters
        for key, value in items:
            self[key] = value


def _ntuple(n, name="parse"):
    def parse(x):
        if isinstance(x, (list, tuple)):
            return tuple(x)
        return tuple([x] * n)
    return parse

_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
_quadruple = _ntuple(4, "_quadruple")


class Identity(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(torch.empty((out_features, in_features)))
        if bias:
            self.bias = Parameter(torch.empty(out_features))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class NonDynamicallyQuantizableLinear(Linear):
    pass


class LazyLinear(Linear):
    def __init__(self, out_features, bias=True, device=None, dtype=None):
        raise NotImplementedError("nn.LazyLinear infers its input size from data; fork mode does not support lazy modules")


class Bilinear(Module):
    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = Parameter(torch.empty((out_features, in1_features, in2_features)))
        if bias:
            self.bias = Parameter(torch.empty(out_features))
        else:
            self.register_parameter("bias", None)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)


class _ConvNd(Module):
    __constants__ = ["stride", "padding", "dilation", "groups", "padding_mode", "output_padding", "in_channels", "out_channels", "kernel_size"]

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, transposed, output_padding, groups, bias, padding_mode, device=None, dtype=None):
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        valid_padding_strings = {"same", "valid"}
        if isinstance(padding, str):
            if padding not in valid_padding_strings:
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {valid_padding_strings}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        valid_padding_modes = {"zeros", "reflect", "replicate", "circular"}
        if padding_mode not in valid_padding_modes:
            raise ValueError(f"padding_mode must be one of {valid_padding_modes}, but got padding_mode='{padding_mode}'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = transposed
        self.output_padding = output_padding
        self.groups = groups
        self.padding_mode = padding_mode
        if isinstance(self.padding, str):
            self._reversed_padding_repeated_twice = [0, 0] * len(kernel_size)
        else:
            self._reversed_padding_repeated_twice = [p for p in reversed(self.padding) for _ in range(2)]
        if transposed:
            self.weight = Parameter(torch.empty((in_channels, out_channels // groups, *kernel_size)))
        else:
            self.weight = Parameter(torch.empty((out_channels, in_channels // groups, *kernel_size)))
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def extra_repr(self):
        s = "{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}"
        return s.format(in_channels=self.in_channels, out_channels=self.out_channels, kernel_size=self.kernel_size, stride=self.stride)


class Conv1d(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, _single(kernel_size), _single(stride), padding if isinstance(padding, str) else _single(padding), _single(dilation), False, _single(0), groups, bias, padding_mode)

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":
            return F.conv1d(F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode), weight, bias, self.stride, 0, self.dilation, self.groups)
        return F.conv1d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)


class Conv2d(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, _pair(kernel_size), _pair(stride), padding if isinstance(padding, str) else _pair(padding), _pair(dilation), False, _pair(0), groups, bias, padding_mode)

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":
            return F.conv2d(F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode), weight, bias, self.stride, _pair(0), self.dilation, self.groups)
        return F.conv2d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)


class Conv3d(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, _triple(kernel_size), _triple(stride), padding if isinstance(padding, str) else _triple(padding), _triple(dilation), False, _triple(0), groups, bias, padding_mode)

    def _conv_forward(self, input, weight, bias):
        return F.conv3d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)


class _ConvTransposeNd(_ConvNd):
    pass


class ConvTranspose1d(_ConvTransposeNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, _single(kernel_size), _single(stride), _single(padding), _single(dilation), True, _single(output_padding), groups, bias, padding_mode)

    def forward(self, input, output_size=None):
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding, self.output_padding, self.groups, self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, _pair(kernel_size), _pair(stride), _pair(padding), _pair(dilation), True, _pair(output_padding), groups, bias, padding_mode)

    def forward(self, input, output_size=None):
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, self.output_padding, self.groups, self.dilation)


class ConvTranspose3d(_ConvTransposeNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, _triple(kernel_size), _triple(stride), _triple(padding), _triple(dilation), True, _triple(output_padding), groups, bias, padding_mode)

    def forward(self, input, output_size=None):
        return F.conv_transpose3d(input, self.weight, self.bias, self.stride, self.padding, self.output_padding, self.groups, self.dilation)


class _NormBase(Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None, dtype=None):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if self.affine:
            self.weight = Parameter(torch.empty(num_features))
            self.bias = Parameter(torch.empty(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        pass

    def reset_parameters(self):
        pass

    def _check_input_dim(self, input):
        pass

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, track_running_stats={self.track_running_stats}"


class _BatchNorm(_NormBase):
    def forward(self, input):
        self._check_input_dim(input)
        return F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias, self.training, self.momentum, self.eps)


class BatchNorm1d(_BatchNorm):
    def _check_input_dim(self, input):
        if input.dim() != 2 and input.dim() != 3:
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")
        if input.shape[1] != self.num_features:
            raise RuntimeError(f"running_mean should contain {input.shape[1]} elements not {self.num_features}")


class BatchNorm2d(_BatchNorm):
    def _check_input_dim(self, input):
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")
        if input.shape[1] != self.num_features:
            raise RuntimeError(f"running_mean should contain {input.shape[1]} elements not {self.num_features}")


class BatchNorm3d(_BatchNorm):
    def _check_input_dim(self, input):
        if input.dim() != 5:
            raise ValueError(f"expected 5D input (got {input.dim()}D input)")


class SyncBatchNorm(_BatchNorm):
    pass


class _InstanceNorm(_NormBase):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def forward(self, input):
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                               self.training or not self.track_running_stats, self.momentum, self.eps)


class InstanceNorm1d(_InstanceNorm):
    pass


class InstanceNorm2d(_InstanceNorm):
    pass


class InstanceNorm3d(_InstanceNorm):
    pass


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if self.elementwise_affine:
            self.weight = Parameter(torch.empty(self.normalized_shape))
            if bias:
                self.bias = Parameter(torch.empty(self.normalized_shape))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        n = len(self.normalized_shape)
        if tuple(input.shape[-n:]) != self.normalized_shape:
            raise RuntimeError(f"Given normalized_shape={list(self.normalized_shape)}, expected input with shape [*, {', '.join(str(s) for s in self.normalized_shape)}], but got input of size{list(input.shape)}")
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class RMSNorm(Module):
    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(torch.empty(self.normalized_shape))
        else:
            self.register_parameter("weight", None)

    def forward(self, input):
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)


class GroupNorm(Module):
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if self.affine:
            self.weight = Parameter(torch.empty(num_channels))
            self.bias = Parameter(torch.empty(num_channels))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        if input.shape[1] != self.num_channels:
            raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input of shape {list(input.shape)} and num_groups={self.num_groups}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)


class LocalResponseNorm(Module):
    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.weight = Parameter(torch.empty((num_embeddings, embedding_dim))) if _weight is None else Parameter(_weight)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)


class _DropoutNd(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    pass


class Dropout1d(_DropoutNd):
    pass


class Dropout2d(_DropoutNd):
    pass


class Dropout3d(_DropoutNd):
    pass


class AlphaDropout(_DropoutNd):
    pass


def _activation(name, function, *defaults):
    names = [d[0] for d in defaults]

    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        values = dict(defaults)
        for key, value in zip(names, args):
            values[key] = value
        values.update(kwargs)
        for key, value in values.items():
            setattr(self, key, value)

    def forward(self, input):
        return function(self, input)

    return type(name, (Module,), {"__init__": __init__, "forward": forward, "__module__": "torch.nn.modules.activation"})


ReLU = _activation("ReLU", lambda self, x: F.relu(x, inplace=self.inplace), ("inplace", False))
ReLU6 = _activation("ReLU6", lambda self, x: F.relu6(x, inplace=self.inplace), ("inplace", False))
LeakyReLU = _activation("LeakyReLU", lambda self, x: F.leaky_relu(x, self.negative_slope, inplace=self.inplace), ("negative_slope", 0.01), ("inplace", False))
SiLU = _activation("SiLU", lambda self, x: F.silu(x, inplace=self.inplace), ("inplace", False))
GELU = _activation("GELU", lambda self, x: F.gelu(x), ("approximate", "none"))
Sigmoid = _activation("Sigmoid", lambda self, x: torch.sigmoid(x))
Tanh = _activation("Tanh", lambda self, x: torch.tanh(x))
Hardswish = _activation("Hardswish", lambda self, x: F.hardswish(x, inplace=self.inplace), ("inplace", False))
Hardsigmoid = _activation("Hardsigmoid", lambda self, x: F.hardsigmoid(x, inplace=self.inplace), ("inplace", False))
Mish = _activation("Mish", lambda self, x: F.mish(x, inplace=self.inplace), ("inplace", False))
ELU = _activation("ELU", lambda self, x: F.elu(x, inplace=self.inplace), ("alpha", 1.0), ("inplace", False))
CELU = _activation("CELU", lambda self, x: F.celu(x, inplace=self.inplace), ("alpha", 1.0), ("inplace", False))
SELU = _activation("SELU", lambda self, x: F.selu(x, inplace=self.inplace), ("inplace", False))
GLU = _activation("GLU", lambda self, x: F.glu(x, self.dim), ("dim", -1))
Softplus = _activation("Softplus", lambda self, x: F.softplus(x), ("beta", 1.0), ("threshold", 20.0))
Softsign = _activation("Softsign", lambda self, x: F.softsign(x))
Hardtanh = _activation("Hardtanh", lambda self, x: F.hardtanh(x, self.min_val, self.max_val, inplace=self.inplace), ("min_val", -1.0), ("max_val", 1.0), ("inplace", False))
LogSigmoid = _activation("LogSigmoid", lambda self, x: F.logsigmoid(x))
Tanhshrink = _activation("Tanhshrink", lambda self, x: F.tanhshrink(x))
Hardshrink = _activation("Hardshrink", lambda self, x: F.hardshrink(x), ("lambd", 0.5))
Softshrink = _activation("Softshrink", lambda self, x: F.softshrink(x), ("lambd", 0.5))
Threshold = _activation("Threshold", lambda self, x: F.threshold(x, self.threshold, self.value), ("threshold", 0.0), ("value", 0.0), ("inplace", False))
Softmax = _activation("Softmax", lambda self, x: F.softmax(x, self.dim), ("dim", None))
Softmin = _activation("Softmin", lambda self, x: F.softmin(x, self.dim), ("dim", None))
LogSoftmax = _activation("LogSoftmax", lambda self, x: F.log_softmax(x, self.dim), ("dim", None))
Softmax2d = _activation("Softmax2d", lambda self, x: F.softmax(x, -3))
ChannelShuffle = _activation("ChannelShuffle", lambda self, x: F.channel_shuffle(x, self.groups), ("groups", 1))
PixelShuffle = _activation("PixelShuffle", lambda self, x: F.pixel_shuffle(x, self.upscale_factor), ("upscale_factor", 1))
PixelUnshuffle = _activation("PixelUnshuffle", lambda self, x: F.pixel_unshuffle(x, self.downscale_factor), ("downscale_factor", 1))
Flatten = _activation("Flatten", lambda self, x: x.flatten(self.start_dim, self.end_dim), ("start_dim", 1), ("end_dim", -1))
Unflatten = _activation("Unflatten", lambda self, x: x.unflatten(self.dim, self.unflattened_size), ("dim", 0), ("unflattened_size", None))


class PReLU(Module):
    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(torch.empty(num_parameters).fill_(init))

    def forward(self, input):
        return F.prelu(input, self.weight)


class _MaxPoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode


class MaxPool1d(_MaxPoolNd):
    def forward(self, input):
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation, ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class MaxPool2d(_MaxPoolNd):
    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class MaxPool3d(_MaxPoolNd):
    def forward(self, input):
        return F.max_pool3d(input, self.kernel_size, self.stride, self.padding, self.dilation, ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class _AvgPoolNd(Module):
    pass


class _MaxUnpoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def forward(self, input, indices, output_size=None):
        n = self._dims
        if n == 2:
            return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding, output_size)
        k, s, p = _ntuple(n)(self.kernel_size), _ntuple(n)(self.stride), _ntuple(n)(self.padding)
        if output_size is not None:
            size = list(output_size)[-n:]
        else:
            size = [(input.shape[-n + i] - 1) * s[i] - 2 * p[i] + k[i] for i in range(n)]
        return torch.empty(*input.shape[:-n], *size)


class MaxUnpool1d(_MaxUnpoolNd):
    _dims = 1


class MaxUnpool2d(_MaxUnpoolNd):
    _dims = 2


class MaxUnpool3d(_MaxUnpoolNd):
    _dims = 3


class AvgPool1d(_AvgPoolNd):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class AvgPool2d(_AvgPoolNd):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad, self.divisor_override)


class AvgPool3d(_AvgPoolNd):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input):
        return F.avg_pool3d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class _AdaptivePool(Module):
    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices


class AdaptiveAvgPool1d(_AdaptivePool):
    def forward(self, input):
        return F.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveAvgPool2d(_AdaptivePool):
    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)


class AdaptiveAvgPool3d(_AdaptivePool):
    def forward(self, input):
        return F.adaptive_avg_pool3d(input, self.output_size)


class AdaptiveMaxPool1d(_AdaptivePool):
    def forward(self, input):
        return F.adaptive_max_pool1d(input, self.output_size)


class AdaptiveMaxPool2d(_AdaptivePool):
    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size)


class AdaptiveMaxPool3d(_AdaptivePool):
    def forward(self, input):
        return F.adaptive_max_pool3d(input, self.output_size)


class Upsample(Module):
    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) and not isinstance(scale_factor, bool) else scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self):
        return f"scale_factor={self.scale_factor}, mode='{self.mode}'" if self.scale_factor is not None else f"size={self.size}, mode='{self.mode}'"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class _PadNd(Module):
    def __init__(self, padding, value=0.0):
        super().__init__()
        self.padding = padding
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)


def _pad_class(name, n):
    def __init__(self, padding, value=0.0):
        _PadNd.__init__(self, padding if isinstance(padding, (tuple, list)) else (padding,) * (2 * n), value)
    return type(name, (_PadNd,), {"__init__": __init__})


ZeroPad1d = _pad_class("ZeroPad1d", 1)
ZeroPad2d = _pad_class("ZeroPad2d", 2)
ZeroPad3d = _pad_class("ZeroPad3d", 3)
ConstantPad1d = _pad_class("ConstantPad1d", 1)
ConstantPad2d = _pad_class("ConstantPad2d", 2)
ConstantPad3d = _pad_class("ConstantPad3d", 3)
ReflectionPad1d = _pad_class("ReflectionPad1d", 1)
ReflectionPad2d = _pad_class("ReflectionPad2d", 2)
ReplicationPad1d = _pad_class("ReplicationPad1d", 1)
ReplicationPad2d = _pad_class("ReplicationPad2d", 2)
CircularPad2d = _pad_class("CircularPad2d", 2)


class Unfold(Module):
    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input):
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)


class Fold(Module):
    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input):
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)


class MultiheadAttention(Module):
    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and num_heads={num_heads} instead")
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != self.embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(torch.empty((embed_dim, embed_dim)))
            self.k_proj_weight = Parameter(torch.empty((embed_dim, self.kdim)))
            self.v_proj_weight = Parameter(torch.empty((embed_dim, self.vdim)))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(torch.empty((3 * embed_dim, embed_dim)))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(torch.empty(3 * embed_dim))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias)
        if add_bias_kv:
            self.bias_k = Parameter(torch.empty((1, 1, embed_dim)))
            self.bias_v = Parameter(torch.empty((1, 1, embed_dim)))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None, average_attn_weights=True, is_causal=False):
        if self.batch_first:
            query = query.transpose(0, 1)
            key = key.transpose(0, 1)
        length, batch, embed = query.shape
        source = key.shape[0]
        if torch._modelgraph_tracing():
            return self._attend(query, key, value if not self.batch_first else value.transpose(0, 1), key_padding_mask, need_weights, attn_mask, average_attn_weights)
        torch._modelgraph_count(length * batch * embed * embed + 2 * source * batch * embed * self.kdim)
        torch._modelgraph_count(2 * batch * length * source * embed + length * batch * embed * embed)
        out = torch.empty(length, batch, embed)
        if self.batch_first:
            out = out.transpose(0, 1)
        weights = torch.empty(batch, length, source) if need_weights else None
        return out, weights


    def _attend(self, query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights):
        # PyTorch's multi_head_attention_forward in eval mode, written out (a traced forward's values)
        if key_padding_mask is not None or attn_mask is not None or self.bias_k is not None or self.add_zero_attn:
            raise NotImplementedError("fork mode traces MultiheadAttention without masks, bias_k/bias_v or add_zero_attn")
        length, batch, embed = query.shape
        source = key.shape[0]
        heads, head_dim = self.num_heads, self.head_dim
        if self._qkv_same_embed_dim:
            w_q, w_k, w_v = self.in_proj_weight[:embed], self.in_proj_weight[embed:2 * embed], self.in_proj_weight[2 * embed:]
        else:
            w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        b_q = b_k = b_v = None
        if self.in_proj_bias is not None:
            b_q, b_k, b_v = self.in_proj_bias[:embed], self.in_proj_bias[embed:2 * embed], self.in_proj_bias[2 * embed:]
        q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)

        def tokens(x, count):  # [count, B, E] as batch-first tokens (a view when B is 1)
            return x.reshape(1, count, embed) if batch == 1 else x.transpose(0, 1)
        # the attention itself as one composite (the planner's fused kernel), as built-in MHA records it
        mixed = torch._modelgraph_attention(tokens(q, length), tokens(k, source), tokens(v, source), heads)
        out = mixed.reshape(length, 1, embed) if batch == 1 else mixed.transpose(0, 1)
        out = self.out_proj(out.reshape(length * batch, embed)).reshape(length, batch, embed)
        if self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        # the weights, when asked for (a caller that drops them leaves these steps unread: they do not run)
        q = q.reshape(length, batch * heads, head_dim).transpose(0, 1)
        k = k.reshape(source, batch * heads, head_dim).transpose(0, 1)
        weights = torch.softmax((q * (head_dim ** -0.5)) @ k.transpose(-2, -1), dim=-1)
        weights = weights.reshape(batch, heads, length, source)
        return out, (weights.mean(dim=1) if average_attn_weights else weights)


class TransformerEncoderLayer(Module):
    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu, layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if isinstance(activation, str):
            activation = F.relu if activation == "relu" else F.gelu
        self.activation = activation

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        x = self.norm1(x + self.dropout1(self.self_attn(x, x, x, need_weights=False)[0]))
        x = self.norm2(x + self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x))))))
        return x


class TransformerEncoder(Module):
    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        import copy
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        output = src
        for mod in self.layers:
            output = mod(output)
        if self.norm is not None:
            output = self.norm(output)
        return output


class CrossEntropyLoss(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()


class BCEWithLogitsLoss(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()


class MSELoss(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()


class L1Loss(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()


class SmoothL1Loss(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()


class BCELoss(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()


def _unsupported_module(name):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(f"torch.nn.{name} is not supported in fork mode")
    return type(name, (Module,), {"__init__": __init__})


LSTM = _unsupported_module("LSTM")
GRU = _unsupported_module("GRU")
RNN = _unsupported_module("RNN")
Transformer = _unsupported_module("Transformer")
TransformerDecoderLayer = _unsupported_module("TransformerDecoderLayer")

from torch.nn import modules
from torch.nn import utils
"""#

    /// Submodule paths model code imports names from; each re-exports torch.nn's definitions.
    static let aliases: [String: String] = [
        "torch.nn.modules": "from torch.nn import *\nfrom torch.nn import _ConvNd, _NormBase, _BatchNorm, _InstanceNorm, _MaxPoolNd, _AvgPoolNd, _DropoutNd, _ConvTransposeNd\nfrom torch.nn.modules import conv, batchnorm, utils, activation, container, linear, module, pooling, normalization, dropout, padding, upsampling, transformer, pixelshuffle, flatten, instancenorm\n",
        "torch.nn.modules.conv": "from torch.nn import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, _ConvNd, _ConvTransposeNd\nfrom torch.nn import _single, _pair, _triple\n",
        "torch.nn.modules.batchnorm": "from torch.nn import BatchNorm1d, BatchNorm2d, BatchNorm3d, SyncBatchNorm, _NormBase, _BatchNorm\n",
        "torch.nn.modules.instancenorm": "from torch.nn import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, _InstanceNorm\n",
        "torch.nn.modules.normalization": "from torch.nn import LayerNorm, GroupNorm, LocalResponseNorm, RMSNorm\n",
        "torch.nn.modules.utils": "from torch.nn import _single, _pair, _triple, _quadruple, _ntuple\n",
        "torch.nn.modules.activation": "from torch.nn import *\n",
        "torch.nn.modules.container": "from torch.nn import Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict\n",
        "torch.nn.modules.linear": "from torch.nn import Linear, Identity, Bilinear, NonDynamicallyQuantizableLinear\n",
        "torch.nn.modules.module": "from torch.nn import Module\n",
        "torch.nn.modules.pooling": "from torch.nn import MaxPool1d, MaxPool2d, MaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d, AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, _MaxPoolNd, _AvgPoolNd\n",
        "torch.nn.modules.dropout": "from torch.nn import Dropout, Dropout1d, Dropout2d, Dropout3d, _DropoutNd\n",
        "torch.nn.modules.padding": "from torch.nn import ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d, _PadNd\n",
        "torch.nn.modules.upsampling": "from torch.nn import Upsample, UpsamplingNearest2d, UpsamplingBilinear2d\n",
        "torch.nn.modules.transformer": "from torch.nn import TransformerEncoderLayer, TransformerEncoder, MultiheadAttention\n",
        "torch.nn.modules.pixelshuffle": "from torch.nn import PixelShuffle, PixelUnshuffle\n",
        "torch.nn.modules.flatten": "from torch.nn import Flatten, Unflatten\n",
        "torch.nn.utils": "def fuse_conv_bn_eval(conv, bn, transpose=False):\n    return conv\ndef clip_grad_norm_(*args, **kwargs):\n    return 0.0\nclass _WeightNorm:\n    pass\ndef weight_norm(module, name='weight', dim=0):\n    return module\ndef spectral_norm(module, *args, **kwargs):\n    return module\ndef remove_weight_norm(module, name='weight'):\n    return module\nfrom torch.nn.utils import parametrizations\n",
        "torch.nn.utils.parametrizations": "def weight_norm(module, name='weight', dim=0):\n    return module\ndef spectral_norm(module, *args, **kwargs):\n    return module\n",
        "torch.nn.common_types": "_size_2_t = int\n_size_any_t = int\n",
        "torch.autograd": #"""
class _Context:
    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors
    def mark_non_differentiable(self, *args):
        pass
    def set_materialize_grads(self, value):
        pass
class Function:
    @classmethod
    def apply(cls, *args, **kwargs):
        return cls.forward(_Context(), *args, **kwargs)
class _FunctionModule:
    Function = Function
    def once_differentiable(self, f):
        return f
function = _FunctionModule()
def grad(*args, **kwargs):
    raise NotImplementedError("torch.autograd.grad is not part of fork mode")
class Variable:
    pass
"""#,
        "torch.autograd.function": "from torch.autograd import Function\ndef once_differentiable(f):\n    return f\n",
        "torch.utils": "from torch.utils import checkpoint\n",
        "torch.utils.checkpoint": "def checkpoint(function, *args, use_reentrant=None, **kwargs):\n    return function(*args, **kwargs)\ndef checkpoint_sequential(functions, segments, input, **kwargs):\n    for f in functions:\n        input = f(input)\n    return input\n",
        "torch.jit": "def script(obj=None, *args, **kwargs):\n    return obj\ndef trace(f, *args, **kwargs):\n    return f\ndef ignore(f=None, drop=False):\n    return f if f is not None else (lambda g: g)\ndef unused(f):\n    return f\ndef is_scripting():\n    return False\ndef is_tracing():\n    return False\ndef export(f):\n    return f\nFinal = None\n",
        "torch.onnx": "def is_in_onnx_export():\n    return False\n",
        "torch.fx": "def wrap(f):\n    return f\n",
        "torch.cuda": "def is_available():\n    return False\ndef get_rng_state(*args):\n    return None\ndef set_rng_state(*args):\n    pass\ndef device_count():\n    return 0\ndef synchronize(*args):\n    pass\ndef empty_cache():\n    pass\ndef current_device():\n    return 0\ndef manual_seed(seed):\n    pass\ndef manual_seed_all(seed):\n    pass\ndef get_device_name(*args):\n    return 'cpu'\nclass _Amp:\n    class autocast:\n        def __init__(self, *args, **kwargs):\n            pass\n        def __enter__(self):\n            return self\n        def __exit__(self, *args):\n            return False\n        def __call__(self, f):\n            return f\n    def custom_fwd(self, f=None, **kwargs):\n        return f if f is not None else (lambda g: g)\n    def custom_bwd(self, f=None, **kwargs):\n        return f if f is not None else (lambda g: g)\namp = _Amp()\n",
        "torch.cuda.amp": "from torch.cuda import amp as _amp\nautocast = _amp.autocast\ncustom_fwd = _amp.custom_fwd\ncustom_bwd = _amp.custom_bwd\nclass GradScaler:\n    def __init__(self, *args, **kwargs):\n        pass\n",
        "torch.amp": "from torch.cuda.amp import autocast, custom_fwd, custom_bwd\n",
        "torch.backends": "class _Flags:\n    enabled = False\n    benchmark = False\n    deterministic = False\n    allow_tf32 = False\n    def is_available(self):\n        return False\ncudnn = _Flags()\nmps = _Flags()\nmkldnn = _Flags()\nopenmp = _Flags()\n",
        "torch.backends.cudnn": "enabled = False\nbenchmark = False\ndeterministic = False\n",
        "torch.distributed": "def is_available():\n    return False\ndef is_initialized():\n    return False\ndef get_rank():\n    return 0\ndef get_world_size():\n    return 1\ndef barrier(*args, **kwargs):\n    pass\n",
        "torch.random": "def manual_seed(seed):\n    pass\ndef fork_rng(*args, **kwargs):\n    from contextlib import nullcontext\n    return nullcontext()\n",
        "torch.nn.parameter": "from torch import Parameter\nclass UninitializedParameter(Parameter):\n    pass\n",
        "torch.types": "_int = int\n_float = float\n_bool = bool\n",
    ]
}
