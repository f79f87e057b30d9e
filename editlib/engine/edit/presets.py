"""Presets: a model's published or measured settings (``preset_files/<name>.json`` beside
this module), and how an Editor's settings are resolved from a preset, a method's
conventions and keywords."""
from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from importlib import resources

from ...base.errors import HyperparameterError, UnknownNameError
from ..model.fingerprint import model_identity
from .methods import Method, get_method, split_overrides
from .settings import EditHparams


@dataclass
class Preset:
    """A model's published or measured settings (``editlib/engine/edit/preset_files/<name>.json``)."""

    name: str
    model: str                                  # what load_model takes
    aliases: list[str]
    identity: str                               # fingerprint.model_identity of the model it is for
    d_k: int                                    # key width: inputs of the rewritten matrix (MLP inner size)
    layers_single: list[int]
    layers_spread: list[int]
    hparams: dict
    methods: dict                               # {method: {field: value}}
    source: str

    def edit_hparams(self, layers: str | list[int] = "single", method: Method | str | None = None,
                     **overrides) -> EditHparams:
        """The pipeline's settings: the preset's, then (with ``method``) the method's
        conventions and the preset's section for it, then ``overrides``."""
        if isinstance(layers, str):
            if layers not in ("single", "spread"):
                raise HyperparameterError(f"layers must be 'single', 'spread' or a list, not {layers!r}")
            layers = self.layers_single if layers == "single" else self.layers_spread
        implied = {}
        if method is not None:
            m = _method(method)
            implied = {**m.conventions, **split_overrides(m, self.methods.get(m.name, {}))[0]}
        return replace(EditHparams(**{**self.hparams, **implied}), layers=list(layers), **overrides)

    def method_config(self, method: Method | str, **overrides):
        m = _method(method)
        return m.config_cls(**{**split_overrides(m, self.methods.get(m.name, {}))[1], **overrides})


def _files():
    """The folder of preset JSON files (package data of this package)."""
    return resources.files(__package__).joinpath("preset_files")


def _method(method: Method | str) -> Method:
    return method if isinstance(method, Method) else get_method(method)


def _validate_preset(d: dict, where: str) -> Preset:
    required = {f.name for f in fields(Preset)}
    missing = required - set(d)
    if missing:
        raise ValueError(f"preset {where}: missing {sorted(missing)}")
    extra = set(d) - required
    if extra:
        raise ValueError(f"preset {where}: unknown keys {sorted(extra)}")
    p = Preset(**d)
    EditHparams(**p.hparams)                    # unknown hparam names raise TypeError here
    for m, section in p.methods.items():
        hp, cfg = split_overrides(get_method(m), section)
        get_method(m).config_cls(**cfg)
        EditHparams(**{**p.hparams, **hp})
    if p.layers_single != sorted(p.layers_single) or p.layers_spread != sorted(p.layers_spread):
        raise ValueError(f"preset {where}: layers must be ascending")
    return p


def available_presets() -> list[str]:
    return sorted(p.name[:-5] for p in _files().iterdir() if p.name.endswith(".json"))


def load_preset(name: str) -> Preset:
    """A preset by its name or one of its aliases (exact, case-insensitive)."""
    if not isinstance(name, str):
        raise UnknownNameError(f"a preset is named by a string, not {name!r}")
    for fname in available_presets():
        d = json.loads(_files().joinpath(fname + ".json").read_text())
        if name.lower() in [a.lower() for a in [d.get("name"), d.get("model"), *d.get("aliases", [])]]:
            return _validate_preset(d, fname)
    raise UnknownNameError(f"no preset for {name!r}; available: {available_presets()}")


def preset_for_identity(identity: str) -> Preset | None:
    """The preset whose model has this shape and vocabulary, if any."""
    for fname in available_presets():
        d = json.loads(_files().joinpath(fname + ".json").read_text())
        if d.get("identity") == identity:
            return _validate_preset(d, fname)
    return None


def preset_for_model(model, preset: str | None = None) -> Preset | None:
    """The preset an Editor uses: ``preset`` by name (an unknown name is an error); else the
    preset named like the loaded model (``load_model`` records the name), else the preset
    whose model has this model's shape and vocabulary; None when there is none."""
    if preset is not None:
        return load_preset(preset)
    name = getattr(model, "editlib_name", None)
    if name is not None:
        try:
            return load_preset(name)
        except KeyError:
            pass                                  # loaded under another name: match the shape
    return preset_for_identity(model_identity(model))


def resolve_settings(preset: Preset | None, method: Method, layers, overrides: dict):
    """``(EditHparams, method config)``: the preset's values, then the method's conventions
    and the preset's section for the method, then the caller's keywords. ``layers`` is a
    list, or "single"/"spread" for the preset's."""
    hp_over, cfg_over = split_overrides(method, overrides)
    if preset is not None:
        return (preset.edit_hparams(layers, method=method, **hp_over),
                preset.method_config(method, **cfg_over))
    if isinstance(layers, str):
        raise ValueError(f"no preset for this model, so layers={layers!r} means nothing: "
                         "pass a list of layer indices")
    return (EditHparams(layers=list(layers), **{**method.conventions, **hp_over}),
            method.config_cls(**cfg_over))
