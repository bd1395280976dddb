from cycle_b import helper
VALUE = 1
