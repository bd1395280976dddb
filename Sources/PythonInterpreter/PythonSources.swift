/// Standard-library modules written in ModelGraph's own Python and run by its interpreter:
/// glue whose behaviour model code relies on only loosely (decorators, containers, logging).
enum PythonSources {
    static let modules: [String: String] = [
        "itertools": #"""
class _Chain:
    def __call__(self, *iterables):
        out = []
        for iterable in iterables:
            out.extend(iterable)
        return iter(out)
    def from_iterable(self, iterables):
        return self(*iterables)
chain = _Chain()
"""#,
        // pure path arithmetic; the filesystem is not consulted (exists() is False), reading goes through open()
        "pathlib": #"""
class PurePath:
    def __init__(self, *parts):
        text = "/".join(str(p) for p in parts if str(p) != "")
        while "//" in text:
            text = text.replace("//", "/")
        if len(text) > 1 and text.endswith("/"):
            text = text[:-1]
        self._text = text or "."
    def __str__(self):
        return self._text
    def __repr__(self):
        return f"PosixPath('{self._text}')"
    def __fspath__(self):
        return self._text
    def __truediv__(self, other):
        other = str(other)
        return type(self)(other if other.startswith("/") else self._text + "/" + other)
    def __rtruediv__(self, other):
        return type(self)(str(other) + "/" + self._text)
    def __eq__(self, other):
        return str(self) == str(other)
    def __hash__(self):
        return hash(self._text)
    @property
    def name(self):
        return self._text.rsplit("/", 1)[-1] if self._text not in ("/", ".") else ""
    @property
    def suffix(self):
        name = self.name
        i = name.rfind(".")
        return name[i:] if 0 < i < len(name) - 1 else ""
    @property
    def suffixes(self):
        name = self.name.lstrip(".")
        return ["." + s for s in name.split(".")[1:]]
    @property
    def stem(self):
        name, suffix = self.name, self.suffix
        return name[: len(name) - len(suffix)] if suffix else name
    @property
    def parent(self):
        if "/" not in self._text:
            return type(self)(".")
        head = self._text.rsplit("/", 1)[0]
        return type(self)(head or "/")
    @property
    def parents(self):
        out, p = [], self.parent
        while str(p) not in (".", "/") and len(out) < 64:
            out.append(p)
            p = p.parent
        out.append(p)
        return out
    @property
    def parts(self):
        return tuple(x for x in self._text.split("/") if x)
    def with_suffix(self, suffix):
        return self.parent / (self.stem + suffix) if "/" in self._text else type(self)(self.stem + suffix)
    def with_name(self, name):
        return self.parent / name if "/" in self._text else type(self)(name)
    def as_posix(self):
        return self._text
    def is_absolute(self):
        return self._text.startswith("/")
    def joinpath(self, *others):
        p = self
        for o in others:
            p = p / o
        return p
    def relative_to(self, other):
        other = str(other).rstrip("/") + "/"
        if not self._text.startswith(other):
            raise ValueError(f"{self._text!r} is not in the subpath of {other!r}")
        return type(self)(self._text[len(other):])
    def match(self, pattern):
        return self.name == pattern
class Path(PurePath):
    def resolve(self, strict=False):
        return self
    def absolute(self):
        return self
    def expanduser(self):
        return self
    def exists(self):
        return False
    def is_file(self):
        return False
    def is_dir(self):
        return False
    def read_text(self, encoding=None, errors=None):
        with open(self._text) as f:
            return f.read()
    def mkdir(self, *args, **kwargs):
        raise OSError("fork mode writes nothing")
    def glob(self, pattern):
        return []
    def rglob(self, pattern):
        return []
    @classmethod
    def cwd(cls):
        return cls(".")
    @classmethod
    def home(cls):
        return cls(".")
PosixPath = Path
WindowsPath = Path
PurePosixPath = PurePath
"""#,
        // locks without threads: fork mode runs one thread, so a lock is a no-op context manager
        "threading": #"""
class Lock:
    def acquire(self, blocking=True, timeout=-1):
        return True
    def release(self):
        pass
    def locked(self):
        return False
    def __enter__(self):
        return True
    def __exit__(self, *args):
        return False
RLock = Lock
Semaphore = Lock
BoundedSemaphore = Lock
class Event:
    def __init__(self):
        self._set = False
    def set(self):
        self._set = True
    def is_set(self):
        return self._set
    def clear(self):
        self._set = False
    def wait(self, timeout=None):
        return self._set
class local:
    pass
class Thread:
    def __init__(self, *args, **kwargs):
        pass
    def start(self):
        raise RuntimeError("threads are not available to model code in fork mode")
def current_thread():
    return None
def main_thread():
    return None
def get_ident():
    return 1
"""#,
        "__future__": "annotations = division = print_function = absolute_import = generators = nested_scopes = with_statement = unicode_literals = generator_stop = barry_as_FLUFL = None\nall_feature_names = ['nested_scopes', 'generators', 'division', 'absolute_import', 'with_statement', 'print_function', 'unicode_literals', 'barry_as_FLUFL', 'generator_stop', 'annotations']\n",
        "functools": #"""
def reduce(function, iterable, *initial):
    items = list(iterable)
    if initial:
        value = initial[0]
    elif items:
        value = items.pop(0)
    else:
        raise TypeError("reduce() of empty iterable with no initial value")
    for item in items:
        value = function(value, item)
    return value

class partial:
    def __init__(self, func, *args, **keywords):
        self.func = func
        self.args = args
        self.keywords = keywords

    def __call__(self, *args, **keywords):
        merged = dict(self.keywords)
        merged.update(keywords)
        return self.func(*self.args, *args, **merged)

def wraps(wrapped, assigned=None, updated=None):
    def decorator(wrapper):
        wrapper.__wrapped__ = wrapped
        return wrapper
    return decorator

def update_wrapper(wrapper, wrapped, assigned=None, updated=None):
    wrapper.__wrapped__ = wrapped
    return wrapper

def lru_cache(maxsize=128, typed=False):
    if callable(maxsize):
        return maxsize
    return lambda function: function

def cache(function):
    return function

cached_property = property

def total_ordering(cls):
    return cls

def cmp_to_key(mycmp):
    class K:
        def __init__(self, obj):
            self.obj = obj
        def __lt__(self, other):
            return mycmp(self.obj, other.obj) < 0
        def __gt__(self, other):
            return mycmp(self.obj, other.obj) > 0
        def __eq__(self, other):
            return mycmp(self.obj, other.obj) == 0
    return K
"""#,
        "collections": #"""
from collections import abc

class OrderedDict(dict):
    def move_to_end(self, key, last=True):
        value = self.pop(key)
        if last:
            self[key] = value
        else:
            items = list(self.items())
            self.clear()
            self[key] = value
            for k, v in items:
                self[k] = v

class defaultdict(dict):
    def __init__(self, default_factory=None, *args, **kwargs):
        dict.__init__(self, *args, **kwargs)
        self.default_factory = default_factory

    def __getitem__(self, key):
        if key in self:
            return dict.__getitem__(self, key)
        if self.default_factory is None:
            raise KeyError(key)
        value = self.default_factory()
        dict.__setitem__(self, key, value)
        return value

class Counter(dict):
    def __init__(self, iterable=None, **kwargs):
        dict.__init__(self)
        if iterable is not None:
            for item in iterable:
                self[item] = self.get(item, 0) + 1
        for k, v in kwargs.items():
            self[k] = v

    def most_common(self, n=None):
        items = sorted(self.items(), key=lambda kv: kv[1], reverse=True)
        return items if n is None else items[:n]

class deque(list):
    def __init__(self, iterable=(), maxlen=None):
        list.__init__(self, iterable)
        self.maxlen = maxlen

    def appendleft(self, value):
        self.insert(0, value)

    def popleft(self):
        return self.pop(0)

def namedtuple(typename, field_names, defaults=None, rename=False, module=None):
    if isinstance(field_names, str):
        field_names = field_names.replace(",", " ").split()
    fields = tuple(field_names)
    defaults = tuple(defaults) if defaults else ()

    class _Tuple:
        _fields = fields
        def __init__(self, *args, **kwargs):
            values = list(args)
            missing = fields[len(values):]
            first_default = len(fields) - len(defaults)
            for i, name in enumerate(missing):
                index = len(args) + i
                if name in kwargs:
                    values.append(kwargs[name])
                elif index >= first_default:
                    values.append(defaults[index - first_default])
                else:
                    raise TypeError(f"{typename}() missing required argument: '{name}'")
            self._values = tuple(values)
            for name, value in zip(fields, values):
                object.__setattr__(self, name, value)
        def __getitem__(self, index):
            return self._values[index]
        def __iter__(self):
            return iter(self._values)
        def __len__(self):
            return len(self._values)
        def __eq__(self, other):
            return tuple(self) == tuple(other)
        def __repr__(self):
            return typename + "(" + ", ".join(f"{n}={v!r}" for n, v in zip(fields, self._values)) + ")"
        def _asdict(self):
            return dict(zip(fields, self._values))
        def _replace(self, **kwargs):
            d = self._asdict()
            d.update(kwargs)
            return _Tuple(**d)
    _Tuple.__name__ = typename
    return _Tuple
"""#,
        "collections.abc": #"""
Iterable = __modelgraph_abc__("Iterable")
Iterator = __modelgraph_abc__("Iterator")
Sequence = __modelgraph_abc__("Sequence")
MutableSequence = __modelgraph_abc__("MutableSequence")
Mapping = __modelgraph_abc__("Mapping")
MutableMapping = __modelgraph_abc__("MutableMapping")
Callable = __modelgraph_abc__("Callable")
Container = __modelgraph_abc__("Container")
Sized = __modelgraph_abc__("Sized")
Set = __modelgraph_abc__("Set")
Hashable = __modelgraph_abc__("Hashable")
Generator = __modelgraph_abc__("Generator")
"""#,
        "typing": #"""
from collections.abc import Iterable, Iterator, Sequence, Mapping, MutableMapping, Callable
TYPE_CHECKING = False
class Any: pass
class Union: pass
class Optional: pass
class List(list): pass
class Tuple(tuple): pass
class Dict(dict): pass
class Set(set): pass
class FrozenSet(frozenset): pass
class Type(type): pass
class Literal: pass
class ClassVar: pass
class Final: pass
class Generic: pass
class Protocol: pass
class NamedTuple: pass
class TypedDict(dict): pass
Text = str
AnyStr = str
NoReturn = None
def TypeVar(name, *constraints, **kwargs):
    return Any
def cast(type_, value):
    return value
def overload(function):
    return function
def no_type_check(function):
    return function
def final(x):
    return x
def get_type_hints(obj):
    return {}
"""#,
        "contextlib": #"""
class suppress:
    def __init__(self, *exceptions):
        self.exceptions = exceptions
    def __enter__(self):
        return None
    def __exit__(self, exc_type, exc, tb):
        return exc_type is not None and issubclass(exc_type, self.exceptions)

class nullcontext:
    def __init__(self, enter_result=None):
        self.enter_result = enter_result
    def __enter__(self):
        return self.enter_result
    def __exit__(self, *args):
        return False

class ContextDecorator:
    def __call__(self, function):
        def wrapper(*args, **kwargs):
            with self:
                return function(*args, **kwargs)
        return wrapper

class _GeneratorContext:
    # fork mode runs a generator to its end when called: the code after `yield` runs before
    # the with-block (model code uses such managers for timing and flags only)
    def __init__(self, items):
        self.items = list(items)
    def __enter__(self):
        return self.items[0] if self.items else None
    def __exit__(self, *args):
        return False
    def __call__(self, function):
        return function

def contextmanager(function):
    def helper(*args, **kwargs):
        return _GeneratorContext(function(*args, **kwargs))
    return helper

class ExitStack:
    def __enter__(self):
        return self
    def __exit__(self, *args):
        return False
    def enter_context(self, manager):
        return manager.__enter__()
    def callback(self, function, *args, **kwargs):
        return function
"""#,
        "logging": #"""
DEBUG = 10
INFO = 20
WARNING = 30
WARN = 30
ERROR = 40
CRITICAL = 50
class Handler:
    def __init__(self, *args, **kwargs):
        self.name = None
        self.level = 0
        self.formatter = None
    def setLevel(self, level):
        self.level = level
    def setFormatter(self, formatter):
        self.formatter = formatter
    def addFilter(self, f):
        pass
    def removeFilter(self, f):
        pass
    def set_name(self, name):
        self.name = name
    def get_name(self):
        return self.name
    def setStream(self, stream):
        return None
    def flush(self):
        pass
    def close(self):
        pass
    def emit(self, record):
        pass
    def handle(self, record):
        pass
    def format(self, record):
        return str(record)
class StreamHandler(Handler): pass
class FileHandler(Handler): pass
class Formatter:
    def __init__(self, *args, **kwargs):
        pass
    def format(self, record):
        return str(record)
class Filter:
    def __init__(self, *args, **kwargs):
        pass
class Logger:
    def __init__(self, name="root"):
        self.name = name
        self.level = 0
        self.handlers = []
        self.propagate = True
        self.disabled = False
    def setLevel(self, level):
        self.level = level
    def addHandler(self, handler):
        self.handlers.append(handler)
    def removeHandler(self, handler):
        pass
    def addFilter(self, f):
        pass
    def debug(self, *args, **kwargs):
        pass
    def info(self, msg, *args, **kwargs):
        print(msg)
    def warning(self, msg, *args, **kwargs):
        print(msg)
    warn = warning
    def error(self, msg, *args, **kwargs):
        print(msg)
    def exception(self, msg, *args, **kwargs):
        print(msg)
    def critical(self, msg, *args, **kwargs):
        print(msg)
    def isEnabledFor(self, level):
        return False
_loggers = {}
def getLogger(name="root"):
    if name not in _loggers:
        _loggers[name] = Logger(name)
    return _loggers[name]
def basicConfig(*args, **kwargs):
    pass
def disable(level=50):
    pass
class _Config:
    def dictConfig(self, config):
        pass
config = _Config()
"""#,
        "logging.config": "def dictConfig(config):\n    pass\n",
        "abc": #"""
class ABCMeta(type): pass
class ABC: pass
def abstractmethod(function):
    return function
abstractproperty = property
"""#,
        "enum": #"""
class Enum: pass
class IntEnum(int): pass
class Flag: pass
class IntFlag(int): pass
def auto():
    return 0
def unique(cls):
    return cls
"""#,
        "dataclasses": #"""
def dataclass(cls=None, **kwargs):
    if cls is None:
        return lambda c: c
    return cls
def field(*args, default=None, default_factory=None, **kwargs):
    if default_factory is not None:
        return default_factory()
    return default
def asdict(obj):
    return dict(obj.__dict__)
"""#,
        "numbers": #"""
Number = __modelgraph_abc__("Number")
Real = __modelgraph_abc__("Real")
Integral = __modelgraph_abc__("Integral")
"""#,
        "types": #"""
class SimpleNamespace:
    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self, k, v)
    def __repr__(self):
        return "namespace(" + ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items()) + ")"
    def __eq__(self, other):
        return isinstance(other, SimpleNamespace) and self.__dict__ == other.__dict__
