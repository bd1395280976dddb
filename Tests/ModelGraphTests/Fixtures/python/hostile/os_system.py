# expect: not available to model code
import os
os.system("echo hi")
