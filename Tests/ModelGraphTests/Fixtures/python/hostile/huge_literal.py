# expect: larger than fork mode's 64-bit integers
x = 1234567890123456789012345678901234567890
