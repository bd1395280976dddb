# A miniature Ultralytics fork written for ModelGraph's tests, in the style of the community's
# forks (its own parse_model, modules registered by name, extra modules in extra_modules/).
__version__ = "8.0.0+tiny"
