"""Entities that get surrogate keys, and the optional ``vxp-study.yaml`` that overrides them.

By default three entities are recognised by their CDISC SDTM variable names (SDTM
Implementation Guide, "Identifier variables"):

* ``subject``: ``USUBJID`` (unique subject identifier),
* ``site``: ``SITEID``,
* ``visit``: ``USUBJID`` + ``VISITNUM``.

A dataset holds an entity when it has *all* of the entity's key columns (case-insensitive); the
integration step then gives it an ``<entity>_sk`` column. ``vxp-study.yaml`` at the top of the
delivery changes this::

    entities:            # replaces the default of each entity named; others stay
      subject: [SUBJID]  # key columns, in natural-key order
      visit: [SUBJID, VISIT]
      site: []           # an empty list switches an entity off
      device: [DEVID]    # new entities may be added (names: lower-case identifiers)
    datasets:            # optional, per dataset (case-insensitive name)
      sites:
        entities: [site] # only these entities for this dataset (default: all that match)

Unknown top-level keys, bad entity names and wrong shapes are reported as ``config.invalid``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..problems import Problems

CONFIG_NAME = "vxp-study.yaml"

#: The default entities: name -> key columns (normalised, lower case).
DEFAULT_ENTITIES: dict[str, tuple[str, ...]] = {
    "subject": ("usubjid",),
    "site": ("siteid",),
    "visit": ("usubjid", "visitnum"),
}

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Entity:
    """An entity with surrogate keys: ``name`` (e.g. ``"visit"``) and its natural-key columns
    (normalised names, in order). Its surrogate key column is :attr:`sk_column`."""

    name: str
    key_columns: tuple[str, ...]

    @property
    def sk_column(self) -> str:
        """The surrogate key column added to tables holding the entity: ``<name>_sk``."""
        return f"{self.name}_sk"


@dataclass
class StudyConfig:
    """The effective entity configuration of a delivery.

    Attributes:
        entities: every enabled entity, in order (defaults first, then added ones).
        dataset_entities: per lower-case dataset name, the entity names allowed for it.
    """

    entities: list[Entity] = field(
        default_factory=lambda: [Entity(n, c) for n, c in DEFAULT_ENTITIES.items()]
    )
    dataset_entities: dict[str, list[str]] = field(default_factory=dict)

    def entities_for(self, dataset: str, columns: list[str]) -> list[Entity]:
        """The entities whose key columns all appear in ``columns`` (case-insensitive), limited
        by the dataset's ``entities`` list when the config gives one. Order: config order."""
        have = {c.lower() for c in columns}
        allowed = self.dataset_entities.get(dataset.lower())
        return [
            e
            for e in self.entities
            if all(c in have for c in e.key_columns) and (allowed is None or e.name in allowed)
        ]


def load_config(
    path: Path | None, problems: Problems, *, display: str = CONFIG_NAME
) -> StudyConfig:
    """Read ``vxp-study.yaml`` (``None`` or a missing file: the defaults).

    Args:
        path: the file, or ``None``.
        problems: receives ``config.invalid`` problems; invalid parts are ignored.
        display: the name reported in problems.

    Returns:
        The effective configuration.
    """
    config = StudyConfig()
    if path is None or not path.exists():
        return config

    def bad(message: str) -> None:
        problems.error("config.invalid", message, file=display)

    try:
        doc: Any = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        line = None
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            line = mark.line + 1
        problems.error("config.invalid", f"Cannot read the file: {exc}", file=display, line=line)
        return config
    if doc is None:
        return config
    if not isinstance(doc, dict):
        bad("The file must hold a mapping with 'entities' and/or 'datasets'.")
        return config
    for key in sorted(set(doc) - {"entities", "datasets"}):
        bad(f"Unknown key {key!r} (known: entities, datasets).")
    merged: dict[str, tuple[str, ...]] = dict(DEFAULT_ENTITIES)
    entities = doc.get("entities") or {}
    if not isinstance(entities, dict):
        bad("'entities' must map entity names to lists of key columns.")
        entities = {}
    for name, cols in entities.items():
        if not isinstance(name, str) or not _NAME.match(name):
            bad(f"Entity name {name!r} must be a lower-case identifier.")
            continue
        if not isinstance(cols, list) or not all(isinstance(c, str) and c for c in cols):
            bad(f"Entity {name!r} must list its key columns, e.g. [USUBJID].")
            continue
        merged[name] = tuple(c.lower() for c in cols)
    config.entities = [Entity(n, c) for n, c in merged.items() if c]
    known = {e.name for e in config.entities}
    datasets = doc.get("datasets") or {}
    if not isinstance(datasets, dict):
        bad("'datasets' must map dataset names to settings.")
        datasets = {}
    for ds, settings in datasets.items():
        names = settings.get("entities") if isinstance(settings, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            bad(f"datasets.{ds}.entities must be a list of entity names.")
            continue
        for n in names:
            if n not in known:
                bad(f"datasets.{ds}.entities names {n!r}, which is not an enabled entity.")
        config.dataset_entities[str(ds).lower()] = [n for n in names if n in known]
    return config
