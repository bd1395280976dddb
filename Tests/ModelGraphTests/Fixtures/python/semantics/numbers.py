# Integer and float semantics: floor division and modulo signs, round half to even, int()
# truncation and parsing, float repr, big-ish integers, bit operations, comparisons.
for a, b in [(7, 2), (-7, 2), (7, -2), (-7, -2), (0, 3)]:
    print(a // b, a % b, divmod(a, b), a / b)
for a, b in [(7.5, 2), (-7.5, 2), (7.5, -2.0), (-0.0, 1.0), (1e300, 1e-300)]:
    print(a // b, a % b)
print([round(x) for x in (0.5, 1.5, 2.5, -0.5, -1.5, 3.5, 4.5)])
print(round(2.675, 2), round(0.125, 2), round(0.375, 2), round(1.005, 2), round(-2.5), round(7, -1), round(15, -1), round(25, -1))
print(int(3.99), int(-3.99), int("  -17 "), int("0b101", 0), int("ff", 16), int("1_000"), int(True))
print(0.1, 1e-4, 1e-5, 1e16, 1e15, 123456789012345678.0, 3.0, -2.5e-7, 2 ** 0.5, 1 / 7, float("inf"), -float("inf"))
print(2 ** 62, 2 ** 62 - 1 + 2 ** 62, -(2 ** 62) * 2, 10 ** 18, 3 ** 39, -(3 ** 39) // 7, (2 ** 62) % 1000)
print(7 & 3, 7 | 8, 7 ^ 2, ~5, 1 << 10, -16 >> 2, 255 >> 4)
print(1 < 2 < 3, 1 < 3 < 2, 2 == 2.0, True + True, 3 * True, 0.1 + 0.2 == 0.3, abs(-0.0))
print(max(3, 7.5), min([4, -1, 2]), sum([0.1] * 10), pow(3, 4), pow(2, -2), 10 % 3.5)
print(int(2.5e3), float("1e3"), float(" 2.5 "), str(10 / 2), str(7 // 2), 5 / 5)
print(f"{3.14159:.3f}|{2.5:.0f}|{3.5:.0f}|{1234.5:,.1f}|{0.000123:.2e}|{42:08.3f}|{-3:+d}|{255:#x}|{7:b}")
print(f"{1e-7}|{1.5e10:g}|{123456789:g}|{0.5:%}|{12:>6}|{12:<6}|{12:^6}|{'ab':*^7}")
print("%d %5.2f %-5s| %x %e %g %s %r" % (3.9, 2.345, "ab", 255, 12345.678, 0.0001, None, "q"))
print(hash(1) == hash(1.0), {1: "a", 1.0: "b", True: "c"}, 1 in {1.0}, {(1, 2): 3}[(1, 2)])
