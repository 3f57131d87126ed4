"""Dataset specs: the one place that knows the YAML shape.

A spec is one YAML file per dataset (see schemas/). It is validated by the pydantic models below;
unknown keys and wrong types are errors that name the key and the file. `--set a.b=value`
overrides any value before validation, so overrides are validated exactly like the file.
The JSON Schema in schemas/spec.schema.json is generated from these models (`synthgen schema`).

The sections here are the spec's own. `model:` and `screen.scorer:` are unions built from the
registries: every generator and scorer declares its parameter model beside its class
(`params_model`), so adding one never edits this module (see `spec_model`).
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from synthgen.errors import InputError, excerpt
from synthgen.params import Params
from synthgen.settings import DEFAULT_DATASETS_DIR


MAX_SPEC_BYTES = 1_000_000     # a spec is a page of settings; anything near this size is not one


class _YAML12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 reads a class called `Yes` or `No` as a bool.
    Aliases (`*name`) are refused where they occur, before anything expands: a few hundred bytes of nested
    aliases expand to gigabytes ("billion laughs"), and a spec never needs one."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"aliases (*{event.anchor[:40]}) are not allowed in a "
                                              "spec: write the value out", event.start_mark)
        return super().compose_node(parent, index)


_YAML12Loader.yaml_implicit_resolvers = {
    key: [r for r in resolvers if r[0] != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YAML12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml(text: str):
    return yaml.load(text, Loader=_YAML12Loader)  # noqa: S506 - a SafeLoader subclass


_Strict = Params  # every spec section: unknown keys are errors, defaults validated


class _OneSource(_Strict):
    """A source is either a path or a built-in data set, never both."""

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.builtin is None):
            raise ValueError("give exactly one of source.path or source.builtin")
        return self


class SourceSpec(_OneSource):
    """Where the real data comes from: a CSV/Parquet file or a table that ships inside a package."""

    path: str | None = Field(
        None, description="CSV or Parquet file; a relative path is resolved against the spec file's folder."
    )
    builtin: str | None = Field(None, description="Name of a built-in real table (see `synthgen builtins`).")
    format: Literal["csv", "parquet"] | None = Field(None, description="Defaults to the file suffix.")
    separator: str = Field(",", description="CSV field separator.")



ColumnType = Literal["numeric", "categorical", "datetime", "drop"]


class ColumnSpec(_Strict):
    type: ColumnType = Field(description="Override the inferred type; `drop` removes the column.")


class SplitSpec(_Strict):
    """The holdout is never seen by the generator; every fidelity and privacy metric uses it."""

    holdout: float = Field(0.2, gt=0.0, lt=1.0, description="Share of real rows held out.")
    random_state: int = 0
    stratify: bool = Field(True, description="Keep class shares equal in train and holdout.")
    min_class_rows: int = Field(10, ge=2, description="A label class with fewer rows (images) than this is "
                                "too small to train on, hold out and judge: refused before training, or "
                                "handled as `rare_classes` says.")
    rare_classes: Literal["refuse", "drop", "merge"] = Field(
        "refuse", description="What to do with classes below min_class_rows: refuse the data (default), drop "
        "their rows, or merge them into one class `other`. The card records what was done.")


class SampleSpec(_Strict):
    """How many labeled rows to emit. Counts per class are exact (condition, then filter)."""

    rows: int | None = Field(
        None, ge=1, description="Total rows; default = size of the training split."
    )
    per_class: dict[str, int] | None = Field(
        None, description="Exact rows per class (class value as text); other classes share `rows`."
    )
    balance: bool = Field(False, description="Split `rows` evenly over the classes.")
    min_acceptance: float = Field(
        0.01, gt=0, le=1, description="The sampler's budget: each class may cost up to max(rows, 100) / "
        "min_acceptance candidate rows (draws are sized from the acceptance measured so far), so a class is "
        "refused only when fewer than this share of its candidates are kept (the condition honoured, the "
        "rejection filter passed). The card records what each class cost."
    )
    random_state: int = 0

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, value):
        if isinstance(value, dict) and "max_rounds" in value:
            value = dict(value)
            value.pop("max_rounds")
            warnings.warn("sample.max_rounds is no longer used and is ignored: the sampler sizes its draws from "
                          "the acceptance it measures, within the budget that sample.min_acceptance states",
                          FutureWarning, stacklevel=2)
        return value

    @field_validator("per_class", mode="before")
    @classmethod
    def _class_names_as_text(cls, value):
        # class values are matched as text: `0: 100` in YAML means the class "0"
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _counts(self) -> "SampleSpec":
        if self.per_class is not None:
            bad = {k: v for k, v in self.per_class.items() if v < 0}
            if bad:
                raise ValueError(f"per_class counts must be >= 0, got {bad}")
        if self.balance and self.per_class:
            raise ValueError("use either balance or per_class, not both")
        return self


class TabularGates(_Strict):
    """Gate thresholds by metric name (null disables a gate). Directions come from the metrics."""

    gx_success_rate: float | None = Field(0.8, description="min share of GX expectations met")
    quality_score: float | None = Field(0.75, description="min mean of column shapes and pair trends")
    detection_auc: float | None = Field(0.95, description="max AUROC of a real-vs-synthetic classifier")
    tstr_signal_ratio: float | None = Field(
        0.5, description="min (TSTR AUROC - 0.5) / (TRTR AUROC - 0.5) on the holdout"
    )
    augmentation_uplift: float | None = Field(
        None, description="min change in holdout AUROC from adding synthetic rows to the real ones"
    )
    augmentation_no_harm: float | None = Field(
        -0.01, description="min upper 95% bootstrap bound of the holdout AUROC change from adding the "
        "synthetic rows to the real ones: below it, the synthetic data confidently hurts a model")
    exact_copy_excess: float | None = Field(
        0.02, description="max share of synthetic rows equal to a train row, minus the holdout's rate"
    )
    dcr_share: float | None = Field(0.6, description="max share of synthetic rows whose nearest real row is a training row, rescaled so that real rows read 0.5 and copies 1.0")
    close_to_train_share: float | None = Field(
        0.1, description="max share of synthetic rows closer to train than the holdout's 5th percentile"
    )
    mia_auroc: float | None = Field(0.6, description="max AUROC of the membership-inference ensemble")
    rare_value_excess: float | None = Field(
        0.1, description="max per-column share of train-only minus holdout-only rare values reproduced"
    )


class ValidationSpec(_Strict):
    max_rows: int = Field(
        20000, ge=100, description="Privacy and detection metrics use at most this many rows per side."
    )
    near_unique_ratio: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A categorical column with more distinct values than this share of rows is refused.",
    )
    max_categories: int = Field(
        500, ge=2, description="A categorical column with more categories than this is refused."
    )


class OutputSpec(_Strict):
    dir: str = Field(DEFAULT_DATASETS_DIR, description="Datasets land in DIR/<name>/<version>/; a relative DIR is taken from the current directory.")
    version: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$",
                                description="A plain folder name (letters, digits, '_', '-', '.'; no '/' or "
                                "'..'); default: UTC time stamp of the run. An existing version, published or "
                                "refused, is refused before the run starts.")
    keep: int | None = Field(None, ge=1, description="Keep the newest N published versions (the one LATEST names "
                             "always stays; only folders whose card names this dataset and version are ever "
                             "removed); null = keep all.")

    @field_validator("version")
    @classmethod
    def _plain_version(cls, value):
        if value is not None and ".." in value:
            raise ValueError("must not contain '..'")
        return value


class ScheduleSpec(_Strict):
    cron: str = Field(description="Cron expression for `synthgen deploy`.")
    timezone: str = "UTC"


class _ScreenSpec(_Strict):
    normal_classes: list[str] | None = Field(None, description="Classes that count as normal: the scorer is "
                                             "fitted on them only; null = every class.")
    top_k: int = Field(16, ge=1, description="Highest-scoring items shown in the screening report.")


class ProtectionSpec(_Strict):
    """Value protection before training (on by default): what a single real row alone carries never reaches
    the model, so it cannot reach the synthetic data, the model files or the published expectations."""

    enabled: bool = Field(True, description="Off: rare categories and extreme values of the real rows are in "
                          "the model and may be in the synthetic data (the card says so).")
    min_rows: int = Field(5, ge=2, description="A category carried by fewer training rows becomes `_RARE_`; "
                          "numeric and date values below the min_rows-th smallest or above the min_rows-th "
                          "largest training value are clipped to it (so every published bound is shared by "
                          "at least min_rows rows). The label's classes are not touched (split.min_class_rows).")


class AutoModelSpec(_Strict):
    """`model: {name: auto}`: every generator of the modality (or those named) trained as candidates, the one
    the select step's judge ranks highest on the selection split published."""

    name: Literal["auto"] = "auto"
    generators: list[str] | None = Field(None, min_length=1, description="The generators to train, by name, "
                                         "each at its defaults; null: every generator of the modality.")
    epochs: int | None = Field(None, ge=1, description="When set, every candidate trains at most this many "
                               "epochs (its own budget otherwise).")
    random_state: int = 0


