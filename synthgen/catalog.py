"""What an output folder holds: published and refused versions, their verdicts and headline metrics
(`synthgen list` / `synthgen show`), read from the cards the runs wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthgen.errors import InputError
from synthgen.publish import QUARANTINE


def read_card(folder: Path) -> dict | None:
    """The card a version folder holds (with the folder as `path`), or None."""
    try:
        return json.loads((Path(folder) / "card.json").read_text()) | {"path": str(folder)}
    except (OSError, ValueError):
        return None


def version_card(out_dir: str | Path, dataset: str, version: str) -> dict | None:
    """A published version's card, or None. Both names must be plain folder names (exit 2 otherwise), so
    no argument reaches a refused version in `_quarantine/` or a folder outside the output folder."""
    from synthgen.publish import checked, checked_version

    return read_card(Path(out_dir) / checked(dataset, "dataset") / checked_version(version))


def latest_card(out_dir: str | Path, dataset: str) -> dict | None:
    """The card of the version `DIR/<dataset>/LATEST` names, if any (a LATEST that names no plain version
    is refused, not followed)."""
    from synthgen.publish import checked

    try:
        version = (Path(out_dir) / checked(dataset, "dataset") / "LATEST").read_text().strip()
    except OSError:
        return None
    return version_card(out_dir, dataset, version)


def trained_card(out_dir: str | Path, dataset: str) -> dict | None:
    """The card of the run that trained the latest published version's model (a sample drawn later
    names it in `sampled_from`), or None."""
    card = latest_card(out_dir, dataset)
    if card and card.get("sampled_from"):
        card = version_card(out_dir, dataset, card["sampled_from"]["version"])
    return card


def unchanged_since(out_dir: str | Path, dataset: str, spec_hash: str, fingerprint: str) -> dict | None:
    """The latest version when its run had this spec hash and source fingerprint (a scheduled run then
    has nothing to do), else None."""
    card = trained_card(out_dir, dataset)
    if card and card.get("spec_hash") == spec_hash and card["source"]["source"]["fingerprint"] == fingerprint:
        return card
    return None


def published_model(out_dir: str | Path, dataset: str, key: str) -> Path | None:
    """The latest published version's model folder when it was trained under model-store key `key`."""
    card = latest_card(out_dir, dataset)
    if card and card.get("model_key") == key and (Path(card["path"]) / "model" / "generator.json").is_file():
        return Path(card["path"]) / "model"
    return None


def _closest(checks: list[dict], k: int = 3) -> list[dict]:
    """The gated metrics nearest their threshold (relative margin): what a reader should look at first."""
    def margin(c):
        value, limit = c.get("value"), c.get("threshold")
        if value is None or limit is None:
            return float("inf")
        return abs(value - limit) / max(abs(limit), 1e-9)
    gated = [c for c in checks if c.get("threshold") is not None]
    return [{"metric": c["metric"], "value": c["value"], "threshold": c["threshold"], "passed": c["passed"]}
            for c in sorted(gated, key=margin)[:k]]


def summary(card: dict, folder: Path, *, status: str, latest: bool) -> dict[str, Any]:
    checks = card.get("verdict", {}).get("checks", [])
    return {
        "dataset": card["dataset"], "version": card["version"], "status": status, "latest": latest,
        "created": card.get("created"), "modality": card.get("modality"), "rows": card.get("rows"),
        "gates_passed": sum(bool(c.get("passed")) for c in checks), "gates": len(checks),
        "closest_gates": _closest(checks), "model": card.get("model", {}).get("name"),
        "sampled_from": (card.get("sampled_from") or {}).get("version"), "path": str(folder),
    }


def versions(datasets: str | Path, dataset: str | None = None) -> list[dict[str, Any]]:
    """Every published and refused version under `datasets` (of one dataset if named), oldest first."""
    root = Path(datasets)
    if not root.is_dir():
        raise InputError(f"{root}: no such output folder")
    rows = []
    for status, base in (("published", root), ("refused", root / QUARANTINE)):
        if not base.is_dir():
            continue
        for ds in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
            if dataset and ds.name != dataset:
                continue
            pointer = ds / "LATEST"
            latest = pointer.read_text().strip() if pointer.is_file() else None
            for folder in sorted(p for p in ds.iterdir() if p.is_dir()):
                card = read_card(folder)
                if card is not None:
                    rows.append(summary(card, folder, status=status, latest=folder.name == latest))
    if dataset and not rows:
        raise InputError(f"{root / dataset}: no versions of {dataset!r} (see `synthgen list --datasets {root}`)")
    return sorted(rows, key=lambda r: (r["dataset"], r["created"] or "", r["version"]))


