"""Great Expectations checks for synthgen: derive a suite from the real table, run it on the synthetic one.

Self-contained; great_expectations is imported lazily (``_gx()``) so importing this module is cheap.

Spec format (JSON-serialisable, meant to be stored in a dataset card)::

    [{"type": "ExpectColumnMeanToBeBetween", "kwargs": {"column": "age", "min_value": 30.1, "max_value": 41.7}}, ...]

``type`` is always the public GX class name (``great_expectations.expectations.<type>``) and
``kwargs`` are that class's constructor arguments, so a spec can be rebuilt without synthgen.

Expectations derived per column (``kinds[col]`` in {"numeric", "categorical", "datetime"}):

* all kinds
    - ExpectColumnToExist
    - ExpectColumnValuesToNotBeNull, mostly = 1 - real_null_rate - null_tolerance
      (applied even when the real column has no nulls: then mostly = 1 - null_tolerance, i.e. the
      synthetic column may have at most ``null_tolerance`` nulls). Left out if mostly would be <= 0.
    - ExpectColumnValuesToBeNull, mostly = real_null_rate - null_tolerance, only when that is > 0:
      together with the above it pins the synthetic null rate to real_null_rate +/- null_tolerance
      (catches a generator that silently drops the missingness pattern).
* numeric (stats over finite, non-null values; std is the sample std, ddof=1, as GX computes it)
    - ExpectColumnValuesToBeBetween(min - range_margin*range, max + range_margin*range, mostly)
    - ExpectColumnMeanToBeBetween(mean +/- mean_tolerance*std)
    - ExpectColumnQuantileValuesToBeBetween(q in ``quantiles``, each real_q +/- quantile_tolerance*std)
    - ExpectColumnStdevToBeBetween(stdev_ratio[0]*std, stdev_ratio[1]*std)
    A constant real column (std == 0) uses a tiny absolute scale instead of std.
* categorical (distinct non-null real values; skipped above ``max_categories`` distinct values,
  e.g. ID-like columns, since the spec would just be a copy of the column)
    - ExpectColumnValuesToBeInSet(real categories, mostly): novel categories allowed up to 1-mostly;
      a real category that is merely absent from the synthetic sample never fails it.
      (ExpectColumnDistinctValuesToBeInSet was rejected: it has no ``mostly`` so one stray value fails,
      and it adds nothing else over ToBeInSet. ExpectColumnDistinctValuesToContainSet would fail on a
      rare category that is missing from a small sample.)
    - ExpectColumnKLDivergenceToBeLessThan(categorical partition of real frequencies, threshold=kl_threshold,
      tail_weight_holdout=1-mostly) when 2 <= n_categories <= kl_max_categories: catches frequency drift /
      mode collapse. Missing categories contribute 0; unseen ones are scored against the holdout mass.
      (The KL estimate has a small-sample bias of about (k-1)/(2n); keep k small / n large.)
* datetime
    - ExpectColumnValuesToBeBetween(min - range_margin*span, max + range_margin*span, mostly) with ISO-8601
      string bounds (tz offset kept for tz-aware columns). Works on datetime64[ns] / datetime64[ns, tz] columns.

Pitfall handled here: GX 1.24's ExpectColumnQuantileValuesToBeBetween returns ``success`` as a numpy bool,
which the validation-results store cannot JSON-serialise -- *also* in an ephemeral (in-memory) context, so
the whole Checkpoint.run raises ``TypeError: Object of type bool is not JSON serializable``. We run it through
a subclass (``_ExpectColumnQuantileValuesToBeBetweenJsonSafe``) that casts success to ``bool``; the spec
still says ``ExpectColumnQuantileValuesToBeBetween``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import warnings
from typing import Any

from synthgen.validation.metrics import METRICS, Metric

__all__ = ["build_suite_spec", "run_checkpoint", "KINDS"]

GX_RESULTS = "gx_results.json"

KINDS = ("numeric", "categorical", "datetime")
DEFAULT_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)

_GX_CACHE: dict[str, Any] = {}


# --------------------------------------------------------------------------------------------- GX setup
def _gx():
    """Import great_expectations lazily, with analytics off and its logger quiet. Returns (gx, gxe)."""
    if "gx" in _GX_CACHE:
        return _GX_CACHE["gx"], _GX_CACHE["gxe"]
    # GX_ANALYTICS_ENABLED comes from synthgen.settings (applied when synthgen is imported; an
    # explicit value wins).
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:  # respect an explicit choice made by the application
        gx_logger.setLevel(logging.WARNING)
    import great_expectations as gx
    import great_expectations.expectations as gxe

    class _ExpectColumnQuantileValuesToBeBetweenJsonSafe(gxe.ExpectColumnQuantileValuesToBeBetween):
        """Same expectation; ``success`` cast from numpy bool to bool so results can be stored."""

        def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
            out = super()._validate(metrics, runtime_configuration, execution_engine)
            out["success"] = bool(out["success"])
            details = out.get("result", {}).get("details", {})
            if "success_details" in details:
                details["success_details"] = [bool(x) for x in details["success_details"]]
            return out

    _GX_CACHE.update(gx=gx, gxe=gxe, overrides={
        "ExpectColumnQuantileValuesToBeBetween": _ExpectColumnQuantileValuesToBeBetweenJsonSafe,
    })
    return gx, gxe


def _make_context():
    """Ephemeral (in-memory) context: progress bars off, analytics off, no temporary data-docs site.

    ``gx.get_context(mode="ephemeral")`` on its own would use InMemoryStoreBackendDefaults(init_temp_docs_sites=True),
    which makes a temp directory per context and logs it at INFO (that GX logger is pinned to INFO).
    """
    gx, _ = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _expectation_class(type_name: str):
    _, gxe = _gx()
    cls = _GX_CACHE["overrides"].get(type_name) or getattr(gxe, type_name, None)
    if cls is None:
        raise ValueError(f"unknown GX expectation type {type_name!r}")
    return cls


# ------------------------------------------------------------------------------------------ JSON helpers
def _json_safe(obj: Any) -> Any:
    """Recursively convert numpy/pandas scalars & containers into plain JSON types (NaN/inf -> None)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_json_safe(v) for v in obj]
    import numpy as np
    import pandas as pd

    if isinstance(obj, np.ndarray):
        return [_json_safe(v) for v in obj.tolist()]
    if obj is pd.NaT:
        return None
    if isinstance(obj, (pd.Timestamp, _dt.datetime, _dt.date)):
        return obj.isoformat()
    if isinstance(obj, (pd.Timedelta, _dt.timedelta)):
        return pd.Timedelta(obj).isoformat()
    if isinstance(obj, np.datetime64):
        return None if np.isnat(obj) else pd.Timestamp(obj).isoformat()
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    try:
        if pd.isna(obj):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(obj, "to_json_dict"):
        return _json_safe(obj.to_json_dict())
    return str(obj)