class _DatasetSpec(_Strict):
    """What every modality's spec has: a name, the split, the sample, the output and schedule (here), and
    `model:` with its `candidates:` (built from the registries); each modality adds its own sections."""

    modality: str            # each modality's spec narrows it to its own name
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,99}$")]
    description: str = ""
    split: SplitSpec = Field(default_factory=SplitSpec)
    sample: SampleSpec = Field(default_factory=SampleSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)
    schedule: ScheduleSpec | None = None

    def candidate_models(self) -> list:
        """The generator configurations a run trains: `model:` first (`auto`: every generator of the
        modality in the adapter's preferred order, each at its defaults), then `candidates:`."""
        models = [self.model]
        if self.model.name == "auto":
            _, generators, _ = _registries()
            shared = {"random_state": self.model.random_state,
                      **({"epochs": self.model.epochs} if self.model.epochs else {})}
            models = [generators.get(n).params_model(**shared)
                      for n in auto_generators(self.modality, self.model.generators)]
        return [*models, *(getattr(self, "candidates", None) or [])]

    @model_validator(mode="before")
    @classmethod
    def _default_model_name(cls, value):
        """`model:` without a name (e.g. only `--set model.steps=100`) is the modality's default model."""
        if isinstance(value, dict) and isinstance(value.get("model"), dict) and "name" not in value["model"]:
            from synthgen.modalities import MODALITIES

            if value.get("modality") in MODALITIES.names():
                adapter = MODALITIES.get(value["modality"])
                value = {**value, "model": {"name": adapter.default_model or adapter.default_generator,
                                            **value["model"]}}
        return value

    @model_validator(mode="after")
    def _candidates_share_selection(self):
        if self.model.name == "auto":
            auto_generators(self.modality, self.model.generators)   # names known and of this modality
        seed = getattr(self.model, "random_state", None)
        for i, other in enumerate(getattr(self, "candidates", None) or []):
            if getattr(other, "random_state", None) != seed:
                raise ValueError(f"candidates[{i}].random_state is {other.random_state} but model.random_state is "
                                 f"{seed}: candidates carve their selection split with it, so they must share it "
                                 "to be judged on rows none of them trained on")
        return self


