# expect: maximum recursion depth
class Loop:
    def __getattr__(self, name):
        return self.missing

Loop().anything
