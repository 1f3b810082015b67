"""maskbench: irregular-hole masks from videos, a binned test split, and Table-1 scoring.

An implementation, as a tool, of the data and evaluation pipeline of Liu et al. 2018,
"Image Inpainting for Irregular Holes Using Partial Convolutions" (arXiv:1804.07723).
"""

__version__ = "0.2.0"
