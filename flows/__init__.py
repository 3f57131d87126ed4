"""Prefect flows and deployments only; every task is one call into the synthgen library."""

from synthgen.settings import apply_env_defaults

apply_env_defaults()  # also when a worker imports a deployed flow, not only via the CLI
