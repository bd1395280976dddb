# Functions: defaults, *args/**kwargs, keyword-only, closures, nonlocal/global, lambdas,
# decorators with arguments, recursion, generators (lazy expressions), comprehension scopes.
def f(a, b=2, *args, c, d=4, **kw):
    return (a, b, args, c, d, sorted(kw.items()))

print(f(1, c=3), f(1, 5, 6, 7, c=8, e=9), f(*[1, 2], **{"c": 0, "z": 1}))

def g(x, /, y):
    return x - y
print(g(5, y=3))

counter = 0
def bump():
    global counter
    counter += 1
    return counter
bump(); bump()
print(counter)

def make_adders():
    return [lambda x, i=i: x + i for i in range(3)]
print([h(10) for h in make_adders()])

def late():
    fs = [lambda: i for i in range(3)]
    return [h() for h in fs]
print(late())

def repeat(times):
    def deco(fn):
        def wrapper(*a, **k):
            return [fn(*a, **k) for _ in range(times)]
        return wrapper
    return deco

@repeat(2)
def hello(name):
    return "hi " + name
print(hello("x"))

def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)
print(fact(20))

def gen():
    yield 1
    yield from [2, 3]
    return
print(list(gen()), sum(gen()))

y = [0]
y.extend(v + 1 for v in [y[-1]] * 0)
seq = [1]
seq.extend(seq[-1] * 2 for _ in range(4))
print(seq)

x = 10
vals = [x for x in range(3)]
print(x, vals, {k: k * k for k in range(3)}, {v % 2 for v in range(5)})
print([(i, j) for i in range(3) for j in range(i) if (i + j) % 2])

total = 0
if (n := 5) > 3:
    total = n * 2
print(total, [w for v in range(4) if (w := v * v) > 2])

def kwonly(*, key="k"):
    return key
try:
    kwonly(1)
except TypeError as e:
    print("TypeError:", e)
try:
    f()
except TypeError as e:
    print("TypeError:", e)

import functools
print(functools.reduce(lambda a, b: a * b, range(1, 6)), functools.partial(f, c=1)(0))

def outer():
    items = []
    def add(v):
        items.append(v)
        return len(items)
    add(1); add(2)
    return items
print(outer())
