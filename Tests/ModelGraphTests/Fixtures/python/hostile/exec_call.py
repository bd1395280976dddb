# expect: exec() is not supported
exec("x = 1")
