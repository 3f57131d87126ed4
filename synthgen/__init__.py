"""synthgen: labeled synthetic datasets, published only after quality and privacy gates.

Heavy libraries (torch, ctgan, prefect, great_expectations) are imported inside the functions
that need them so that `synthgen --help` stays fast.
"""

from synthgen.settings import apply_env_defaults

__version__ = "0.1.0"

# The one place environment defaults are applied (telemetry off, a patient Prefect server, no
# albumentations update check): before anything in synthgen, its flows, a worker or the tests can
# import Prefect, GX or albumentations. An explicit value always wins.
apply_env_defaults()
