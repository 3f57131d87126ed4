"""Prefect flows and deployments only; every task is one call into the synthgen library."""
