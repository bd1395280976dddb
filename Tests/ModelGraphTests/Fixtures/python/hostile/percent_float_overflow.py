# expect: OverflowError
print("%d" % 2.92**62)
