# expect: cannot import name 'VALUE'
import cycle_a