def auto_generators(modality: str, named: list[str] | None) -> list[str]:
    """The generators `model: auto` trains: those named, or every one of the modality in its adapter's
    preferred order (the default generator first when it states none)."""
    modalities, generators, _ = _registries()
    known = [n for n, cls in generators.items() if cls.modality == modality]
    adapter = modalities.get(modality)
    order = list(adapter.preferred_generators) or [adapter.default_generator]
    known = sorted(known, key=lambda n: (order.index(n) if n in order else len(order), known.index(n)))
    unknown = [n for n in named or [] if n not in known]
    if unknown:
        raise ValueError(f"model.generators: {unknown} are not {modality} generators (known: {', '.join(known)})")
    return list(named or known)


# Sections of the spec that do not shape a trained model: a run that differs only in these reuses it.
UNTRAINED_FIELDS = ("description", "sample", "gates", "validation", "output", "schedule", "screen", "candidates")


def training_key(spec, model, fingerprint: str) -> str:
    """The model-store key of one generator configuration trained on this spec's data: every spec field that
    shapes training (not UNTRAINED_FIELDS), the configuration and the source fingerprint."""
    relevant = {k: v for k, v in spec.model_dump(mode="json").items() if k not in UNTRAINED_FIELDS}
    relevant["model"] = model.model_dump(mode="json")
    relevant["source_fingerprint"] = fingerprint
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


