# Exceptions: hierarchy, except order, else/finally, re-raise, raise from, custom classes,
# return inside finally, with-statements and context managers, assert.
class FancyError(ValueError):
    def __init__(self, code):
        super().__init__(f"code {code}")
        self.code = code

def risky(n):
    if n == 0:
        raise FancyError(7)
    if n == 1:
        return {}["missing"]
    if n == 2:
        return [][3]
    if n == 3:
        return 1 / 0
    if n == 4:
        return undefined_name
    if n == 5:
        return int("x")
    return "fine"

for n in range(7):
    try:
        print(n, risky(n))
    except LookupError as e:
        print(n, "lookup", type(e).__name__, e)
    except FancyError as e:
        print(n, "fancy", e.code, e, isinstance(e, ValueError))
    except (ZeroDivisionError, NameError) as e:
        print(n, "arith/name", type(e).__name__, e)
    except Exception as e:
        print(n, "other", type(e).__name__, e)
    else:
        print(n, "no exception")
    finally:
        print(n, "finally")

def early():
    try:
        return "try"
    finally:
        print("cleanup ran")
print(early())

def swallow():
    for i in range(3):
        try:
            if i == 1:
                continue
            if i == 2:
                break
        finally:
            print("finally", i)
    return i
print(swallow())

try:
    try:
        raise KeyError("k")
    except KeyError:
        raise
except KeyError as e:
    print("re-raised", repr(e))

try:
    try:
        1 / 0
    except ZeroDivisionError as e:
        raise RuntimeError("wrapped") from e
except RuntimeError as e:
    print("chained", e, type(e.__cause__).__name__)

class Manager:
    def __init__(self, name, swallow=False):
        self.name, self.swallow = name, swallow
    def __enter__(self):
        print("enter", self.name)
        return self.name.upper()
    def __exit__(self, kind, value, tb):
        print("exit", self.name, kind.__name__ if kind else None)
        return self.swallow

with Manager("a") as got, Manager("b", swallow=True):
    print("inside", got)
    raise ValueError("swallowed by b")
print("after with")

import contextlib
with contextlib.suppress(KeyError):
    {}["x"]
print("suppressed")

try:
    assert 1 == 2, "math is broken"
except AssertionError as e:
    print("assert", e)

e = ValueError("a", 2)
print(e.args, str(e), repr(ValueError("x")), str(KeyError("k")), issubclass(ModuleNotFoundError, ImportError))
