from cycle_a import VALUE
def helper():
    return VALUE
