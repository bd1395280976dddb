# expect: SyntaxError
def broken(:
    pass
