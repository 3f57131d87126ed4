"""Prefect flows and deployments only; every task is one call into the synthgen library.
(Importing synthgen applies its environment defaults, also when a worker imports a deployed flow.)"""

import synthgen  # noqa: F401
