# expect: steps
while True:
    pass