class _TabularSpec(_DatasetSpec):
    modality: Literal["tabular"]
    source: SourceSpec
    label: str
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    protection: ProtectionSpec = Field(default_factory=ProtectionSpec)
    gates: TabularGates = Field(default_factory=TabularGates)
    validation: ValidationSpec = Field(default_factory=ValidationSpec)


class ImageSourceSpec(_OneSource):
    """Image folders (one subfolder per class), MedMNIST-style NPZ, DICOM or NIfTI, or a built-in set."""

    path: str | None = Field(None, description="File or folder; relative to the spec file's folder.")
    builtin: str | None = Field(None, description="Built-in image set (see `synthgen builtins`).")
    format: Literal["folder", "npz", "dicom", "nifti"] | None = Field(
        None, description="Default: npz for .npz, nifti for .nii/.nii.gz, dicom for .dcm, else folder.")
    class_names: dict[str, str] | None = Field(
        None, description="Rename classes, e.g. NPZ label 0 -> normal: {0: normal, 1: pneumonia}.")
    npz_splits: list[str] = Field(
        default_factory=lambda: ["train", "val", "test"],
        description="NPZ splits pooled as real data (keys <split>_images / <split>_labels).")
    window: tuple[float, float] | None = Field(
        None, description="DICOM window (center, width); default: the file's own window, else min-max.")
    slice_axis: int = Field(2, ge=0, le=2, description="NIfTI: slice along this axis.")
    mask: bool = Field(True, description="NIfTI: drop slices whose body/brain mask is nearly empty.")
    min_foreground: float = Field(0.05, ge=0, le=1, description="NIfTI: least mask share to keep a slice.")

    @field_validator("class_names", mode="before")
    @classmethod
    def _names_as_text(cls, value):
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else value



class ImageShapeSpec(_Strict):
    size: int | None = Field(None, ge=8, le=256, description="Square side in pixels; default: the source's.")
    channels: Literal[1, 3] | None = Field(None, description="1 (gray) or 3 (RGB); default: the source's.")


class ImageGates(_Strict):
    """Gate thresholds by metric name (null disables a gate)."""

    label_fidelity_ratio: float | None = Field(0.6, description="min over classes of the real-data classifier's accuracy on synthetic images of the class over its recall on the class's holdout images (capped at 1; fresh real images of the same task scored down to 0.70 in bench/bench_suite.py)")
    fd_ratio: float | None = Field(100.0, description="max Fréchet distance (classifier features) to train, over the holdout's (fresh real images of the same task scored up to 75 in bench/bench_suite.py)")
    coverage: float | None = Field(0.3, description="min coverage (Naeem et al. 2020) of the real train features")
    tstr_chance_ratio: float | None = Field(0.5, description="min (TSTR - 1/K) / (TRTR - 1/K) on the holdout's balanced accuracy (mean per-class recall), K classes")
    augmentation_uplift: float | None = Field(None, description="min change in holdout accuracy from adding synthetic images")
    memorization_share: float | None = Field(0.05, description="max share of synthetic images closer to train than the holdout's 1st percentile (pixel or feature space, the worse)")
    dcr_share: float | None = Field(0.6, description="max share of synthetic images whose nearest real image is a training image, rescaled so that real images read 0.5 and copies 1.0 (pixel or feature space, the worse)")
    augmentation_no_harm: float | None = Field(-0.01, description="min upper 95% bootstrap bound of the holdout accuracy change from adding the synthetic images to the real ones: below it, they confidently hurt a model")


