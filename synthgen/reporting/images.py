"""Self-contained HTML report for image datasets (inline PNGs only)."""

from __future__ import annotations

import html

import numpy as np

from synthgen.data import LabeledImages
from synthgen.reporting.html import figure_png, plt_module, metric_table, page, selection_section


def _tile(images: np.ndarray, cols: int) -> np.ndarray:
    """(N, H, W, C) uint8 -> one (rows*H, cols*W, C) mosaic with 1-px gaps."""
    n, h, w, c = images.shape
    rows = max(1, int(np.ceil(n / cols)))
    out = np.full((rows * (h + 1), cols * (w + 1), c), 255, dtype=np.uint8)
    for i, img in enumerate(images):
        r, q = divmod(i, cols)
        out[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = img
    return out


def _show(mosaic: np.ndarray, title: str, width: float = 6.0) -> str:
    plt = plt_module()
    h, w, c = mosaic.shape
    fig, ax = plt.subplots(figsize=(width, max(0.6, width * h / w)))
    ax.imshow(mosaic[..., 0] if c == 1 else mosaic, cmap="gray" if c == 1 else None, vmin=0, vmax=255,
              interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return figure_png(fig)


def _first(data: LabeledImages, cls: str, k: int) -> np.ndarray:
    """k images of the class, evenly spread over it (the first k are often alike, e.g. edge slices)."""
    idx = np.flatnonzero(data.labels == cls)
    if len(idx) > k:
        idx = idx[np.linspace(0, len(idx) - 1, k).round().astype(int)]
    return data.images[idx]


def _class_grids(train: LabeledImages, synthetic: LabeledImages, per_row: int = 10) -> str:
    blocks = []
    for cls in train.classes:
        real, syn = _first(train, cls, per_row), _first(synthetic, cls, per_row)
        if len(syn) == 0:
            continue
        pad = lambda a: np.concatenate([a, np.full((per_row - len(a),) + a.shape[1:], 255, np.uint8)]) \
            if len(a) < per_row else a  # noqa: E731
        mosaic = _tile(np.concatenate([pad(real), pad(syn)]), per_row)
        blocks.append(_show(mosaic, f"class {cls}: real (top) vs synthetic (bottom)", width=5.5))
    return "<div class='grid'>" + "".join(blocks) + "</div>"


def _samples(synthetic: LabeledImages, per_class: int = 16) -> str:
    blocks = []
    for cls in synthetic.classes:
        syn = _first(synthetic, cls, per_class)
        if len(syn):
            blocks.append(_show(_tile(syn, 8), f"synthetic, class {cls}", width=3.2))
    return "<div class='grid'>" + "".join(blocks) + "</div>"


def _nearest_pairs(metrics: dict, train: LabeledImages, synthetic: LabeledImages) -> str:
    pairs = next((m["details"]["closest_pairs"] for m in metrics.values()
                  if "closest_pairs" in m.get("sections", [])), [])
    if not pairs:
        return "<p>not computed</p>"
    syn = synthetic.images[[p["synthetic"] for p in pairs]]
    real = train.images[[p["train"] for p in pairs]]
    mosaic = _tile(np.concatenate([syn, real]), len(pairs))
    dists = ", ".join(f"{p['distance']:.2f}" for p in pairs)
    return (_show(mosaic, "closest synthetic (top) / training image (bottom), pixel space", width=7)
            + f"<p>pixel distances (L2, [0, 1] scale): {html.escape(dists)}</p>")


def _losses(model_meta: dict) -> str:
    history = (model_meta.get("state") or {}).get("loss_history") or {}
    if not history.get("d_loss"):
        return "<p>no history</p>"
    plt = plt_module()
    fig, ax = plt.subplots(figsize=(5, 2.8))
    for key in ("d_loss", "g_loss"):
        ax.plot(range(1, len(history[key]) + 1), history[key], label=key)
    ax.set_xlabel("epoch")
    ax.set_title("training losses (hinge); ADA augment probability", fontsize=10)
    if history.get("augment_p"):
        ax2 = ax.twinx()
        ax2.plot(range(1, len(history["augment_p"]) + 1), history["augment_p"], color="grey", ls="--", label="p")
        ax2.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return figure_png(fig)


REVIEW_NOTE = ("<p>This report holds synthetic images, distances and aggregates only: it travels with the "
               "published dataset. Side-by-side grids of real and synthetic images and the nearest "
               "synthetic/training pairs show real images, so they are in the private review report beside the "
               "dataset's screening reports (the card's <code>review_report</code>), readable only by the team "
               "that ran synthgen.</p>")


def image_review(card: dict, metrics: dict, train: LabeledImages, synthetic: LabeledImages) -> str:
    """The review report: what compares synthetic images with real ones (real images shown). It is written
    outside the dataset folder, never published."""
    return page(
        f"{card['dataset']} {card['version']}: review (holds real images; do not share)",
        card["verdict"]["passed"],
        [
            ("Real vs synthetic", _class_grids(train, synthetic)),
            ("Nearest synthetic/training pairs", _nearest_pairs(metrics, train, synthetic)),
        ],
    )


def image_report(card: dict, metrics: dict, train: LabeledImages, holdout: LabeledImages,
                 synthetic: LabeledImages, model_meta: dict) -> str:
    from synthgen.training.gan import D_LOSS_LOW

    reasons = card["verdict"]["reasons"]
    timings = card["model"]["timings"]
    summary = (f"<p>{card['rows']} synthetic images ({'x'.join(map(str, train.shape))}) from "
               f"{card['source']['train_rows']} training images (holdout {card['source']['holdout_rows']}, "
               f"never seen by the generator). Training: {timings.get('epochs_done')} epochs, "
               f"{timings.get('images_shown', 0):,} images shown, "
               f"{timings.get('images_per_s', 0):.0f} img/s on {timings.get('device')}"
               + (f"; the discriminator won outright (mean D loss below {D_LOSS_LOW}) in "
                  f"{timings['d_loss_low_share']:.0%} of the epochs" if timings.get("d_loss_low_share") is not None else "")
               + ".</p>")
    if reasons:
        summary += "<ul>" + "".join(f"<li class='fail'>{html.escape(r)}</li>" for r in reasons) + "</ul>"
    return page(
        f"{card['dataset']} {card['version']}",
        card["verdict"]["passed"],
        [
            ("Summary", summary),
            ("Metrics and gates", metric_table(card, metrics)),
            ("Synthetic samples per class", _samples(synthetic)),
            ("Real vs synthetic", REVIEW_NOTE),
            ("Training losses", _losses(model_meta)),
            ("Training and snapshot selection", selection_section(card)),
        ],
    )
