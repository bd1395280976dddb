# expect: Too many decimal digits
x = f"{1:99999999999999999999999}"
