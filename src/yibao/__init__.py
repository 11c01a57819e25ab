"""yibao (医保): an open engine for a pooling region's basic medical insurance fund."""

__version__ = "0.1.0"
