"""Stage types by name: built-ins register themselves, plugins come from the ``percept.stages`` entry points
or from ``module:Class`` given on the command line."""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from pipeline.errors import ConfigError
from pipeline.stage import Stage

ENTRY_POINT_GROUP = "percept.stages"
_registry: dict[str, type[Stage]] = {}
_entry_points_loaded = False


def register_stage(cls: type[Stage]) -> type[Stage]:
    """Class decorator: make a stage type available to graph files under ``cls.type_name``."""
    if not cls.type_name:
        raise ValueError(f"{cls.__name__} has no type_name")
    existing = _registry.get(cls.type_name)
    if existing is not None and existing is not cls:
        raise ValueError(f"stage type {cls.type_name!r} is registered twice ({existing.__name__}, {cls.__name__})")
    _registry[cls.type_name] = cls
    return cls


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not take the app down
            raise ConfigError(f"plugin entry point {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
        _register_plugin(cls, ep.name)


def _register_plugin(cls: object, name: str | None = None) -> type[Stage]:
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise ConfigError(f"plugin {name or cls!r} is not a percept Stage subclass")
    if not cls.type_name:
        cls.type_name = name or cls.__name__
    return register_stage(cls)


def load_plugin(spec: str) -> type[Stage]:
    """Load ``module:Class`` and register it."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"--plugin expects module:Class, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"plugin module {module_name!r} cannot be imported: {exc}") from exc
    cls = getattr(module, attr, None)
    if cls is None:
        raise ConfigError(f"plugin module {module_name!r} has no attribute {attr!r}")
    return _register_plugin(cls)


def stage_types() -> dict[str, type[Stage]]:
    _load_entry_points()
    return dict(sorted(_registry.items()))


def get_stage_type(name: str, where: str = "") -> type[Stage]:
    types = stage_types()
    if name not in types:
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}unknown stage type {name!r}; valid types: {', '.join(types) or '(none)'}")
    return types[name]
