"""synthgen's Python API, for notebooks and pipelines: the functions the CLI calls.

    import synthgen
    draft = synthgen.draft("adult.csv", label="income")     # the spec `synthgen init` would write
    result = synthgen.run(draft)                            # train, validate, publish (or raise GateFailed)
    result.metrics, result.path, result.data()              # gates, folder, the synthetic polars frame
    again = synthgen.load("adult").sample(rows=5_000)       # a new validated sample of the published model

Errors are the CLI's: `InputError` (exit 2: bad spec or data, raised before training where knowable),
`GateFailed` (exit 3: refused, nothing published; `.result` is the refused version, `.reasons` and
`.quarantine` say why and where). A spec can be a YAML file, a dict (relative paths are taken from `base_dir`,
default the current directory) or a `Draft`. `prefect=True` runs the same steps as a Prefect flow (tasks,
retries, artifacts); the default calls them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from synthgen.errors import GateFailed, InputError, SynthgenError, Unchanged
from synthgen.settings import DEFAULT_DATASETS_DIR


def flow(name: str):
    """A Prefect flow (or flow helper) from the `synthgen.flows` entry points: the orchestration layer
    registers itself, the library never imports it (the CLI and the Python API both run flows through this)."""
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="synthgen.flows") if ep.name == name]
    if not found:
        raise SynthgenError(f"no `synthgen.flows` entry point {name!r}: reinstall synthgen (pip install -e .) "
                            "or run with --no-prefect")
    return found[0].load()


@dataclass(frozen=True)
class Result:
    """One version of a dataset, published or refused, read from its folder."""

    dataset: str
    version: str
    status: Literal["published", "refused", "unchanged"]
    path: Path
    card: dict

    @classmethod
    def from_folder(cls, folder: str | Path, status: str | None = None) -> Result:
        from synthgen.catalog import read_card

        folder = Path(folder)
        card = read_card(folder)
        if card is None:
            raise InputError(f"{folder / 'card.json'}: missing or unreadable: not a synthgen version folder")
        status = status or ("published" if card.get("verdict", {}).get("passed") else "refused")
        return cls(card["dataset"], card["version"], status, folder, card)

    @property
    def modality(self) -> str:
        return self.card.get("modality", "tabular")

    @property
    def passed(self) -> bool:
        return bool(self.card["verdict"]["passed"])

    @property
    def verdict(self) -> dict:
        return self.card["verdict"]

    @property
    def reasons(self) -> list[str]:
        return list(self.card["verdict"].get("reasons", []))

    @property
    def next_steps(self) -> dict[str, str]:
        return dict(self.card["verdict"].get("next_steps", {}))

    @property
    def metrics(self) -> dict[str, float | None]:
        """Every gated metric's value by name."""
        return {c["metric"]: c["value"] for c in self.card["verdict"]["checks"] if c.get("kind") != "sampling"}

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    def data(self):
        """The synthetic data: a polars DataFrame (tables) or a `LabeledImages` (`.images` uint8 N x H x W x C,
        `.labels`, `.classes`), read by the modality's adapter as the pipeline reads it."""
        from synthgen.modalities import MODALITIES

        try:
            return MODALITIES.get(self.modality).read_synthetic(self.path)
        except FileNotFoundError:
            raise InputError(f"{self.path}: no synthetic data here (a version folder holds data.parquet or "
                             "data.npz)") from None

    def sample(self, *, rows: int | None = None, per_class: dict[str, int] | None = None, seed: int | None = None,
               prefect: bool = False, progress: bool = False) -> Result:
        """A new sample of this version's model, judged by the same gates against the same holdout and
        published as a new version (`synthgen sample`); GateFailed if it is refused."""
        options = dict(version=self.version, rows=rows, per_class=per_class, seed=seed)
        datasets = self.path.parent.parent
        return _published(lambda: _sample(self.dataset, datasets, prefect=prefect, progress=progress, **options))

    def screen(self, spec: Any, data: str | Path | None = None, *, out: str | Path | None = None,
               base_dir: str | Path | None = None) -> dict[str, Any]:
        """Screen `data` (a file or folder; default the spec's holdout split) with the anomaly scorer of `spec`
        (`synthgen screen`), using this version's output folder: the summary (counts, report path)."""
        return screen(spec, data, out=out, datasets=self.path.parent.parent, base_dir=base_dir)


def builtin(name: str):
    """A built-in real table (`synthgen builtins`) as a polars DataFrame: real data to try synthgen on."""
    from synthgen.sources.builtin import BUILTIN_TABLES

    if name not in BUILTIN_TABLES:
        raise InputError(f"builtin {name!r}: no such built-in table (available: {', '.join(sorted(BUILTIN_TABLES))})")
    return BUILTIN_TABLES[name].load()


