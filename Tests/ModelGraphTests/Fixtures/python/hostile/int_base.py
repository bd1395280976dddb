# expect: int() base must be >= 2 and <= 36
x = int("10", 99)
