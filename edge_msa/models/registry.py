"""Model registry: families register a builder; presets are named overrides (`family-tiny`)."""

from __future__ import annotations

from collections.abc import Callable

from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec, get_spec
from edge_msa.models.base import MSAModel

Builder = Callable[..., MSAModel]
_BUILDERS: dict[str, Builder] = {}
_PRESETS: dict[str, tuple[str, dict]] = {}


def register_model(family: str, presets: dict[str, dict] | None = None):
    """Decorator: `@register_model("lnln_lite", {"tiny": {...}, "small": {...}})`."""

    def wrap(builder: Builder) -> Builder:
        _BUILDERS[family] = builder
        for preset, overrides in (presets or {}).items():
            _PRESETS[f"{family}-{preset}"] = (family, dict(overrides))
        return builder

    return wrap


def _load_families() -> None:
    # Importing the family modules runs their @register_model decorators.
    from edge_msa.models import families  # noqa: F401


def list_models() -> list[str]:
    """Every family and preset name `create_model` accepts."""
    _load_families()
    return sorted(set(_BUILDERS) | set(_PRESETS))


def resolve(name: str) -> tuple[str, dict]:
    """Name -> (family, preset overrides)."""
    _load_families()
    if name in _PRESETS:
        return _PRESETS[name]
    if name in _BUILDERS:
        return name, {}
    raise UserError(f"unknown model {name!r}; known: {', '.join(list_models())}")


def create_model(
    name: str, spec: FeatureSpec | str | dict | None = None, **overrides
) -> MSAModel:
    """Build a registered model; `spec` defaults to the live spec (MiniLM tokens)."""
    family, preset = resolve(name)
    kwargs = {**preset, **overrides}
    try:
        model = _BUILDERS[family](get_spec(spec), **kwargs)
    except TypeError as e:
        raise UserError(f"bad options for model {name!r}: {e}") from None
    model.family = family
    return model
