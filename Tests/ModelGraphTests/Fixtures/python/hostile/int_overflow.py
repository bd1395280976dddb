# expect: beyond fork mode's 64-bit integers
x = 2 ** 64
