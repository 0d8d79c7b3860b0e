"""The shared recipe registry: ``recipes/datasets.yaml`` (DESIGN.md, top-level ``recipes/``).

::

    datasets:
      - name: basel-t2-clinical
        version: 1
        description: All subjects' T2 MR series with their clinical data, split by subject.
        script_location: basel_t2_clinical.py

Each entry has exactly ``name`` (lowercase letters, digits, ``-``, ``_``; starting with a letter
or digit), ``version`` (an integer >= 1), ``description`` (text) and ``script_location`` (the
recipe file, relative to the registry's folder). A name may be registered in several versions
(each its own script, so an old version still locks as it did); ``name``/``version`` pairs are
unique, and ``NAME`` alone means its highest version. :func:`load_registry` checks every entry
and reports every problem at once, each at its ``file:line:column``.

Which registry: ``--registry PATH``, else ``$VXP_REGISTRY``, else ``recipes/datasets.yaml`` in the
working folder or the nearest folder above it, else the one of the vxp source tree.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vxp.core.errors import InvalidInput, NotFound

__all__ = [
    "ENV_REGISTRY",
    "REGISTRY_FILE",
    "Registry",
    "RegistryEntry",
    "find_registry",
    "load_registry",
    "parse_spec",
]

#: the registry's path relative to a project's root
REGISTRY_FILE = Path("recipes") / "datasets.yaml"
#: the environment variable naming a registry file
ENV_REGISTRY = "VXP_REGISTRY"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
_KEYS = ("name", "version", "description", "script_location")


@dataclass(frozen=True)
class RegistryEntry:
    """One registered recipe.

    Attributes:
        name: the dataset's name; version: its version (>= 1).
        description: what it selects.
        script_location: the recipe file as the registry writes it (relative to its folder).
        path: that file, resolved.
        line: the entry's line in the registry (1-based).
    """

    name: str
    version: int
    description: str
    script_location: str
    path: Path
    line: int

    @property
    def spec(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def sha256(self) -> str:
        """The sha256 of the recipe file now.

        Raises:
            OSError: the file cannot be read.
        """
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        """The entry as the registry has it, plus the resolved ``path``."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "script_location": self.script_location,
            "path": str(self.path),
        }


@dataclass(frozen=True)
class Registry:
    """A loaded, checked registry: its file and entries in file order."""

    path: Path
    entries: tuple[RegistryEntry, ...]

    def __iter__(self) -> Iterator[RegistryEntry]:
        return iter(self.entries)

    def versions(self, name: str) -> list[RegistryEntry]:
        """Every registered version of ``name``, oldest first."""
        return sorted((e for e in self.entries if e.name == name), key=lambda e: e.version)

    def get(self, spec: str) -> RegistryEntry:
        """The entry ``NAME`` (its highest version) or ``NAME@VERSION`` names.

        Raises:
            InvalidInput: ``spec`` is not ``NAME`` or ``NAME@VERSION``.
            NotFound: no such name, or no such version of it (the message lists what exists).
        """
        name, version = parse_spec(spec)
        found = self.versions(name)
        if not found:
            known = ", ".join(sorted({e.name for e in self.entries})) or "none"
            raise NotFound(
                f"no dataset {name!r} in the registry {self.path}",
                hint=f"registered: {known} (`vxp datasets list`)",
            )
        if version is None:
            return found[-1]
        for entry in found:
            if entry.version == version:
                return entry
        raise NotFound(
            f"dataset {name!r} has no version {version} in the registry {self.path}",
            hint="its versions: " + ", ".join(str(e.version) for e in found),
        )


def parse_spec(spec: str) -> tuple[str, int | None]:
    """``"name@3"`` → ``("name", 3)``; ``"name"`` → ``("name", None)``.

    Raises:
        InvalidInput: an empty name, or a version that is not an integer >= 1.
    """
    name, at, version = spec.partition("@")
    if not name or (at and not version.isdigit()) or (at and int(version) < 1):
        raise InvalidInput(f"{spec!r} is not NAME or NAME@VERSION", hint="e.g. basel-t2-clinical@1")
    return name, int(version) if at else None


def find_registry(start: Path | None = None) -> Path:
    """The registry file to use when none is named (module docstring: the order).

    Raises:
        NotFound: none of them exists.
    """
    named = os.environ.get(ENV_REGISTRY)
    if named:
        return Path(named)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / REGISTRY_FILE
        if candidate.is_file():
            return candidate
    # a source checkout of vxp ships its registry at the top of the tree
    shipped = Path(__file__).resolve().parents[2] / REGISTRY_FILE
    if shipped.is_file():
        return shipped
    raise NotFound(
        f"no {REGISTRY_FILE} here or in a folder above",
        hint=f"pass --registry PATH or set {ENV_REGISTRY}",
    )