def _f(x) -> float:
    return float(x)


# ------------------------------------------------------------------------------------------ suite spec
def _e(type_name: str, **kwargs) -> dict:
    return {"type": type_name, "kwargs": _json_safe(kwargs)}


def build_suite_spec(
    train: "pandas.DataFrame",  # noqa: F821
    kinds: dict[str, str],
    *,
    mean_tolerance: float = 0.25,
    range_margin: float = 0.05,
    quantile_tolerance: float = 0.25,
    null_tolerance: float = 0.05,
    mostly: float = 0.98,
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES,
    stdev_ratio: tuple[float, float] = (0.5, 1.5),
    kl_threshold: float | None = 0.1,
    kl_max_categories: int = 50,
    max_categories: int = 1000,
) -> list[dict]:
    """Derive expectations from the REAL training table. kinds maps column -> 'numeric' | 'categorical' | 'datetime'.

    Returns a JSON-serialisable list of {"type": <GX expectation class name>, "kwargs": {...}} so it can be
    saved in a dataset card. See the module docstring for the rules. Only columns named in ``kinds`` are used.
    """
    import numpy as np
    import pandas as pd

    if not 0.0 <= mostly <= 1.0:
        raise ValueError("mostly must be in [0, 1]")
    missing = [c for c in kinds if c not in train.columns]
    if missing:
        raise KeyError(f"columns in kinds but not in train: {missing}")
    bad = {c: k for c, k in kinds.items() if k not in KINDS}
    if bad:
        raise ValueError(f"unknown kinds {bad}; expected one of {KINDS}")

    n = len(train)
    spec: list[dict] = []
    for col, kind in kinds.items():
        s = train[col]
        spec.append(_e("ExpectColumnToExist", column=col))

        null_rate = float(s.isna().mean()) if n else 0.0
        not_null_mostly = 1.0 - null_rate - null_tolerance
        if not_null_mostly > 0:
            spec.append(_e("ExpectColumnValuesToNotBeNull", column=col, mostly=round(min(1.0, not_null_mostly), 6)))
        null_mostly = null_rate - null_tolerance
        if null_mostly > 0:
            spec.append(_e("ExpectColumnValuesToBeNull", column=col, mostly=round(null_mostly, 6)))

        if kind == "numeric":
            x = pd.to_numeric(s, errors="coerce").astype("float64")
            x = x[np.isfinite(x)]
            if x.empty:
                continue
            lo, hi, mean = _f(x.min()), _f(x.max()), _f(x.mean())
            std = _f(x.std(ddof=1)) if len(x) > 1 else 0.0
            scale = std if std > 0 else max(abs(mean) * 1e-6, 1e-9)
            span = hi - lo
            pad = range_margin * (span if span > 0 else max(abs(hi), 1.0))
            spec.append(_e("ExpectColumnValuesToBeBetween", column=col, min_value=lo - pad, max_value=hi + pad,
                           mostly=mostly))
            spec.append(_e("ExpectColumnMeanToBeBetween", column=col,
                           min_value=mean - mean_tolerance * scale, max_value=mean + mean_tolerance * scale))
            if quantiles:
                qv = [_f(v) for v in x.quantile(list(quantiles)).tolist()]
                spec.append(_e("ExpectColumnQuantileValuesToBeBetween", column=col, quantile_ranges={
                    "quantiles": [float(q) for q in quantiles],
                    "value_ranges": [[v - quantile_tolerance * scale, v + quantile_tolerance * scale] for v in qv],
                }))
            if std > 0:
                spec.append(_e("ExpectColumnStdevToBeBetween", column=col,
                               min_value=stdev_ratio[0] * std, max_value=stdev_ratio[1] * std))
            else:
                spec.append(_e("ExpectColumnStdevToBeBetween", column=col, min_value=0.0, max_value=scale))

        elif kind == "categorical":
            vc = s.dropna().value_counts()
            k = len(vc)
            if k == 0 or k > max_categories:
                continue
            values = [_json_safe(v) for v in vc.index.tolist()]
            order = sorted(range(k), key=lambda i: (type(values[i]).__name__, str(values[i])))
            values = [values[i] for i in order]
            spec.append(_e("ExpectColumnValuesToBeInSet", column=col, value_set=values, mostly=mostly))
            if kl_threshold is not None and 2 <= k <= kl_max_categories:
                w = (vc / vc.sum()).tolist()
                weights = [float(w[i]) for i in order]
                weights[-1] = 1.0 - sum(weights[:-1])  # exact sum, GX validates the partition
                spec.append(_e("ExpectColumnKLDivergenceToBeLessThan", column=col,
                               partition_object={"values": values, "weights": weights},
                               threshold=float(kl_threshold), tail_weight_holdout=round(1.0 - mostly, 6)))

        elif kind == "datetime":
            t = s if pd.api.types.is_datetime64_any_dtype(s) else pd.to_datetime(s, errors="coerce")
            t = t.dropna()
            if t.empty:
                continue
            lo, hi = t.min(), t.max()
            span = hi - lo
            pad = span * range_margin if span > pd.Timedelta(0) else pd.Timedelta(days=1) * range_margin
            spec.append(_e("ExpectColumnValuesToBeBetween", column=col, min_value=(lo - pad).isoformat(),
                           max_value=(hi + pad).isoformat(), mostly=mostly))
    return spec


