"""Self-contained HTML reports: every figure is an inline PNG, no CDN, works offline."""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import polars as pl

from synthgen.data import LabeledTable
from synthgen.reporting.card import candidate_keys

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.pass{color:#176d2c;font-weight:bold}.fail{color:#b00020;font-weight:bold}
.grid{display:flex;flex-wrap:wrap;gap:8px}.grid img{width:340px}
h1 .badge{font-size:.6em;padding:2px 8px;border-radius:4px;color:#fff}
.ok{background:#176d2c}.bad{background:#b00020}
"""


def figure_png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def plt_module():
    """pyplot on the Agg backend, with every text drawn literally: a column, category or class name with
    `$` (a price band `$$`) or `_` is data, not mathtext (it used to crash the report after training)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["text.parse_math"] = False
    matplotlib.rcParams["text.usetex"] = False
    import matplotlib.pyplot as plt

    return plt


def _column_plot(name: str, kind: str, real: pl.Series, syn: pl.Series) -> str:
    plt = plt_module()
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    if kind == "categorical":
        r = real.cast(pl.String).fill_null("null").value_counts(normalize=True, name="share")
        s = syn.cast(pl.String).fill_null("null").value_counts(normalize=True, name="share")
        cats = r.sort("share", descending=True).get_column(name).to_list()[:20]
        rm = dict(r.iter_rows())
        sm = dict(s.iter_rows())
        x = np.arange(len(cats))
        ax.bar(x - 0.2, [rm.get(c, 0) for c in cats], 0.4, label="real (train)")
        ax.bar(x + 0.2, [sm.get(c, 0) for c in cats], 0.4, label="synthetic")
        ax.set_xticks(x, [str(c)[:12] for c in cats], rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("share")
    else:
        if kind == "datetime":
            real, syn = real.cast(pl.Int64), syn.cast(pl.Int64)
        r = real.cast(pl.Float64).drop_nulls().to_numpy()
        s = syn.cast(pl.Float64).drop_nulls().to_numpy()
        lo, hi = np.quantile(np.r_[r, s], [0.005, 0.995]) if len(r) + len(s) else (0, 1)
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 31)
        ax.hist(r, bins=bins, density=True, alpha=0.55, label="real (train)")
        ax.hist(s, bins=bins, density=True, alpha=0.55, label="synthetic")
    ax.set_title(name, fontsize=10)
    ax.legend(fontsize=7)
    return figure_png(fig)


def _association(table: LabeledTable, columns: list[str], orders: dict[str, dict]) -> np.ndarray:
    """Pearson correlation of the columns; categories as codes in the real table's frequency order
    (the same codes for both tables, so a difference is a difference in the data)."""
    cols = []
    for c in columns:
        s = table.frame.get_column(c)
        if c in orders:
            order = orders[c]
            cols.append(np.array([order.get(v, len(order)) for v in s.cast(pl.String).fill_null("null").to_list()],
                                 dtype=float))
        else:
            s = s.cast(pl.Int64) if table.kinds[c] == "datetime" else s
            v = s.cast(pl.Float64).to_numpy()
            cols.append(np.nan_to_num(v, nan=np.nanmean(v) if np.isfinite(v).any() else 0.0))
    m = np.column_stack(cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(m, rowvar=False)
    return np.nan_to_num(corr)


def _corr_heatmap(real: LabeledTable, syn: LabeledTable) -> str:
    plt = plt_module()
    cols = real.columns
    orders = {c: {v: i for i, v in enumerate(real.frame.get_column(c).cast(pl.String).fill_null("null")
                                             .value_counts(sort=True).get_column(c).to_list())}
              for c in cols if real.kinds[c] == "categorical"}
    diff = np.abs(_association(real, cols, orders) - _association(syn, cols, orders))
    fig, ax = plt.subplots(figsize=(1 + 0.45 * len(cols), 0.8 + 0.45 * len(cols)))
    im = ax.imshow(diff, vmin=0, vmax=1, cmap="Reds")
    ax.set_xticks(range(len(cols)), [c[:14] for c in cols], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(cols)), [c[:14] for c in cols], fontsize=7)
    ax.set_title("|corr(real) - corr(synthetic)|", fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return figure_png(fig)


def _class_counts(card: dict) -> str:
    plt = plt_module()
    train, syn = card["class_counts"]["train"], card["class_counts"]["synthetic"]
    classes = list(train)
    x = np.arange(len(classes))
    fig, ax = plt.subplots(figsize=(4.5, 2.8))
    ax.bar(x - 0.2, [train[c] for c in classes], 0.4, label="train")
    ax.bar(x + 0.2, [syn.get(c, 0) for c in classes], 0.4, label="synthetic")
    ax.set_xticks(x, [str(c)[:12] for c in classes], rotation=30, ha="right", fontsize=8)
    ax.set_title(f"rows per class of {card['label']!r}", fontsize=10)
    ax.legend(fontsize=7)
    return figure_png(fig)


def _histograms(metrics: dict) -> list[str]:
    plt = plt_module()
    out = []
    for name, result in metrics.items():
        hist = (result.get("details") or {}).get("histogram")
        if not hist:
            continue
        edges = np.asarray(hist["edges"])
        fig, ax = plt.subplots(figsize=(4.5, 2.8))
        for label, counts in hist["counts"].items():
            counts = np.asarray(counts, dtype=float)
            ax.step(edges[:-1], counts / max(counts.sum(), 1), where="post", label=label)
        ax.set_xlabel("distance to closest record")
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=7)
        out.append(figure_png(fig))
    return out


def metric_table(card: dict, metrics: dict) -> str:
    checks = {c["metric"]: c for c in card["verdict"]["checks"]}
    rows = ["<tr><th>metric</th><th>kind</th><th>value</th><th>gate</th><th>result</th></tr>"]
    for name, result in metrics.items():
        value = result["value"]
        shown = "—" if value is None else f"{value:.4f}"
        check = checks.get(name)
        if check:
            op = "&ge;" if check["direction"] == "higher" else "&le;"
            gate = f"{op} {check['threshold']}"
            verdict = '<span class="pass">pass</span>' if check["passed"] else '<span class="fail">FAIL</span>'
        else:
            gate, verdict = "—", "reported"
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{result['kind']}</td><td>{shown}</td>"
                    f"<td>{gate}</td><td>{verdict}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def candidates_table(card: dict) -> str:
    """Every candidate generator the run trained, its point by the select step's judge (selection split
    carved from train, never the gate holdout) and which one was chosen, with the criterion."""
    candidates, chosen = card.get("candidates") or [], card.get("chosen_by") or {}
    if len(candidates) < 2:
        return ""
    keys = candidate_keys(candidates)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    rows = "".join(
        f"<tr><td>{'<b>chosen</b>' if i == chosen.get('chosen') else ''}</td><td>{html.escape(c['name'])}</td>"
        + "".join(f"<td>{_cell((c.get('judged') or {}).get(k))}</td>" for k in keys)
        + f"<td>{_cell(c.get('train_s'))}</td></tr>" for i, c in enumerate(candidates))
    return (f"<p>Candidates; chosen by: {html.escape(str(chosen.get('criterion')))}.</p><table><tr><th></th><th>generator</th>{head}<th>train s</th></tr>"
            f"{rows}</table>")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape("—" if value is None else str(value))


def selection_section(card: dict) -> str:
    """The candidates (when several), the snapshot-selection curve (judged on a split carved from train,
    never the gate holdout) and why training stopped."""
    selection = card["model"].get("selection")
    timings = card["model"]["timings"]
    stop = candidates_table(card) + \
        f"<p>Training stopped by: <b>{html.escape(str(timings.get('stop_reason', 'budget')))}</b>. "
    if not selection or not selection.get("curve"):
        return f"{stop}No snapshot selection.</p>"
    curve = selection["curve"]
    at = [p["at"] for p in curve]
    plt = plt_module()
    fig, ax = plt.subplots(figsize=(5, 2.8))
    for key in [k for k in curve[0] if k not in ("at", "error") and all(isinstance(p.get(k), (int, float))
                                                                         and np.isfinite(p[k]) for p in curve)]:
        if key != "fd":
            ax.plot(at, [p[key] for p in curve], marker="o", label=key, lw=2.5 if key == "score" else 1)
    ax.axvline(selection["best_at"], color="k", ls=":", lw=1)
    ax.set_xlabel("epoch" if "epochs_done" in timings else "step")
    ax.set_title("snapshot selection (selection split, own judge)", fontsize=10)
    ax.legend(fontsize=7)
    return (f"{stop}Kept the snapshot at {selection['best_at']} of {at[-1]}, scored by "
            f"{html.escape(selection['criterion'])}: {selection['best_score']:.4f}.</p>" + figure_png(fig))


def page(title: str, passed: bool, sections: list[tuple[str, str]], labels: tuple[str, str] = ("published", "refused")) -> str:
    badge = f'<span class="badge ok">{labels[0]}</span>' if passed else f'<span class="badge bad">{labels[1]}</span>'
    body = "".join(f"<h2>{html.escape(h)}</h2>{content}" for h, content in sections)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)} {badge}</h1>{body}</body></html>")


def tabular_report(card: dict, metrics: dict, train: LabeledTable, holdout: LabeledTable,
                   synthetic: LabeledTable) -> str:
    reasons = card["verdict"]["reasons"]
    summary = (f"<p>{card['rows']} synthetic rows from {card['source']['train_rows']} training rows "
               f"(holdout {card['source']['holdout_rows']}, never seen by the generator). "
               f"Spec hash <code>{card['spec_hash'][:16]}</code>.</p>")
    if reasons:
        summary += "<ul>" + "".join(f"<li class='fail'>{html.escape(r)}</li>" for r in reasons) + "</ul>"
    columns = "".join(_column_plot(c, train.kinds[c], train.frame.get_column(c), synthetic.frame.get_column(c))
                      for c in train.columns)
    return page(
        f"{card['dataset']} {card['version']}",
        card["verdict"]["passed"],
        [
            ("Summary", summary),
            ("Metrics and gates", metric_table(card, metrics)),
            ("Rows per class", _class_counts(card)),
            ("Real vs synthetic, per column", f"<div class='grid'>{columns}</div>"),
            ("Correlation difference", _corr_heatmap(train, synthetic)),
            ("Privacy: distances to closest record", "<div class='grid'>" + "".join(_histograms(metrics)) + "</div>"),
            ("Training and snapshot selection", selection_section(card)),
        ],
    )