class ImageValidationSpec(_Strict):
    classifier_epochs: int = Field(5, ge=1, description="Epochs of the small CNN used as feature network and for TSTR.")
    max_images: int = Field(4000, ge=50, description="Metrics use at most this many images per side.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where the validation CNN trains and "
                                                   "runs: auto = CUDA when present.")
    min_steps: int = Field(300, ge=1, description="The validation CNNs train at least this many steps, so a "
                           "small image set still gets a usable judge.")


class _ImageSpec(_DatasetSpec):
    modality: Literal["image"]
    source: ImageSourceSpec
    image: ImageShapeSpec = Field(default_factory=ImageShapeSpec)
    augment: dict[str, Any] | None = Field(
        None, description="albumentations pipeline in its own serialized form (A.to_dict); applied to real "
        "images while training the generator.")
    gates: ImageGates = Field(default_factory=ImageGates)
    validation: ImageValidationSpec = Field(default_factory=ImageValidationSpec)


# -- what the registries add: `model:` and `screen.scorer:` -------------------------------------------
# The sections above are the spec's own; a modality's `model:` union is every registered generator of
# that modality (each declares its `params_model` beside its class), and `screen.scorer:` every scorer
# that scores it. Adding a generator or scorer never edits this file; the models below are rebuilt
# whenever a registry changes.
_SECTIONS: dict[str, type[_Strict]] = {"tabular": _TabularSpec, "image": _ImageSpec}
_BUILT: dict[str, Any] = {}


def _registries():
    from synthgen.anomaly import SCORERS
    from synthgen.generators import GENERATORS
    from synthgen.modalities import MODALITIES

    return MODALITIES, GENERATORS, SCORERS


def _union(models: list[type]):
    """One model as itself (its JSON Schema stays a plain reference), several as a union on `name`."""
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(discriminator="name")]  # noqa: UP007


def _build() -> dict[str, Any]:
    modalities, generators, scorers = _registries()
    key = (modalities.version, generators.version, scorers.version)
    if _BUILT.get("key") == key:
        return _BUILT
    specs, screens = {}, {}
    for name, adapter in modalities.items():
        if name not in _SECTIONS:
            raise InputError(f"modality {name!r} has no spec sections in synthgen.spec")
        gens = [cls.params_model for _, cls in generators.items() if cls.modality == name]
        models = gens + ([AutoModelSpec] if len(gens) > 1 else [])
        scs = [cls.params_model for _, cls in scorers.items() if name in cls.modalities]
        default_gen = AutoModelSpec if adapter.default_model == "auto" and len(gens) > 1 \
            else generators.get(adapter.default_generator).params_model
        default_scorer = scorers.get(adapter.default_scorer).params_model
        title = name.capitalize()
        screens[name] = create_model(
            f"{title}ScreenSpec", __base__=_ScreenSpec, __module__=__name__,
            __doc__="Ask the augmentation run to also fit an anomaly scorer on the GAN it trained and screen the holdout.",
            scorer=(_union(scs), Field(default_factory=default_scorer)))
        specs[name] = create_model(
            f"{title}Spec", __base__=_SECTIONS[name], __module__=__name__,
            model=(_union(models), Field(default_factory=default_gen)),
            candidates=(list[_union(gens)] | None, Field(  # type: ignore[valid-type]
                None, description="Further generator configurations trained beside `model:`. Each is a candidate; "
                "the select step publishes the one whose sample a judge of its own ranks highest on the selection "
                "split carved from train (never the gates' holdout), and the card records every candidate's "
                "point. They share model.random_state, so all are judged on rows none of them trained on. "
                "null: `model:` alone.")),
            screen=(screens[name] | None, None))
    _BUILT.clear()
    _BUILT.update(key=key, specs=specs, screens=screens)
    return _BUILT


def spec_model(modality: str) -> type[_Strict]:
    """The whole spec model of a modality (its own sections + the registries' unions)."""
    return _build()["specs"][modality]


def screen_model(modality: str) -> type[_Strict]:
    """The `screen:` section of a modality; `screen_model(m)()` holds the modality's default scorer."""
    return _build()["screens"][modality]


def modalities() -> list[str]:
    return list(_build()["specs"])


