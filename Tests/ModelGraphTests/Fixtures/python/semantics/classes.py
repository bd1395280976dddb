# Classes: C3 MRO, super() with and without arguments, properties, class and static methods,
# __getattr__ fallback, __setattr__ override, dunder operators, class attributes, isinstance.
class Base:
    tag = "base"
    def __init__(self, x):
        self.x = x
    def describe(self):
        return f"{type(self).__name__}({self.x})"

class Left(Base):
    def describe(self):
        return "L<" + super().describe() + ">"

class Right(Base):
    tag = "right"
    def describe(self):
        return "R<" + super(Right, self).describe() + ">"

class Both(Left, Right):
    pass

b = Both(3)
print(b.describe(), Both.tag, [k.__name__ for k in Both.mro()])

class Lazy:
    def __init__(self):
        object.__setattr__(self, "store", {})
    def __getattr__(self, name):
        if name in self.store:
            return self.store[name]
        raise AttributeError(name)
    def __setattr__(self, name, value):
        self.store[name] = value * 2

z = Lazy()
z.a = 4
print(z.a, hasattr(z, "b"), getattr(z, "b", None), "a" in z.store)

class Vec:
    def __init__(self, *v):
        self.v = list(v)
    def __add__(self, other):
        return Vec(*[a + b for a, b in zip(self.v, other.v)])
    def __mul__(self, k):
        return Vec(*[a * k for a in self.v])
    __rmul__ = __mul__
    def __eq__(self, other):
        return isinstance(other, Vec) and self.v == other.v
    def __len__(self):
        return len(self.v)
    def __getitem__(self, i):
        return self.v[i]
    def __iter__(self):
        return iter(self.v)
    def __repr__(self):
        return f"Vec{tuple(self.v)}"
    def __contains__(self, x):
        return x in self.v
    def __bool__(self):
        return any(self.v)

u = Vec(1, 2) + Vec(3, 4)
print(u, 2 * u, u * 3, u == Vec(4, 6), len(u), u[-1], list(u), 6 in u, bool(Vec(0, 0)))

class Counter:
    count = 0
    def __init__(self):
        Counter.count += 1
        self.id = Counter.count
    @classmethod
    def made(cls):
        return cls.count
    @staticmethod
    def double(x):
        return 2 * x
    @property
    def label(self):
        return "#" + str(self.id)

a, c = Counter(), Counter()
print(Counter.made(), c.label, Counter.double(21), a.double(1), isinstance(a, Counter), issubclass(Both, Base))

class Meta(type):
    pass

def deco(cls):
    cls.decorated = True
    return cls

@deco
class Plain:
    """Docstring."""
    def method(self):
        return self.__class__.__name__

print(Plain.decorated, Plain().method(), Plain.__doc__, Plain.__name__, Plain.__qualname__)

class Outer:
    class Inner:
        def name(self):
            return type(self).__qualname__
print(Outer.Inner().name())

class Slots:
    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)
s = Slots(a=1, b="x")
print(vars(s), sorted(s.__dict__))
del s.a
print(hasattr(s, "a"))

try:
    class Bad(Left, Base, Right):
        pass
except TypeError as e:
    print("TypeError", "consistent method resolution" in str(e))
