# expect: reads only files inside the fork
open("/etc/passwd").read()
