# expect: subprocess.run() is not available in fork mode
import subprocess
subprocess.run(['ls'])
