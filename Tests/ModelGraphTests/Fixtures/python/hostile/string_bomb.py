# expect: past 50000 elements
s = "ab" * (10 ** 10)
