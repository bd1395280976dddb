print(7 // 2, -7 // 2, 7 % -3, -7 % 3, 7.5 // 2, -7.5 % 2)
print(round(2.5), round(3.5), round(0.125, 2), round(2.675, 2), round(-0.5), round(1234, -2))
print(int(-3.9), int("0x1f", 16), int(" 42 "), 2 ** 10, 2 ** -1, 10 / 4)
print(1e16, 1e-5, 0.1 + 0.2, 1/3, 100.0, 1e22, 123456789.123)
class A:
    def f(self): return "A"
class B(A):
    def f(self): return "B" + super().f()
class C(A):
    def f(self): return "C" + super().f()
class D(B, C):
    def f(self): return "D" + super().f()
print(D().f(), [c.__name__ for c in D.__mro__])
def gen(n):
    for i in range(n):
        yield i * i
print(list(gen(5)), sum(x for x in range(10) if x % 2))
d = {"a": 1, "b": 2}
d["c"] = 3
del d["a"]
print(d, list(d.items()), {k: v * 2 for k, v in d.items()})
x = [1, 2, 3, 4, 5]
print(x[::-1], x[1:4:2], x[-2:], x[:-10])
a, *b, c = range(6)
print(a, b, c)
print(f"{3.14159:.2f} {42:>5} {'x'!r} {1234567:,} {0.5:.0%} {7:03d}", "%5.1f|%-4d|%s" % (2.345, 7, [1]))
try:
    raise ValueError("bad")
except (TypeError, ValueError) as e:
    print("caught", type(e).__name__, e, repr(e))
finally:
    print("finally")
def outer():
    n = 0
    def inc():
        nonlocal n
        n += 1
        return n
    inc(); inc()
    return n
print(outer())
class P:
    def __init__(self): self._v = 1
    @property
    def v(self): return self._v * 10
    @v.setter
    def v(self, x): self._v = x
    @staticmethod
    def s(a): return a + 1
    @classmethod
    def c(cls): return cls.__name__
p = P(); p.v = 5
print(p.v, P.s(1), P.c(), isinstance(p, P), hasattr(p, "zz"), getattr(p, "zz", "dflt"))
print(sorted([3, 1, 2], reverse=True), sorted(["b", "A", "a"]), max([1, 5, 3], key=lambda v: -v), min(4, 2, 8))
print(" a b ".split(), "a,b,,c".split(","), "x".join(["1", "2"]), "Hello".lower().startswith("he"), "abc".find("c"))
print(list(zip([1, 2], "ab")), list(enumerate("xy", 1)), list(map(str, [1, 2])), any([]), all([]))
print(str(1.0), str(-0.0), repr("it's"), repr('a"b'), [None, True, 1.5])
print(divmod(-7, 2), abs(-3), pow(2, 10, 7), 3 in [1, 2, 3], "b" in "abc", not None)
w = [i for i in range(3)]
print((lambda *a, **k: (a, k))(1, 2, z=3), w)
print(1 if 0 else 2, 0 or "x", 1 and 2, [] or {}, (1, 2) < (1, 3), "a" < "b")
i = 10
while i > 0:
    i -= 3
    if i == 4:
        continue
else:
    print("while-else", i)
for j in range(3):
    if j == 1: break
else:
    print("not printed")
print(j, type(1) is int, type(True).__name__, isinstance(True, int), bool([]), int(True) + 1)
s = {1, 2, 3}
print(s & {2, 3, 4}, s | {5}, s - {1}, len(s), sorted(s ^ {3, 9}))
print("{} {name} {}".format(7, 8, name="n"), "{:>6.2f}".format(3.14159), "{:x}".format(255))
print(int(7.9), float("1e3"), 5 // 2 * 2, -2 ** 2, (-2) ** 2, 2 ** 3 ** 2, 17 % 5, -17 // 5)
print(round(0.5), round(1.5), round(2.5), round(-1.5), round(5.5), round(6.5), round(1.15, 1), round(2.25, 1))
