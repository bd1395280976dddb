# expect: incomplete format key
x = "%(name" % {}