def __getattr__(name: str):
    """`spec.TabularSpec`, `spec.ImageScreenSpec`, ...: the models built from the registries."""
    if not name.endswith("Spec"):
        raise AttributeError(name)
    for modality in modalities():
        title = modality.capitalize()
        if name == f"{title}Spec":
            return spec_model(modality)
        if name == f"{title}ScreenSpec":
            return screen_model(modality)
    raise AttributeError(name)


class LoadedSpec(BaseModel):
    """A validated spec with where it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    spec: Any  # an instance of spec_model(its modality)
    path: Path
    overrides: list[str] = Field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def spec_hash(self) -> str:
        canonical = json.dumps(self.spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def parse_override(text: str) -> tuple[list[str], Any]:
    """`model.epochs=5` -> (["model", "epochs"], 5); the value is read as YAML."""
    if "=" not in text:
        raise InputError(f"--set {excerpt(text)}: expected KEY=VALUE, e.g. model.epochs=5")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise InputError(f"--set {text!r}: empty key")
    try:
        value = read_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise InputError(f"--set {text!r}: value is not valid YAML: {exc}") from exc
    return parts, value


def apply_overrides(raw: dict[str, Any], overrides: list[str], *, origin: str) -> dict[str, Any]:
    for text in overrides:
        parts, value = parse_override(text)
        node = raw
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise InputError(f"{origin}: --set {text!r}: `{where}` is not a mapping")
            node = child
        node[parts[-1]] = value
    return raw


def _key_path(loc: tuple) -> str:
    """The spec key an error is at, as the user writes it: without the union's tag (pydantic reports
    `model.ctgan.epochs` for `model.epochs` of a `name: ctgan` model)."""
    _, generators, scorers = _registries()
    tags = {*generators.names(), *scorers.names(), "auto"}
    parts = [p for i, p in enumerate(loc)
             if not (i and p in tags and (loc[i - 1] in ("model", "scorer") or isinstance(loc[i - 1], int)))]
    return ".".join(str(p) for p in parts)


def _format_errors(exc: ValidationError, origin: str) -> str:
    lines = []
    for err in exc.errors():
        loc = _key_path(err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        got = err.get("input")
        shown = "" if err["type"] in ("extra_forbidden", "missing") or isinstance(got, (dict, list)) \
            else f" (got {excerpt(got)})"
        lines.append(f"  {loc}: {msg}{shown}")
    return f"{origin}: invalid spec\n" + "\n".join(lines)


def validate_spec(raw: Any, *, origin: str):
    if not isinstance(raw, dict):
        raise InputError(f"{origin}: a spec must be a YAML mapping, got {type(raw).__name__}")
    modality = raw.get("modality")
    known = modalities()
    if modality not in known:
        raise InputError(f"{origin}: modality: must be one of {', '.join(known)} (got {modality!r})")
    model = spec_model(modality)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InputError(_format_errors(exc, origin)) from None


def load_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> LoadedSpec:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: spec file not found")
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise InputError(f"{path}: {path.stat().st_size:,} bytes is not a spec (at most {MAX_SPEC_BYTES:,})")
    try:
        raw = read_yaml(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from None
    if isinstance(raw, dict):
        raw = apply_overrides(raw, list(overrides), origin=str(path))
    spec = validate_spec(raw, origin=str(path))
    return LoadedSpec(spec=spec, path=path.resolve(), overrides=list(overrides))


def spec_from_dict(raw: dict[str, Any], path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                   *, origin: str) -> LoadedSpec:
    """A spec given as data (e.g. the one a published card recorded), as if read from `path`."""
    import copy

    raw = apply_overrides(copy.deepcopy(raw), list(overrides), origin=origin)
    return LoadedSpec(spec=validate_spec(raw, origin=origin), path=Path(path).resolve(), overrides=list(overrides))


def json_schema() -> dict[str, Any]:
    from pydantic import TypeAdapter

    specs = tuple(_build()["specs"].values())
    schema = TypeAdapter(Annotated[Union[specs], Field(discriminator="modality")]).json_schema()  # noqa: UP007
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "synthgen dataset spec"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