def show(datasets: str | Path, dataset: str, version: str | None = None) -> dict[str, Any]:
    """One version's card (the LATEST published one unless `version` is given)."""
    found = versions(datasets, dataset)
    if version is None:
        chosen = [r for r in found if r["latest"]] or [r for r in found if r["status"] == "published"][-1:]
        if not chosen:
            raise InputError(f"{Path(datasets) / dataset}: no published version of {dataset!r}; "
                             f"refused: {', '.join(r['version'] for r in found)}")
    else:
        chosen = [r for r in found if r["version"] == version]
        if not chosen:
            raise InputError(f"{Path(datasets) / dataset / version}: no version {version!r} of {dataset!r} "
                             f"(versions: {', '.join(r['version'] for r in found)})")
    row = chosen[-1]
    return row | {"card": read_card(Path(row["path"]))}


def closest_text(row: dict[str, Any], digits: int = 3) -> str:
    """A version's gates closest to their thresholds as one line: `list`, the catalogue page and its
    Prefect artifact all show them so."""
    return "; ".join(f"{c['metric']} {c['value']:.{digits}g} (gate {c['threshold']:.{digits}g})"
                     for c in row["closest_gates"] if c["value"] is not None)


def list_text(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        near = closest_text(r)
        origin = f" sampled from {r['sampled_from']}" if r["sampled_from"] else ""
        lines.append(f"{r['dataset']:20} {r['version']:24} {r['status']:9}{' LATEST' if r['latest'] else '       '} "
                     f"{r['rows'] or 0:>7} rows  gates {r['gates_passed']}/{r['gates']}{origin}  {near}")
    return "\n".join(lines) if lines else "(nothing published yet)"


def show_text(found: dict[str, Any]) -> str:
    card = found["card"]
    lines = [f"{card['dataset']} {card['version']}: {found['status']}{' (LATEST)' if found['latest'] else ''}",
             f"  created {card.get('created')}, {card.get('rows')} rows, {card.get('modality')}, label "
             f"{card.get('label')}, model {card['model']['name']}",
             f"  source {card['source']['source'].get('kind')} {card['source']['source'].get('location')} "
             f"({card['source']['source']['fingerprint'][:23]}…), spec hash {card['spec_hash'][:12]}"]
    if card.get("sampled_from"):
        lines.append(f"  sampled from the model of version {card['sampled_from']['model_of']} "
                     f"(trained by {card['sampled_from']['version']})")
    lines.append(f"  class counts: {card['class_counts']['synthetic']}")
    lines.append("  gates:")
    for c in card["verdict"]["checks"]:
        value = "n/a" if c["value"] is None else f"{c['value']:.4g}"
        limit = "" if c["threshold"] is None else f" (gate {c['threshold']:.4g})"
        lines.append(f"    {'ok  ' if c['passed'] else 'FAIL'} {c['metric']:24} {value}{limit}")
    lines.append(f"  folder {found['path']}")
    return "\n".join(lines)


CATALOG_FILE = "index.html"


def write_catalog(datasets: str | Path) -> Path:
    """DATASETS/index.html: one self-contained page (no scripts, no network) listing every dataset and version,
    published and refused, written atomically while holding an exclusive lock on the output folder itself
    (flock on its descriptor: no lock file is left behind), so concurrent runs never leave half a page or drop
    each other's versions (each writer lists the folder while it holds the lock)."""
    import fcntl
    import os

    from synthgen.atomic import write_text_atomic

    root = Path(datasets).resolve()
    if not root.is_dir():
        raise InputError(f"{root}: no such output folder")
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        write_text_atomic(root / CATALOG_FILE, catalog_html(root))
    finally:
        os.close(fd)   # releases the lock
    return root / CATALOG_FILE


def _failures(card: dict) -> list[dict]:
    steps = card.get("verdict", {}).get("next_steps", {})
    return [{"metric": c["metric"], "value": c["value"], "threshold": c["threshold"],
             "next_step": steps.get(c["metric"], c.get("next_step", ""))}
            for c in card.get("verdict", {}).get("checks", []) if not c.get("passed")]


def catalog_html(root: Path) -> str:
    """The catalogue page for the output folder `root` (links relative to it)."""
    import html
    from datetime import datetime, timezone
    from urllib.parse import quote

    rows = versions(root)
    esc = html.escape

    def num(value) -> str:
        return "n/a" if value is None else f"{value:.4g}"

    by_dataset: dict[str, list[dict]] = {}
    for r in rows:
        by_dataset.setdefault(r["dataset"], []).append(r)
    published = sum(r["status"] == "published" for r in rows)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>synthgen catalogue</title><style>",
        "body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;width:100%;"
        "margin:.5em 0 1.5em}th,td{border-bottom:1px solid #ddd;padding:.35em .6em;text-align:left;vertical-align:top}"
        "th{background:#f4f4f4}td.published{color:#176f2c;font-weight:600}td.refused{color:#a61b1b;font-weight:600}"
        "tr.refused{background:#fff6f6}"
        ".near{font-size:12px;color:#555}.fail{color:#a61b1b}nav a{margin-right:1em}",
        "</style></head><body>",
        "<h1>synthgen catalogue</h1>",
        f"<p>{esc(str(root))} &middot; {len(by_dataset)} dataset{'s' if len(by_dataset) != 1 else ''}: "
        f"{published} published and {len(rows) - published} refused version{'s' if len(rows) - published != 1 else ''}"
        " &middot; written "
        f"{esc(datetime.now(timezone.utc).isoformat(timespec='seconds'))}</p>",
    ]
    if not rows:
        parts.append("<p id='empty'>Nothing published or refused yet.</p>")
    parts.append("<nav>" + "".join(f"<a href='#ds-{esc(quote(d))}'>{esc(d)}</a>" for d in by_dataset) + "</nav>")
    for name, found in by_dataset.items():
        latest = next((r for r in found if r["latest"]), None)
        parts.append(f"<section id='ds-{esc(quote(name))}' class='dataset'><h2>{esc(name)}</h2>")
        parts.append(f"<p>{esc(str(found[-1].get('modality') or ''))} &middot; latest published: "
                     f"{esc(latest['version']) if latest else 'none'}</p>")
        parts.append("<table><tr><th>version</th><th>status</th><th>created</th><th>rows</th><th>model</th>"
                     "<th>gates</th><th>closest to their thresholds / why refused</th></tr>")
        for r in reversed(found):   # newest first
            folder = Path(r["path"])
            link = quote(folder.relative_to(root).as_posix() + "/report.html")
            status = r["status"] + (" (LATEST)" if r["latest"] else "")
            origin = f" sampled from {esc(r['sampled_from'])}" if r.get("sampled_from") else ""
            if r["status"] == "refused":
                card = read_card(folder) or {}
                detail = "".join(f"<li class='fail'>{esc(f['metric'])} {num(f['value'])} (gate "
                                 f"{num(f['threshold'])})" + (f": try {esc(f['next_step'])}" if f["next_step"] else "")
                                 + "</li>" for f in _failures(card))
                detail = f"<ul>{detail}</ul>" if detail else ""
            else:
                detail = f"<span class='near'>{esc(closest_text(r, 4))}</span>"
            parts.append(
                f"<tr class='version {esc(r['status'])}'><td><a href='{esc(link)}'>{esc(r['version'])}</a>{origin}</td>"
                f"<td class='{esc(r['status'])}'>{esc(status)}</td><td>{esc(str(r['created'] or ''))}</td>"
                f"<td>{r['rows'] or 0:,}</td><td>{esc(str(r['model'] or ''))}</td>"
                f"<td>{r['gates_passed']}/{r['gates']}</td><td>{detail}</td></tr>")
        parts.append("</table></section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
