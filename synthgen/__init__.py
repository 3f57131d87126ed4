"""synthgen: labeled synthetic datasets, published only after quality and privacy gates.

Heavy libraries (torch, ctgan, prefect, great_expectations) are imported inside the functions
that need them so that `synthgen --help` stays fast.
"""

__version__ = "0.1.0"