# ------------------------------------------------------------------------------------------ run
def _prepare_frame(df, suite_spec):
    """Shallow copy with datetime-kind columns (string bounds) coerced to datetime64 if stored as text."""
    import pandas as pd

    out = None
    for item in suite_spec:
        kw = item.get("kwargs", {})
        if item.get("type") != "ExpectColumnValuesToBeBetween" or not isinstance(kw.get("min_value"), str):
            continue
        col = kw.get("column")
        if col in df.columns and not pd.api.types.is_datetime64_any_dtype(df[col]):
            if out is None:
                out = df.copy(deep=False)
            out[col] = pd.to_datetime(df[col], errors="coerce")
    return df if out is None else out


def _observed(result: dict) -> Any:
    if "observed_value" in result:
        return _json_safe(result["observed_value"])
    if "element_count" in result:
        keys = ("element_count", "unexpected_count", "unexpected_percent", "missing_count")
        return {k: _json_safe(result[k]) for k in keys if k in result}
    return None


def _error(exception_info) -> str | None:
    if not exception_info:
        return None
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    msgs = [i.get("exception_message") for i in infos if isinstance(i, dict) and i.get("raised_exception")]
    return "; ".join(str(m) for m in msgs) or None


def run_checkpoint(
    synthetic: "pandas.DataFrame",  # noqa: F821
    suite_spec: list[dict],
    *,
    name: str,
    result_format: str = "BASIC",
) -> dict:
    """Run the suite through a real GX Checkpoint on the synthetic table.

    Ephemeral context -> pandas datasource -> dataframe asset -> whole-dataframe batch definition ->
    ValidationDefinition -> Checkpoint(actions=[]) -> run(batch_parameters={"dataframe": synthetic}).

    Returns {"success", "evaluated", "successful", "success_rate", "results": [...]} with results in
    spec order; each result is {"expectation", "column", "success", "observed", "kwargs"} plus "error"
    when GX raised while evaluating it (e.g. column missing). Everything is plain JSON types.
    """
    gx, _ = _gx()
    df = _prepare_frame(synthetic, suite_spec)
    expectations = []
    for i, item in enumerate(suite_spec):
        cls = _expectation_class(item["type"])
        expectations.append(cls(**item.get("kwargs", {}), meta={"synthgen_index": i}))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GX/pandas Future/Deprecation chatter
        ctx = _make_context()
        batch_def = (ctx.data_sources.add_pandas(f"{name}-source")
                     .add_dataframe_asset(f"{name}-asset")
                     .add_batch_definition_whole_dataframe(f"{name}-batch"))
        suite = ctx.suites.add(gx.ExpectationSuite(name=f"{name}-suite", expectations=expectations))
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{name}-validation", data=batch_def,
                                                                    suite=suite))
        checkpoint = ctx.checkpoints.add(gx.Checkpoint(name=name, validation_definitions=[vd], actions=[],
                                                       result_format=result_format))
        cp_result = checkpoint.run(batch_parameters={"dataframe": df})

    rows: list[dict | None] = [None] * len(suite_spec)
    extra = []
    for vres in cp_result.run_results.values():
        for r in vres.results:
            cfg = r.expectation_config
            idx = (cfg.meta or {}).get("synthgen_index")
            spec_item = suite_spec[idx] if isinstance(idx, int) and 0 <= idx < len(suite_spec) else None
            kwargs = spec_item["kwargs"] if spec_item else _json_safe(
                {k: v for k, v in cfg.kwargs.items() if k != "batch_id"})
            row = {
                "expectation": spec_item["type"] if spec_item else cfg.type,
                "column": kwargs.get("column"),
                "success": bool(r.success),
                "observed": _observed(r.result or {}),
                "kwargs": kwargs,
            }
            err = _error(r.exception_info)
            if err:
                row["error"] = err
            if spec_item is not None and rows[idx] is None:
                rows[idx] = row
            else:
                extra.append(row)
    results = [r for r in rows if r is not None] + extra
    evaluated = len(results)
    successful = sum(r["success"] for r in results)
    return {
        "success": bool(cp_result.success) and successful == evaluated,
        "evaluated": evaluated,
        "successful": successful,
        "success_rate": (successful / evaluated) if evaluated else 1.0,
        "results": results,
    }


