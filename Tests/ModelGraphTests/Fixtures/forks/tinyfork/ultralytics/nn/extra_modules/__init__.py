from .block import *
from .backbone import *
