# Strings, lists, tuples, dicts, sets: methods, slicing, ordering, unpacking, sorting.
s = "Hello, World"
print(s.lower(), s.upper(), s.split(", "), s.replace("l", "L", 2), s.find("o"), s.rfind("o"), s.count("l"))
print(s[::-1], s[2:8:2], s[-5:], s.startswith(("He", "x")), s.endswith("ld"), s.strip("Hd"), "  x ".strip())
print("a-b-c".rsplit("-", 1), "a b  c".split(), "x".join("abc"), "abc".title(), "ab".center(6, "*"), "7".zfill(3))
print("C2f_Star".partition("_"), "a.b.c".rpartition("."), "ABC".isupper(), "3.1".isdigit(), "x1".isidentifier())
print("{0}-{1}-{0}".format("a", "b"), "{name!r}".format(name="q"), "%s=%d" % ("n", 5), "tab\tnew\nq'\"")
l = [5, 3, 8, 1]
l.sort()
l.append(9); l.insert(0, 0); l.remove(8)
print(l, l.pop(), l.index(3), l.count(5), l[1:3], l[::-2], sorted(l, key=lambda v: -v), list(reversed(l)))
l[1:3] = [7, 7, 7]
del l[0]
print(l, l * 2, [0] * 3 + [1], [[0] * 2 for _ in range(2)])
t = (1, 2, 3)
a, *b = t
print(t + (4,), t[1:], a, b, t.index(2), (1,) * 3, tuple("ab"), t < (1, 2, 4), (1, 2) == (1, 2))
d = {"b": 2, "a": 1}
d.update(c=3)
d.setdefault("d", 4)
print(d, list(d), d.get("z", 0), d.pop("b"), d, sorted(d.items()), {**d, "e": 5}, dict(zip("xy", (1, 2))))
print(len(d), "a" in d, list(d.keys()), list(d.values()), d | {"a": 9}, dict.fromkeys("ab", 0))
st = {3, 1, 2}
st.add(4); st.discard(1)
print(sorted(st), sorted(st | {9}), sorted(st & {2, 3}), sorted(st - {2}), {1, 2} <= {1, 2, 3}, len(set("hello")))
print(list(range(10, 0, -3)), list(range(5))[::2], len(range(0, 10, 3)), 7 in range(0, 10, 7), range(3)[-1])
print(sorted([(2, "b"), (1, "z"), (2, "a")]), sorted(["b", "C", "a"], key=str.lower), max("hello"), min([[2], [1, 5]]))
print(list(enumerate("ab")), list(zip(*[(1, 2), (3, 4)])), list(map(lambda a, b: a * b, [1, 2], [3, 4])), list(filter(None, [0, 1, "", "x"])))
print(any(x > 2 for x in [1, 3]), all([]), sum([[1], [2]], []), [*range(3), *"ab"], {**{"a": 1}, "b": 2})
nested = [[1, 2], [3, [4, 5]]]
(p, q), (r, (s1, s2)) = nested
print(p, q, r, s1, s2, nested[1][1][0])
print(repr([1, "a", None, (2,), {"k": [3.5]}]), str([True, False]))