FunctionType = type(lambda: None)
LambdaType = FunctionType
MethodType = type(SimpleNamespace().__repr__)
ModuleType = type(__modelgraph_abc__)
BuiltinFunctionType = type(len)
"""#,
        "operator": #"""
def itemgetter(*items):
    if len(items) == 1:
        item = items[0]
        return lambda obj: obj[item]
    return lambda obj: tuple(obj[i] for i in items)
def attrgetter(name):
    def get(obj):
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj
    return get
def add(a, b): return a + b
def sub(a, b): return a - b
def mul(a, b): return a * b
def truediv(a, b): return a / b
def floordiv(a, b): return a // b
def neg(a): return -a
def index(a): return a.__index__() if hasattr(a, "__index__") else int(a)
"""#,
        "inspect": #"""
def isclass(obj):
    return isinstance(obj, type)
def isfunction(obj):
    return type(obj).__name__ == "function"
def ismethod(obj):
    return type(obj).__name__ == "method"
def isgeneratorfunction(obj):
    return False
"""#,
        "time": #"""
def time():
    return 0.0
def perf_counter():
    return 0.0
def sleep(seconds):
    pass
def strftime(fmt, *args):
    return ""
"""#,
        "random": #"""
_state = [12345]
def random():
    _state[0] = (_state[0] * 1103515245 + 12345) % 2147483648
    return _state[0] / 2147483648
def seed(a=None):
    _state[0] = 12345 if a is None else int(a) % 2147483648
def randint(a, b):
    return a + int(random() * (b - a + 1))
def uniform(a, b):
    return a + (b - a) * random()
def choice(seq):
    return seq[int(random() * len(seq))]
def shuffle(x):
    pass
"""#,
        "platform": #"""
def system():
    return "Linux"
def machine():
    return "x86_64"
def python_version():
    return "3.11.7"
def platform():
    return "Linux"
def node():
    return "modelgraph"
def release():
    return ""
"""#,
    ]
}
