"""Anomaly scorers, registered by name. Importing this package registers every built-in scorer."""

from synthgen.anomaly import anogan as _anogan  # noqa: F401  (registers "anogan")
from synthgen.anomaly import ecod as _ecod  # noqa: F401  (registers "ecod")
from synthgen.anomaly import fanogan as _fanogan  # noqa: F401  (registers "fanogan")
from synthgen.anomaly import isolation_forest as _isolation_forest  # noqa: F401  (registers "isolation_forest")
from synthgen.anomaly import knn as _knn  # noqa: F401  (registers "knn")
from synthgen.anomaly import synthetic_reference as _synthetic_reference  # noqa: F401  (registers "synthetic_ecod", "synthetic_knn")
from synthgen.anomaly.base import SCORERS, Scorer

__all__ = ["SCORERS", "Scorer"]
