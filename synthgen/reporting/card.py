"""The dataset card as Markdown (card.json holds the same facts for machines)."""

from __future__ import annotations


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
