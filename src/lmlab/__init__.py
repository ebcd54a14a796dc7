"""lmlab: a laboratory for building small language models from scratch and studying them."""

__version__ = "0.1.0"
