from .block import *
from .backbone import *
from .ops import *
