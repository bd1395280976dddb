# expect: No module named 'subprocess'
import subprocess
