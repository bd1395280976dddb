# expect: past 50000 elements
x = [0] * (10 ** 9)