def draft(path: str | Path, *, label: str | None = None, modality: str | None = None, name: str | None = None,
          spec_dir: str | Path | None = None):
    """The spec `synthgen init` would write for `path` (a `Draft`: `.spec` dict, `.yaml()`, `.write(file)`)."""
    from synthgen.drafting import draft_spec

    return draft_spec(path, label=label, modality=modality, name=name, spec_dir=spec_dir)


def load_spec(spec: Any, overrides: list[str] | tuple[str, ...] = (), *, base_dir: str | Path | None = None):
    """A validated spec (`LoadedSpec`) from a YAML file, a dict or a Draft."""
    from synthgen.drafting import Draft
    from synthgen.spec import load_spec as load_file, spec_from_dict

    if isinstance(spec, Draft):   # a draft is its dict, its paths relative to the folder it was drafted for
        return load_spec(spec.spec, overrides, base_dir=spec.base_dir)
    if isinstance(spec, dict):
        name = spec.get("name", "spec") if isinstance(spec.get("name"), str) else "spec"
        return spec_from_dict(spec, Path(base_dir or Path.cwd()) / f"{name}.yaml", overrides,
                              origin="the spec given as a dict")
    if isinstance(spec, (str, Path)):
        return load_file(spec, overrides)
    raise InputError(f"spec: give a YAML file, a dict or a Draft, not {type(spec).__name__}")


def run(spec: Any, *, overrides: list[str] | tuple[str, ...] = (), out: str | Path | None = None,
        prefect: bool = False, force: bool = False, progress: bool = False,
        base_dir: str | Path | None = None) -> Result:
    """Train, validate and publish one spec (`synthgen run`). Returns the published version (status
    "unchanged" when the latest published version already came from this source and spec, unless `force`);
    raises GateFailed (with `.result`, the refused version) or InputError."""
    loaded = load_spec(spec, overrides, base_dir=base_dir)
    if prefect:
        def via_flow():
            ended = flow("augment")(str(loaded.path), list(overrides), str(out) if out else None, progress=progress,
                                    force=force, spec=None if isinstance(spec, (str, Path))
                                    else loaded.spec.model_dump(mode="json"))
            if ended.status == "unchanged":
                raise Unchanged(ended.message, latest=ended.final)
            return ended.final

        return _published(via_flow)

    from synthgen.pipeline import run_pipeline

    return _published(lambda: run_pipeline(loaded.path, overrides, out, progress=progress, force=force,
                                           loaded=loaded))


def _published(call) -> Result:
    """`call()` -> the published folder, as a Result; Unchanged -> the latest version; a refusal keeps its
    exception with the refused version attached (`exc.result`)."""
    try:
        return Result.from_folder(call(), "published")
    except Unchanged as exc:
        return Result.from_folder(exc.latest, "unchanged")
    except GateFailed as exc:
        if exc.quarantine and (Path(exc.quarantine) / "card.json").is_file():
            exc.result = Result.from_folder(exc.quarantine, "refused")
        raise


def _sample(dataset: str, datasets: Path, *, prefect: bool, progress: bool, **options) -> Path:
    if prefect:
        return Path(flow("sample")(dataset, str(datasets), **options))
    from synthgen.pipeline import sample_pipeline

    return sample_pipeline(dataset, datasets, progress=progress, **options)


def load(dataset: str, datasets: str | Path = DEFAULT_DATASETS_DIR, version: str | None = None) -> Result:
    """A published version (the LATEST one unless `version` is given)."""
    from synthgen.catalog import show

    found = show(datasets, dataset, version)
    card = found["card"]
    return Result(card["dataset"], card["version"], found["status"], Path(found["path"]), card)


def versions(datasets: str | Path = DEFAULT_DATASETS_DIR, dataset: str | None = None) -> list[dict[str, Any]]:
    """Every published and refused version (`synthgen list --json`)."""
    from synthgen.catalog import versions as listed

    return listed(datasets, dataset)


def screen(spec: Any, data: str | Path | None = None, *, out: str | Path | None = None,
           datasets: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
           base_dir: str | Path | None = None, chunk_size: int | None = None) -> dict[str, Any]:
    """`synthgen screen`: score `data` (default: the spec's holdout split) with the spec's anomaly scorer; the
    summary (n, flagged, threshold, AUROC where labels allow, `out` with report.html)."""
    from synthgen.screening import CHUNK, screen_spec

    loaded = load_spec(spec, overrides, base_dir=base_dir)
    return screen_spec(loaded.path, input=data, out=out, overrides=list(overrides), datasets=datasets,
                       chunk_size=chunk_size or CHUNK, loaded=loaded)


def write_catalog(datasets: str | Path = DEFAULT_DATASETS_DIR) -> Path:
    """Write (atomically) and return the catalogue page DATASETS/index.html."""
    from synthgen.catalog import write_catalog as write

    return write(datasets)


__all__ = ["Result", "builtin", "draft", "load_spec", "run", "load", "versions", "screen", "write_catalog", "GateFailed",
           "InputError", "SynthgenError"]
