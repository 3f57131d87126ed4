"""The dataset card: built from the run record (`build_card`, card.json) and as Markdown (`card_markdown`)."""

from __future__ import annotations

import platform
from importlib import metadata

LIBRARIES = ("synthgen", "torch", "ctgan", "rdt", "polars", "pandas", "numpy", "scikit-learn",
             "great-expectations", "prefect", "pydantic")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


#: what the select step's judge measured on each candidate, in the order the card and report show it
CANDIDATE_KEYS = ("score", "quality_score", "detection_auc", "tstr_auroc_lost", "tstr_signal_ratio", "dcr_share",
                  "private")


def candidate_keys(candidates: list[dict]) -> list[str]:
    """The judge's measures that some candidate of the card carries."""
    return [k for k in CANDIDATE_KEYS if any(k in (c.get("judged") or {}) for c in candidates)]


def build_card(record, *, metrics: dict, model_meta: dict, synthetic) -> dict:
    """card.json from the run record (`record.RunRecord`), the metrics and model the run wrote, and the
    synthetic set's class counts. Real data never enters it: only counts, fingerprints and aggregates."""
    spec, chosen, sample = record.spec, record.chosen_candidate, record.sample
    return {
        "dataset": record.dataset, "version": record.version, "created": record.started,
        "description": spec.description, "spec_hash": record.spec_hash, "spec": spec.model_dump(mode="json"),
        "overrides": record.overrides, "source": record.source.model_dump(mode="json", exclude_none=True),
        "modality": spec.modality, "label": getattr(spec, "label", "class"), "rows": len(synthetic),
        "class_counts": {"train": model_meta["class_counts"], "synthetic": synthetic.class_counts()},
        "model": {"name": model_meta["generator"], "params": model_meta["params"],
                  "random_state": spec.model.random_state, "timings": model_meta["timings"],
                  "selection": model_meta["state"].get("selection")},
        "candidates": [c.model_dump(mode="json", exclude={"model"}) for c in record.candidates],
        "chosen_by": record.selection,
        "sample": {"random_state": spec.sample.random_state, "acceptance": sample.acceptance,
                   "min_acceptance": sample.min_acceptance, "per_class": sample.sampling,
                   "rows_per_s": sample.rows_per_s, "refusal": sample.refusal},
        "metrics": {k: v["value"] for k, v in metrics.items()},
        "verdict": record.verdict,
        "timings": dict(record.timings),
        "reused_model": chosen.reused_model, "model_key": chosen.key,
        "tasks": dict(record.tasks), "spec_path": record.spec_path,
        **({"sampled_from": record.sampled_from.model_dump(mode="json")} if record.sampled_from else {}),
        "versions": library_versions(),
        **({"screening": record.screening} if record.screening is not None else {}),
        **({"review_report": record.review_report} if record.review_report else {}),
    }


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def card_markdown(card: dict) -> str:
    verdict = card["verdict"]
    lines = [
        f"# {card['dataset']} — version {card['version']}",
        "",
        card.get("description") or "",
        "",
        f"**Verdict:** {'PASSED — published' if verdict['passed'] else 'FAILED — quarantined'}",
        "",
        f"- created: {card['created']}",
        f"- spec hash: `{card['spec_hash']}`",
        f"- source: {card['source']['source']['kind']} `{card['source']['source']['location']}` "
        f"({card['source']['source']['fingerprint']})",
        f"- rows: {card['rows']} synthetic; {card['source']['train_rows']} train, "
        f"{card['source']['holdout_rows']} holdout (never seen by the generator)",
        f"- label: `{card['label']}`",
        f"- model: {card['model']['name']}, random_state {card['model']['random_state']}, "
        f"sample random_state {card['sample']['random_state']}",
        "",
        "## Gates",
        "",
        "| metric | kind | value | threshold | pass |",
        "|---|---|---|---|---|",
    ]
    for check in verdict["checks"]:
        op = ">=" if check["direction"] == "higher" else "<="
        lines.append(f"| {check['metric']} | {check['kind']} | {_fmt(check['value'])} | {op} {check['threshold']} "
                     f"| {'yes' if check['passed'] else '**no**'} |")
    lines += ["", "## All metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in card["metrics"].items()]
    lines += ["", "## Classes", "", "| class | train | synthetic | acceptance | candidates drawn (budget) |",
              "|---|---|---|---|---|"]
    for cls, n in card["class_counts"]["train"].items():
        acc = card["sample"]["acceptance"].get(cls)
        cost = card["sample"].get("per_class", {}).get(cls) or {}
        drawn = f"{cost['candidates']} ({cost['budget']})" if cost else "—"
        lines.append(f"| {cls} | {n} | {card['class_counts']['synthetic'].get(cls, 0)} | {_fmt(acc)} | {drawn} |")
    if card["sample"].get("min_acceptance") is not None:
        lines += ["", f"Sampling budget: each class may cost up to max(rows, 100) / {card['sample']['min_acceptance']:g} "
                      "candidates (sample.min_acceptance)."]
    if len(card.get("candidates", [])) > 1:
        keys = candidate_keys(card["candidates"])
        lines += ["", "## Candidates", "", f"Chosen by: {card['chosen_by'].get('criterion')}", "",
                  "| # | generator | " + " | ".join(keys) + " | train s | chosen |", "|---" * (len(keys) + 4) + "|"]
        for i, c in enumerate(card["candidates"]):
            judged = c.get("judged") or {}
            lines.append(f"| {i} | {c['name']} | " + " | ".join(_fmt(judged.get(k)) for k in keys)
                         + f" | {_fmt(c.get('train_s'))} | {'yes' if i == card['chosen_by'].get('chosen') else ''} |")
    trained = card["model"].get("timings") or {}
    if trained:
        lines += ["", "## Training", ""] + [f"- {k}: {_fmt(v)}" for k, v in trained.items() if v is not None]
    lines += ["", "## Model parameters", "", "```json"]
    import json

    lines += [json.dumps(card["model"]["params"], indent=2), "```", "", "## Timings (s)", ""]
    lines += [f"- {k}: {v}" for k, v in card["timings"].items()]
    lines += ["", "## Library versions", ""]
    lines += [f"- {k} {v}" for k, v in card["versions"].items()]
    protection = card["source"].get("protection")
    if protection:
        lines += ["", "## Value protection", ""]
        if not protection.get("enabled"):
            lines.append(f"**Off.** {protection.get('note', '')}")
        else:
            lines.append(f"Categories on fewer than {protection['min_rows']} training rows became a protected token; "
                         f"numeric and date extremes were clipped to the {protection['min_rows']}th smallest / largest "
                         f"value ({protection['rows_changed']} values changed).")
            lines += [f"- {c}: " + ", ".join(f"{k} {v}" for k, v in r.items() if k != "token")
                      for c, r in protection["columns"].items()]
    if card["source"].get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in card["source"]["warnings"]]
    return "\n".join(lines) + "\n"