# --------------------------------------------------------------------------------------------- metric
SUITE_MIN_ROWS = 5   # the published suite never names a value, or a bound, that fewer real rows carry


def suite_for(table) -> list[dict]:
    """The suite derived from a real LabeledTable (polars -> pandas; GX has no polars support). It is
    published with the dataset, so it is built from the value-protected view of the rows whatever the spec's
    `protection` says: no category carried by fewer than SUITE_MIN_ROWS rows in its value sets, no bound
    beyond the SUITE_MIN_ROWS-th smallest / largest value (with protection on, as by default, the rows are
    protected already and this changes nothing)."""
    from synthgen.data import protect_values

    protected, _ = protect_values(table, min_rows=SUITE_MIN_ROWS)
    return build_suite_spec(protected.frame.to_pandas(), dict(protected.kinds))


@METRICS.register("gx_success_rate")
class GXSuccessRate(Metric):
    """Share of the expectations derived from the real training table that the synthetic table
    meets, run through a Great Expectations Checkpoint; details hold every result."""

    kind = "quality"
    direction = "higher"

    def compute(self, ctx):
        suite = ctx.gx_suite if ctx.gx_suite is not None else ctx.cached("gx_suite", lambda: suite_for(ctx.train))
        result = run_checkpoint(ctx.synthetic.frame.to_pandas(), suite, name="synthgen")
        return result["success_rate"], {"suite": suite, "checkpoint": result}

    def artifacts(self, result):
        """The suite and every checkpoint result are saved whole beside the dataset; metrics.json keeps
        the counts and a pointer."""
        whole = result.details
        result.details = {"evaluated": whole["checkpoint"]["evaluated"],
                          "successful": whole["checkpoint"]["successful"], "file": GX_RESULTS}
        return {GX_RESULTS: whole}