def _at(path: Path, node: yaml.Node) -> str:
    mark = node.start_mark
    return f"{path}:{mark.line + 1}:{mark.column + 1}"


def load_registry(path: Path) -> Registry:
    """Read and check a registry file (module docstring: the format).

    Returns:
        The registry, entries in file order.

    Raises:
        NotFound: no such file.
        InvalidInput: not YAML, not ``datasets:`` with a list of entries, or any entry breaks a
            rule (missing or unknown key, bad name or version, empty description, a script that
            does not exist or is not a ``.py`` file, a ``name``/``version`` registered twice);
            every problem is listed as ``file:line:column: what``.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"registry {path} does not exist")
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        raise InvalidInput(f"{where}: not YAML: {getattr(exc, 'problem', exc)}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    problems: list[str] = []
    items = _entries_node(path, root, problems)
    entries: list[RegistryEntry] = []
    seen: dict[tuple[str, int], str] = {}
    for node in items:
        entry = _entry(path, node, problems)
        if entry is None:
            continue
        key = (entry.name, entry.version)
        if key in seen:
            problems.append(
                f"{_at(path, node)}: {entry.spec} is registered twice (first at {seen[key]})"
            )
            continue
        seen[key] = _at(path, node)
        entries.append(entry)
    if problems:
        raise InvalidInput(
            f"{len(problems)} problem(s) in the registry {path}:\n" + "\n".join(problems),
            hint="docs/how-to/register-a-recipe.md has the format",
        )
    return Registry(path, tuple(entries))


def _entries_node(path: Path, root: yaml.Node | None, problems: list[str]) -> list[yaml.Node]:
    if root is None:
        return []  # an empty file registers nothing
    if not isinstance(root, yaml.MappingNode):
        problems.append(f"{_at(path, root)}: the registry must be a mapping with 'datasets:'")
        return []
    found: list[yaml.Node] = []
    for key, value in root.value:
        if key.value != "datasets":
            problems.append(f"{_at(path, key)}: unknown key {key.value!r} (only 'datasets')")
            continue
        if isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null"):
            continue
        if not isinstance(value, yaml.SequenceNode):
            problems.append(f"{_at(path, value)}: 'datasets' must be a list of entries")
            continue
        found.extend(value.value)
    return found


def _entry(path: Path, node: yaml.Node, problems: list[str]) -> RegistryEntry | None:
    where = _at(path, node)
    if not isinstance(node, yaml.MappingNode):
        problems.append(f"{where}: an entry must be a mapping of {', '.join(_KEYS)}")
        return None
    before = len(problems)
    values: dict[str, yaml.Node] = {}
    for key, value in node.value:
        field = str(key.value)
        if field not in _KEYS:
            problems.append(f"{_at(path, key)}: unknown key {field!r} (one of {', '.join(_KEYS)})")
        elif field in values:
            problems.append(f"{_at(path, key)}: {field!r} is given twice")
        else:
            values[field] = value
    for missing in (k for k in _KEYS if k not in values):
        problems.append(f"{where}: missing {missing!r}")
    scalars: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(value, yaml.ScalarNode):
            problems.append(f"{_at(path, value)}: {key!r} must be a single value")
        else:
            scalars[key] = str(value.value)
    name = scalars.get("name")
    if name is not None and not _NAME.fullmatch(name):
        problems.append(
            f"{_at(path, values['name'])}: name {name!r} must be lowercase letters, digits, '-' "
            "or '_', starting with a letter or digit"
        )
    version: int | None = None
    if "version" in scalars:
        tag = values["version"].tag
        text = scalars["version"]
        if not tag.endswith(":int") or not text.isdigit() or int(text) < 1:
            problems.append(
                f"{_at(path, values['version'])}: version {text!r} must be an integer >= 1"
            )
        else:
            version = int(text)
    description = scalars.get("description")
    if description is not None and not description.strip():
        problems.append(f"{_at(path, values['description'])}: description is empty")
    script = scalars.get("script_location")
    resolved: Path | None = None
    if script is not None:
        resolved = (path.parent / script).resolve()
        if Path(script).is_absolute():
            problems.append(
                f"{_at(path, values['script_location'])}: script_location {script!r} must be "
                "relative to the registry's folder"
            )
        elif resolved.suffix != ".py":
            problems.append(
                f"{_at(path, values['script_location'])}: script_location {script!r} is not a "
                ".py file"
            )
        elif not resolved.is_file():
            problems.append(
                f"{_at(path, values['script_location'])}: script_location {script!r} does not "
                f"exist ({resolved})"
            )
    if len(problems) > before or name is None or version is None or resolved is None:
        return None
    return RegistryEntry(
        name=name,
        version=version,
        description=" ".join((description or "").split()),
        script_location=str(script),
        path=resolved,
        line=node.start_mark.line + 1,
    )
