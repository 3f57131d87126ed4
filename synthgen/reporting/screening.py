"""Self-contained HTML anomaly-screening report: counts, score histogram with the threshold, ROC /
AUROC / precision@k when the input has labels, and the ranked top-k with residual heatmaps (images)
or per-column contributions (tables)."""

from __future__ import annotations

import html

import numpy as np
import polars as pl

from synthgen.reporting.html import figure_png, plt_module, page


def _summary_table(s: dict) -> str:
    rows = [("input", s["input"]), ("scorer", s["scorer"]), ("normal classes", ", ".join(s["normal_classes"])),
            ("screened", f"{s['n']:,}"), ("flagged (score > threshold)", f"{s['flagged']:,} ({s['flagged'] / max(s['n'], 1):.1%})"),
            ("threshold", f"{s['threshold']:.6g} (target false-alarm rate {s['false_alarm_rate']:.1%} on normal calibration data)")]
    if "anomalies" in s:
        rows += [("labelled anomalies (class not normal)", f"{s['anomalies']:,}"),
                 ("flagged that are anomalies / normal", f"{s['true_positives']:,} / {s['false_positives']:,}")]
    if "auroc" in s:
        p = s["precision_at_k"]
        q = s["precision_at_n_anomalies"]
        rows += [("AUROC", f"{s['auroc']:.3f}"), (f"precision@{p['k']}", f"{p['value']:.3f}"),
                 (f"precision@{q['k']} (= number of anomalies)", f"{q['value']:.3f}")]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _histogram(scores: np.ndarray, threshold: float, truth: np.ndarray | None) -> str:
    plt = plt_module()
    fig, ax = plt.subplots(figsize=(6, 3))
    hi = np.quantile(scores, 0.995)
    bins = np.linspace(scores.min(), max(hi, threshold) * 1.05 if hi > 0 else hi + 1, 50)
    clipped = np.minimum(scores, bins[-1])
    if truth is None:
        ax.hist(clipped, bins=bins, color="#4c72b0")
    else:
        ax.hist([clipped[~truth], clipped[truth]], bins=bins, stacked=True, label=["normal class", "other class"],
                color=["#4c72b0", "#dd8452"])
        ax.legend(fontsize=7)
    ax.axvline(threshold, color="#b00020", linestyle="--", label="threshold")
    ax.set_xlabel("anomaly score (higher = more anomalous)")
    ax.set_ylabel("count")
    ax.set_title("score distribution; dashed line = threshold", fontsize=10)
    return figure_png(fig)


def _roc(roc: dict, auroc: float) -> str:
    plt = plt_module()
    fig, ax = plt.subplots(figsize=(3.4, 3.2))
    ax.plot(roc["fpr"], roc["tpr"], color="#4c72b0")
    ax.plot([0, 1], [0, 1], color="#999", linestyle=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC (AUROC {auroc:.3f})", fontsize=10)
    return figure_png(fig)


def _top_images(result: dict, scorer) -> str:
    plt = plt_module()
    top, explained = result["top"], result["explained"]
    images = top.images if hasattr(top, "images") else top
    recon = explained.get("reconstruction")
    residual = explained["residual"]
    cols = 3 if recon is not None else 2
    n = len(images)
    fig, axes = plt.subplots(n, cols, figsize=(1.5 * cols, 1.55 * n), squeeze=False)
    scores = result["scores"]["score"].to_numpy()[result["order"]]
    ids = result["scores"]["id"].to_numpy()[result["order"]]
    labels = result["labels"][result["order"]] if result["labels"] is not None else None
    for i in range(n):
        img = images[i]
        panels = [(img, "input")] + ([(recon[i], "reconstruction")] if recon is not None else [])
        for j, (pic, name) in enumerate(panels):
            axes[i, j].imshow(pic[..., 0] if pic.shape[-1] == 1 else pic, cmap="gray", vmin=0, vmax=255)
            axes[i, j].set_title(name if i == 0 else "", fontsize=7)
        axes[i, -1].imshow(residual[i], cmap="inferno", vmin=0, vmax=max(float(residual.max()), 1e-6))
        axes[i, -1].set_title("residual" if i == 0 else "", fontsize=7)
        tag = f"#{i + 1} {ids[i]}" + (f" [{labels[i]}]" if labels is not None else "")
        axes[i, 0].set_ylabel(f"{tag}\n{scores[i]:.4g}", fontsize=6, rotation=0, ha="right", va="center")
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return figure_png(fig)


def _top_rows(result: dict, scorer) -> str:
    shares: pl.DataFrame = result["explained"]["contributions"]
    top = result["top"]
    frame = top.frame if hasattr(top, "frame") else top
    order = result["order"]
    scores = result["scores"]["score"].to_numpy()[order]
    ids = result["scores"]["id"].to_numpy()[order]
    labels = result["labels"][order] if result["labels"] is not None else None
    head = "<tr><th>rank</th><th>id</th><th>score</th>" + ("<th>label</th>" if labels is not None else "") + \
        "<th>largest contributions (column = value: share of the distance)</th></tr>"
    body = []
    m = shares.to_numpy()
    for i in range(len(order)):
        best = np.argsort(-m[i])[:3]
        parts = [f"{html.escape(shares.columns[j])} = {html.escape(str(frame[i, shares.columns[j]]))}: "
                 f"{m[i, j]:.0%}" for j in best if m[i, j] > 0]
        body.append(f"<tr><td>{i + 1}</td><td>{html.escape(str(ids[i]))}</td><td>{scores[i]:.4g}</td>"
                    + (f"<td>{html.escape(str(labels[i]))}</td>" if labels is not None else "")
                    + f"<td>{'; '.join(parts)}</td></tr>")
    plt = plt_module()
    fig, ax = plt.subplots(figsize=(1 + 0.35 * m.shape[1], 0.8 + 0.3 * len(order)))
    ax.imshow(m, cmap="Reds", vmin=0, vmax=max(float(m.max()), 1e-6), aspect="auto")
    ax.set_xticks(range(m.shape[1]), [c[:16] for c in shares.columns], rotation=70, ha="right", fontsize=6)
    ax.set_yticks(range(len(order)), [f"#{i + 1}" for i in range(len(order))], fontsize=6)
    ax.set_title("per-column contribution to each top row's score", fontsize=9)
    return f"<table>{head}{''.join(body)}</table>" + figure_png(fig)


def screening_report(result: dict, scorer, *, all_scores: np.ndarray | None = None) -> str:
    """`all_scores`: every item's score when `result["scores"]` holds only the top-k (streamed)."""
    s = result["summary"]
    scores = result["scores"]["score"].to_numpy() if all_scores is None else all_scores
    sections = [("Summary", _summary_table(s)),
                ("Scores", _histogram(scores, s["threshold"], result["truth"])
                 + (_roc(s["roc"], s["auroc"]) if "roc" in s else ""))]
    k = len(result["order"])
    if "residual" in result["explained"]:
        sections.append((f"Top {k} by score, with residual heatmaps",
                         "<p>Residual = |input − the scorer's closest normal reconstruction| per pixel; bright "
                         "areas are what made the score high.</p>" + _top_images(result, scorer)))
    else:
        sections.append((f"Top {k} by score, with per-column contributions", _top_rows(result, scorer)))
    return page(f"{s['title']}: {s['flagged']} of {s['n']} flagged", s["flagged"] == 0, sections,
                labels=("nothing flagged", "anomalies flagged"))
