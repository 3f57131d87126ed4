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


# The Python API (synthgen.api), importable as synthgen.run, synthgen.draft, ...: loaded on first use, so that
# `import synthgen` and `synthgen --help` stay fast.
_API = ("Result", "builtin", "draft", "load_spec", "run", "load", "versions", "screen", "write_catalog", "GateFailed",
        "InputError", "SynthgenError")


def __getattr__(name: str):
    # PEP 562 lazy attribute: synthgen.api (which imports the pipeline) loads on the first use of one of its
    # names, never while `synthgen` itself loads, so no submodule that imports `synthgen` can form a cycle
    if name in _API:
        import importlib

        return getattr(importlib.import_module("synthgen.api"), name)
    raise AttributeError(f"module 'synthgen' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
