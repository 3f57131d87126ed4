"""`synthgen` command line. Exit codes: 0 published, 3 gate failed, 2 bad input or spec.

Only the standard library is imported at start-up; each command imports what it needs, so
`synthgen --help` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from synthgen.api import flow  # the API and the CLI run Prefect flows the same way
from synthgen.settings import DEFAULT_DATASETS_DIR


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="synthgen",
        description="Train a conditional GAN on a real dataset, emit a labeled synthetic dataset, and "
        "publish it only if quality and privacy gates pass.",
        epilog="Exit codes: 0 published, 2 bad input or spec, 3 gate failed (nothing published).",
    )
    sub = p.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="write a commented spec for a data file or folder (label, column types "
                          "and defaults, with the reasons), ready for `synthgen run`")
    init.add_argument("path", type=Path, metavar="PATH", help="a CSV/Parquet table, an image folder (one subfolder "
                      "per class), a MedMNIST-style .npz, or DICOM/NIfTI files")
    init.add_argument("--label", default=None, metavar="COLUMN", help="the table's label column (default: a "
                      "column named like one; asked for when none is obvious)")
    init.add_argument("--modality", choices=["tabular", "image"], default=None,
                      help="default: told from the path")
    init.add_argument("--name", default=None, help="the dataset's name (default: from the file name)")
    init.add_argument("-o", "--output", type=Path, default=None, metavar="FILE",
                      help="where to write the spec (default: ./<name>.yaml)")
    init.add_argument("--force", action="store_true", help="replace an existing spec file")

    run = sub.add_parser("run", help="run the augmentation flow for one or more specs")
    run.add_argument("specs", nargs="+", type=Path, metavar="SPEC", help="dataset spec YAML file(s)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a spec value, e.g. --set model.epochs=5 (repeatable)")
    run.add_argument("--out", type=Path, default=None, help="output folder (default: the spec's output.dir)")
    run.add_argument("--no-prefect", action="store_true",
                     help="call the library directly instead of running the Prefect flow")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--force", action="store_true",
                     help="run even when the source and spec equal those of the latest published version "
                     "(otherwise such a run exits 0 at once, retraining nothing)")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="run the specs concurrently on a local dask cluster of N worker processes "
                     "(torch threads per worker capped at cores / N); metrics and per-class sampling "
                     "become tasks the cluster spreads")
    run.add_argument("--cluster", default=None, metavar="ADDRESS",
                     help="join a running dask scheduler (tls://host:8786) instead; the output folder and "
                     "the sources must be on storage every worker sees")
    _cluster_security_options(run)

    check = sub.add_parser("check", help="validate spec files (and --set overrides) without running")
    check.add_argument("specs", nargs="+", type=Path, metavar="SPEC")
    check.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    deploy = sub.add_parser("deploy", help="register a Prefect deployment with the spec's cron schedule, or "
                            "(--sampling) the on-request sampling deployment")
    deploy.add_argument("spec", type=Path, metavar="SPEC", nargs="?")
    deploy.add_argument("--sampling", action="store_true",
                        help="register `sample-dataset/on-request` (new samples of published models on request)")
    deploy.add_argument("--datasets", type=Path, default=Path(DEFAULT_DATASETS_DIR), metavar="DIR",
                        help="with --sampling: where the published datasets are")
    deploy.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    deploy.add_argument("--out", type=Path, default=None)

    screen = sub.add_parser("screen", help="screen data for anomalies with the spec's scorer (exit 0 also "
                            "when anomalies are found; the count is printed)")
    screen.add_argument("spec", type=Path, metavar="SPEC")
    screen.add_argument("--input", type=Path, default=None, metavar="PATH",
                        help="data to screen, read with the spec's source settings (default: the spec's "
                        "own holdout split)")
    screen.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="where scores.parquet and report.html go (default: DATASETS/<name>/screening/<time>)")
    screen.add_argument("--datasets", type=Path, default=None, metavar="DIR",
                        help="where published datasets are looked up (default: the spec's output.dir)")
    screen.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    screen.add_argument("--no-prefect", action="store_true")
    screen.add_argument("--chunk-size", type=int, default=4096, metavar="N",
                        help="an --input is read and scored N items at a time (memory bounded by N, not the input)")
    screen.add_argument("--workers", type=int, default=None, metavar="N",
                        help="score the chunks on a local dask cluster of N worker processes")
    screen.add_argument("--cluster", default=None, metavar="ADDRESS", help="score the chunks on this dask scheduler")
    _cluster_security_options(screen)

    sample = sub.add_parser("sample", help="draw a new sample from a published model, validate it with the "
                            "same gates against the same holdout, and publish it as a new version")
    sample.add_argument("dataset", metavar="DATASET")
    sample.add_argument("--version", default=None, help="the published version whose model to use (default: LATEST)")
    sample.add_argument("--rows", type=int, default=None, metavar="N")
    sample.add_argument("--per-class", default=None, metavar="CLASS=N,...",
                        help="exact rows per class, e.g. Yes=500,No=100 (classes not named get the rest of --rows)")
    sample.add_argument("--seed", type=int, default=None, metavar="S")
    sample.add_argument("--datasets", type=Path, default=Path(DEFAULT_DATASETS_DIR), metavar="DIR",
                        help=f"where the published datasets are (default: {DEFAULT_DATASETS_DIR})")
    sample.add_argument("--no-prefect", action="store_true")

    ls = sub.add_parser("list", help="published and refused versions with verdicts and headline metrics")
    ls.add_argument("--datasets", type=Path, default=Path(DEFAULT_DATASETS_DIR), metavar="DIR")
    ls.add_argument("--json", action="store_true")
    show = sub.add_parser("show", help="one version's card: source, model, every gate")
    show.add_argument("dataset", metavar="DATASET")
    show.add_argument("--version", default=None)
    show.add_argument("--datasets", type=Path, default=Path(DEFAULT_DATASETS_DIR), metavar="DIR")
    show.add_argument("--json", action="store_true")

    catalog = sub.add_parser("catalog", help="write the catalogue page DIR/index.html: every dataset and "
                             "version, published and refused, with the gates closest to failing and links to reports")
    catalog.add_argument("--datasets", type=Path, default=Path(DEFAULT_DATASETS_DIR), metavar="DIR")

    clean = sub.add_parser("clean", help="remove the staging folders of runs that are no longer alive and half-written folders of dead writers (never "
                           "checkpoints, models or published versions)")
    clean.add_argument("dirs", nargs="*", type=Path, default=[Path(DEFAULT_DATASETS_DIR)], metavar="DIR",
                       help=f"output folders (default: {DEFAULT_DATASETS_DIR})")

    schema = sub.add_parser("schema", help="print (or --write) the JSON Schema of dataset specs")
    schema.add_argument("--write", type=Path, default=None, metavar="FILE")

    sub.add_parser("builtins", help="list the built-in real datasets")
    return p


def _cluster_security_options(parser) -> None:
    parser.add_argument("--tls-ca", default=None, metavar="FILE", help="with a tls:// --cluster: the CA certificate")
    parser.add_argument("--tls-cert", default=None, metavar="FILE", help="with a tls:// --cluster: this client's certificate")
    parser.add_argument("--tls-key", default=None, metavar="FILE", help="with a tls:// --cluster: this client's key")
    parser.add_argument("--insecure", action="store_true",
                        help="allow a plain tcp:// --cluster on another host (anyone who reaches an unencrypted "
                        "dask scheduler can run code beside the real data)")


def _security(args):
    """The dask Security for --cluster (None for --workers or a loopback tcp:// scheduler)."""
    from synthgen.cluster import security_for

    if not args.cluster:
        return None
    return security_for(args.cluster, ca=args.tls_ca, cert=args.tls_cert, key=args.tls_key, insecure=args.insecure)


def _run(args) -> int:
    """Run every spec even if one fails; the exit code is the worst one (3 > 2 > 0)."""
    from synthgen.cluster import outcome
    from synthgen.errors import SynthgenError
    from synthgen.spec import load_spec

    if args.workers is not None or args.cluster:
        return _run_distributed(args)
    worst = 0
    for spec in args.specs:
        try:
            load_spec(spec, args.overrides)  # refuse a bad spec before starting Prefect
            if args.no_prefect:
                from synthgen.pipeline import run_pipeline

                ended = outcome(run_pipeline, str(spec), args.overrides, args.out, progress=not args.quiet,
                                force=args.force)
            else:
                ended = flow("augment")(str(spec), list(args.overrides), str(args.out) if args.out else None,
                                        progress=not args.quiet, force=args.force)
        except SynthgenError as exc:
            _report(exc)
            worst = max(worst, exc.exit_code)
            continue
        worst = max(worst, _print_outcome(ended))
    return worst


def _print_outcome(ended) -> int:
    """One spec's `cluster.RunOutcome` as the CLI's lines; its exit code."""
    where = f" (worker {ended.worker})" if ended.worker != "local" else ""
    if ended.status == "published":
        print(f"{ended.spec}: published {ended.final}{where}")
        _print_screening(ended.final)
    else:
        _say(ended.exit_code, ended.message)
    return ended.exit_code


def _run_distributed(args) -> int:
    """Every valid spec as one task on a dask cluster (through Prefect's DaskTaskRunner unless
    --no-prefect); a bad spec is refused here and the others still run. Exit code: the worst."""
    import uuid

    from synthgen.cluster import check_shared, cluster
    from synthgen.errors import InputError, SynthgenError
    from synthgen.spec import load_spec

    if args.workers is not None and args.cluster:
        raise InputError("give --workers N (a local cluster) or --cluster ADDRESS (an existing one), not both")
    security = _security(args)
    worst, jobs, shared = 0, [], {}
    for spec in args.specs:
        try:
            loaded = load_spec(spec, args.overrides)
        except SynthgenError as exc:
            _report(exc)
            worst = max(worst, exc.exit_code)
            continue
        out = (args.out or Path(loaded.spec.output.dir)).resolve()  # workers may not share this cwd
        jobs.append((str(loaded.path), list(args.overrides), str(out), args.force))
        shared[f"output folder of {spec}"] = out
        shared[f"folder of {spec}"] = loaded.base_dir
    if not jobs:
        return worst
    with cluster(args.workers, args.cluster, security) as client:
        if args.cluster:
            check_shared(client, shared)
        if args.no_prefect:
            from synthgen.pipeline import run_outcome

            futures = [client.submit(run_outcome, *job, pure=False, key=f"run-{Path(job[0]).stem}-{uuid.uuid4().hex[:8]}")
                       for job in jobs]
            outcomes = client.gather(futures)
        else:
            outcomes = flow("augment_many")(jobs, address=client.scheduler.address, security=security)
    for ended in outcomes:
        worst = max(worst, _print_outcome(ended))
    return worst


def _print_screening(final) -> None:
    import json

    card = Path(final) / "card.json"
    if card.exists() and "screening" in (data := json.loads(card.read_text())):
        print(screen_line(data["dataset"], data["screening"]))


def _report(exc) -> None:
    _say(exc.exit_code, str(exc))


def _say(exit_code: int, message: str) -> None:
    if exit_code == 0:  # nothing to do (unchanged): not an error
        print(f"synthgen: {message}")
        return
    kind = {2: "bad input", 3: "refused"}.get(exit_code, "error")
    print(f"synthgen: {kind}: {message}", file=sys.stderr)


def _check(args) -> int:
    from synthgen.spec import load_spec

    for spec in args.specs:
        loaded = load_spec(spec, args.overrides)
        print(f"{spec}: ok ({loaded.spec.modality}, {loaded.spec.name}, hash {loaded.spec_hash[:12]})")
    return 0


def _screen(args) -> int:
    from synthgen.spec import load_spec

    load_spec(args.spec, args.overrides)  # refuse a bad spec before starting Prefect
    kwargs = dict(input=str(args.input) if args.input else None, out=str(args.out) if args.out else None,
                  overrides=list(args.overrides), datasets=str(args.datasets) if args.datasets else None,
                  chunk_size=args.chunk_size, workers=args.workers, cluster=args.cluster,
                  tls=[args.tls_ca, args.tls_cert, args.tls_key] if any((args.tls_ca, args.tls_cert, args.tls_key))
                  else None, insecure=args.insecure)
    _security(args)  # refuse an unsafe --cluster before starting Prefect
    if args.no_prefect:
        from synthgen.screening import screen_spec

        summary = screen_spec(str(args.spec), **kwargs)
    else:
        summary = flow("screen")(str(args.spec), **kwargs)
    print(screen_line(args.spec, summary))
    return 0


def screen_line(spec, s: dict) -> str:
    extra = f", AUROC {s['auroc']:.3f}, precision@{s['precision_at_k']['k']} {s['precision_at_k']['value']:.2f}" \
        if "auroc" in s else ""
    return (f"{spec}: screened {s['n']} ({s['input']}), flagged {s['flagged']} above threshold "
            f"{s['threshold']:.4g}{extra}; scorer {s['scorer']} {s.get('scorer_origin', '')}; "
            f"report {Path(s['out']) / 'report.html'}")


def _deploy(args) -> int:
    from synthgen.errors import InputError

    if args.sampling:
        deployment_id = flow("deploy_sampling")(args.datasets)
        print(f"deployment {deployment_id} registered: sample-dataset/on-request over {args.datasets}")
        return 0
    if args.spec is None:
        raise InputError("synthgen deploy: give a SPEC (a scheduled augmentation) or --sampling")
    deployment_id = flow("deploy")(args.spec, args.overrides, args.out)
    print(f"deployment {deployment_id} registered for {args.spec}")
    return 0


def _per_class(text: str | None) -> dict[str, int] | None:
    from synthgen.errors import InputError

    if not text:
        return None
    out = {}
    for part in text.split(","):
        name, _, count = part.partition("=")
        if not name.strip() or not count.strip().isdigit():
            raise InputError(f"--per-class {text!r}: expected CLASS=N[,CLASS=N...], e.g. Yes=500,No=100 ({part!r})")
        out[name.strip()] = int(count)
    return out


def _sample(args) -> int:
    options = dict(version=args.version, rows=args.rows, per_class=_per_class(args.per_class), seed=args.seed)
    if args.no_prefect:
        from synthgen.pipeline import sample_pipeline

        final = sample_pipeline(args.dataset, args.datasets, **options)
    else:
        final = flow("sample")(args.dataset, str(args.datasets), **options)
    print(f"{args.dataset}: published {final}")
    return 0


def _init(args) -> int:
    from synthgen.api import draft

    output = args.output
    drafted = draft(args.path, label=args.label, modality=args.modality, name=args.name,
                    spec_dir=(output.parent if output else Path.cwd()))
    output = output or Path(f"{drafted.spec['name']}.yaml")
    drafted.write(output, force=args.force)
    for line in drafted.summary:
        print(f"  {line}")
    for choice in drafted.choices:
        if choice.value is not None:
            print(f"  {choice.key}: {choice.value}  ({choice.reason})")
    for warning in drafted.warnings:
        print(f"synthgen: warning: {warning}", file=sys.stderr)
    print(f"wrote {output}; check it, then: synthgen run {output}")
    return 0


def _catalog(args) -> int:
    from synthgen.api import write_catalog

    print(f"wrote {write_catalog(args.datasets)}")
    return 0


def _list(args) -> int:
    import json

    from synthgen.catalog import list_text, versions

    rows = versions(args.datasets)
    print(json.dumps(rows, indent=2) if args.json else list_text(rows))
    return 0


def _show(args) -> int:
    import json

    from synthgen.catalog import show, show_text

    found = show(args.datasets, args.dataset, args.version)
    print(json.dumps(found, indent=2) if args.json else show_text(found))
    return 0


def _clean(args) -> int:
    from synthgen.publish import clean_stale

    for folder in args.dirs:
        removed = clean_stale(folder)
        print(f"{folder}: removed {len(removed)} stale run folder(s)" + "".join(f"\n  {p}" for p in removed))
    return 0


def _schema(args) -> int:
    from synthgen.spec import json_schema_text

    text = json_schema_text()
    if args.write:
        args.write.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _builtins(args) -> int:
    from synthgen.sources.builtin import BUILTIN_TABLES
    from synthgen.sources.images import builtin_image_sets

    for t in BUILTIN_TABLES.values():
        print(f"{t.name:15} tabular  label={t.label:10} {t.description}")
    for name, description in builtin_image_sets():
        print(f"{name:15} image    {description}")
    return 0


COMMANDS = {"init": _init, "catalog": _catalog, "run": _run, "check": _check, "clean": _clean, "sample": _sample, "list": _list, "show": _show, "screen": _screen, "deploy": _deploy, "schema": _schema, "builtins": _builtins}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import synthgen  # noqa: F401  (applies synthgen's environment defaults)

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the CLI prints its own summary
    from synthgen.errors import SynthgenError

    shown = warnings.formatwarning  # deprecations read as one line while the command runs, then as before
    warnings.formatwarning = lambda message, category, *a, **k: f"synthgen: warning: {message}\n"
    try:
        return COMMANDS[args.command](args)
    except SynthgenError as exc:
        _report(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("synthgen: interrupted; nothing was published", file=sys.stderr)
        return 130
    except MemoryError:
        print("synthgen: bad input: the input does not fit in this machine's memory; nothing was published. "
              "Use a smaller input (fewer rows, images or splits) or stream it (synthgen screen --input "
              "--chunk-size)", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = shown


if __name__ == "__main__":
    sys.exit(main())
