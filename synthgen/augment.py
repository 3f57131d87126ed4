"""albumentations pipelines declared in a spec, in albumentations' own serialized form.

albumentations 2.x only WARNS about invalid or legacy arguments (`var_limit`, `alpha_affine`, ...)
and then ignores them, so a typo would silently train without the augmentation the user asked
for. Here every such warning is an error naming the transform and the argument.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable

import numpy as np

from synthgen.errors import InputError


def load_pipeline(serialized: dict[str, Any], *, origin: str):
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations as A

    data = serialized if "transform" in serialized else {"__version__": A.__version__, "transform": serialized}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pipeline = A.from_dict(data)
        except KeyError as exc:
            raise InputError(f"{origin}: augment: unknown albumentations transform {exc.args[0]!r}") from None
        except (ValueError, TypeError) as exc:
            raise InputError(f"{origin}: augment: invalid albumentations pipeline: {exc}") from None
    problems = [str(w.message) for w in caught if "not valid for transform" in str(w.message)
                or "deprecated" in str(w.message).lower()]
    if problems:
        raise InputError(f"{origin}: augment: " + "; ".join(problems))
    return pipeline


def epoch_augmenter(serialized: dict[str, Any] | None, *, origin: str,
                    random_state: int) -> Callable[[np.ndarray, int], np.ndarray] | None:
    """-> f(images uint8 (N, H, W, C), epoch) -> augmented copy, seeded by (random_state, epoch) so a
    resumed run sees the same augmented images as an uninterrupted one."""
    if not serialized:
        return None
    pipeline = load_pipeline(serialized, origin=origin)

    def augment(images: np.ndarray, epoch: int) -> np.ndarray:
        pipeline.set_random_seed(random_state * 100_003 + epoch)
        out = np.empty_like(images)
        for i, image in enumerate(images):
            result = pipeline(image=image)["image"]
            out[i] = result.reshape(images.shape[1:])
        return out

    return augment
