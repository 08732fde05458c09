"""Packet keys and their fields: the names stages declare in ``inputs``, ``optional_inputs`` and ``outputs``.

A key is a packet entry ("color", "depth", "persons", "objects", ...) or one field of an entry, written
``key.field`` ("persons.keypoints", "persons.faces"). Declaring fields is what lets the graph see that a stage
reading ``persons.faces`` needs the face stage and not the 3D lifting that also rewrites ``persons``, so the two
run side by side on a frame, and what lets it refuse at build time a graph where nothing produces a field a stage
needs.

A value whose fields can be written separately says how in a class attribute ``PARTS``: field name -> the
attributes that carry it (the first one says whether the field is present: not None). A stage that writes only
fields of a key (``persons.faces``, not ``persons``) keeps that value's rows: the engine takes just those
attributes from what it returns and puts them on the packet's current value, so that stages writing different
fields of one value on the same frame do not overwrite each other. Writing the whole key (``persons``) replaces
the value (new rows: a detector, a filter) and counts as writing every field it carries.

Reading the whole key means reading the value as every earlier stage left it (all its fields). A stage that needs
only the rows themselves (a tracker: the boxes and scores) reads the field ``rows`` (``persons.rows``), which
whoever makes the value writes; it then does not wait for the stages that add other fields.

A key may go one level further, ``key.field.detail`` (``persons.faces.gaze``): what a stage adds inside a field
(the gaze of the faces). The graph checks at build that some earlier stage declares writing the detail a stage
reads; for everything else (order, merging, presence on a frame) a detail is its field (``field_key``).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable


ROWS = "rows"


def split(key: str) -> tuple[str, str | None]:
    """"persons.faces" -> ("persons", "faces"); "depth" -> ("depth", None); a detail is its field:
    "persons.faces.gaze" -> ("persons", "faces")."""
    base, _, rest = key.partition(".")
    return base, (rest.partition(".")[0] or None)


def field_key(key: str) -> str:
    """The key or field a declared key stands for: "persons.faces.gaze" -> "persons.faces"."""
    base, part = split(key)
    return base if part is None else f"{base}.{part}"


def is_detail(key: str) -> bool:
    return key.count(".") >= 2


def _parts(value: Any) -> dict[str, tuple[str, ...]]:
    return getattr(type(value), "PARTS", None) or {}


def attributes(value: Any, part: str) -> tuple[str, ...]:
    """The attributes of ``value`` that carry field ``part`` (the field's own name where the type says nothing)."""
    return tuple(_parts(value).get(part, (part,)))


def has_part(value: Any, part: str) -> bool:
    if part == ROWS and ROWS not in _parts(value):
        return value is not None  # any value is its own rows
    return value is not None and getattr(value, attributes(value, part)[0], None) is not None


def produces(outputs: Iterable[str], key: str) -> bool:
    """Whether a stage declaring ``outputs`` writes ``key`` (making a value writes its rows)."""
    base, part = split(key)
    return key in outputs or (part == ROWS and base in outputs)


def writes(outputs: Iterable[str]) -> dict[str, tuple[str, ...] | None]:
    """A stage's declared outputs by packet key: None where it writes the whole value, else the fields it writes."""
    out: dict[str, tuple[str, ...] | None] = {}
    for key in outputs:
        base, part = split(key)
        if part is None:
            out[base] = None
        elif base not in out:
            out[base] = (part,)
        elif out[base] is not None and part not in out[base]:
            out[base] = (*out[base], part)
    return out


def merged(current: Any, new: Any, parts: tuple[str, ...], stage: str) -> Any:
    """``current`` with the attributes of ``parts`` taken from ``new`` (a stage that wrote only those fields)."""
    if current is None:  # nothing before it made the value: the stage made it whole
        return new
    if type(new) is not type(current) or not dataclasses.is_dataclass(current):
        raise TypeError(f"stage {stage!r} declared fields {list(parts)} of a {type(current).__name__} but returned "
                        f"a {type(new).__name__}")
    if hasattr(current, "__len__") and len(new) != len(current):
        raise ValueError(f"stage {stage!r} declared only fields {list(parts)} but changed the rows ({len(current)} "
                         f"-> {len(new)}); a stage that adds or removes rows declares the whole key")
    names = [a for part in parts for a in attributes(current, part)]
    return dataclasses.replace(current, **{a: getattr(new, a) for a in names})
