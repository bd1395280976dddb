# expect: OverflowError
print(round(9223372036854775807, -1))
