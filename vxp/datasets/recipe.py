"""Recipes as files: load one, find its entrypoint, run it, and check what it returned.

A recipe file is Python with one function marked ``@vxp_client.dataset_compilation_entrypoint()``
(:mod:`vxp_client._recipes`); ``--entrypoint NAME`` picks one when a file has several. Its folder
is put first on ``sys.path`` while it loads, so a recipe may import helpers next to it. What it
returns must be ``{split: [item, …]}``: split names are ``[A-Za-z0-9][A-Za-z0-9_-]*`` (they
become file names, ``resources.<split>.jsonl``), items ``Resource`` objects or dicts with a string
``"id"`` (a ``pyarrow.Table`` with an ``id`` column is read as its rows). :func:`selection_of`
checks all of it and reports every problem at once.

Running happens in a child process (:mod:`vxp.datasets.lock`), so a recipe that hangs can be
stopped and one that crashes cannot take the caller with it.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from vxp.core.errors import InvalidInput
from vxp.ingestion.resources import Resource
from vxp_client import Recipe

__all__ = [
    "MAX_LISTED",
    "RecipeError",
    "Selection",
    "load_recipe",
    "recipe_traceback",
    "selection_of",
    "split_name_problem",
]

#: split names become file names: resources.<split>.jsonl
SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: problems listed one by one in an error message; the rest are counted
MAX_LISTED = 20


class RecipeError(InvalidInput):
    """A recipe could not be loaded, raised, returned the wrong shape, selected resources that
    do not exist, or leaked a subject into two splits; nothing was written.

    Attributes:
        summary: the first line of the message, without the problems.
        problems: every problem found, one sentence each (the message lists the first
            :data:`MAX_LISTED`).
    """

    def __init__(self, message: str, problems: Iterable[str] = (), hint: str | None = None):
        self.summary = message
        self.problems = list(problems)
        listed = [f"  - {p}" for p in self.problems[:MAX_LISTED]]
        if len(self.problems) > MAX_LISTED:
            listed.append(f"  … and {len(self.problems) - MAX_LISTED} more")
        super().__init__("\n".join([message, *listed]), hint=hint)


@dataclass(frozen=True)
class Selection:
    """What a recipe selected, checked: split name → its resource ids, sorted, each once.

    Attributes:
        splits: split → sorted, distinct ids, in the recipe's split order.
        versions: id → the ``version`` an item carried (a ``Resource`` read by the client, or a
            dict with ``"version"``), checked against the commit when the lock resolves it.
    """

    splits: dict[str, list[str]]
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def ids(self) -> set[str]:
        """Every id selected, in any split."""
        return {i for ids in self.splits.values() for i in ids}


def split_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a split name, or None when it can."""
    if not isinstance(name, str):
        return f"split name {name!r} is a {type(name).__name__}, not a string"
    if not SPLIT_NAME.fullmatch(name):
        return (
            f"split name {name!r} must be letters, digits, '_' or '-' (at most 64, not starting "
            "with '_' or '-'): it becomes the file name resources.<split>.jsonl"
        )
    return None


def _rows(value: Any) -> Iterable[Any] | None:
    """The items of a split's value, or None when it is not a collection of items."""
    if isinstance(value, str | bytes | Mapping):
        return None
    to_pylist = getattr(value, "to_pylist", None)
    if callable(to_pylist) and hasattr(value, "schema"):
        # a pyarrow Table of rows, e.g. client.query("SELECT id FROM vxp.resources …")
        rows = to_pylist()
        return rows if isinstance(rows, list) else None
    if isinstance(value, Iterable):
        return value
    return None


def _item(item: Any) -> tuple[str | None, int | None, str | None]:
    """``(id, version, problem)`` of one item. The id's grammar is checked by the lock only for
    ids that do not exist at the commit: the ones that do were checked when they were written."""
    if type(item) is dict or isinstance(item, Mapping):
        value = item.get("id")
        version = item.get("version")
    elif isinstance(item, Resource):
        value = item.id
        version = item.version
    elif item is Ellipsis:
        return None, None, "is `...`: fill in the template with the resources to select"
    else:
        return (
            None,
            None,
            (f"is a {type(item).__name__} ({item!r:.60}), not a Resource or a dict with 'id'"),
        )
    if type(value) is not str:
        return None, None, f"has no string 'id' (id is {value!r:.60})"
    if version is not None and (type(version) is not int):
        return None, None, f"{value!r}: version {version!r} is not an int"
    return value, version, None


def selection_of(result: object, *, recipe: str) -> Selection:
    """Check a recipe's return value and turn it into a :class:`Selection`.

    Args:
        result: what the recipe returned.
        recipe: how to name the recipe in messages (``file.py:function``).

    Returns:
        The selection: per split the sorted, distinct ids (an item given twice in one split
        counts once).

    Raises:
        RecipeError: not a dict of splits, no splits, a bad split name, a split that is not a
            list of items, an item that is not a resource, an item whose version differs from
            another item of the same id. Every problem is listed.
    """
    if not isinstance(result, Mapping):
        raise RecipeError(
            f"recipe {recipe} returned a {type(result).__name__}, not a dict of splits",
            hint='return {"train": [...], "test": [...]}: split name → list of resources',
        )
    if not result:
        raise RecipeError(
            f"recipe {recipe} returned no splits (an empty dict)",
            hint='return {"train": [...], "test": [...]}; a split may be an empty list',
        )
    problems: list[str] = []
    splits: dict[str, list[str]] = {}
    versions: dict[str, int] = {}
    for name, value in result.items():
        problem = split_name_problem(name)
        if problem is not None:
            problems.append(problem)
            continue
        rows = _rows(value)
        if rows is None:
            problems.append(f"split {name!r} is a {type(value).__name__}, not a list of resources")
            continue
        ids: set[str] = set()
        for index, item in enumerate(rows):
            resource_id, version, problem = _item(item)
            if problem is not None or resource_id is None:
                problems.append(f"split {name!r}, item {index}: {problem}")
                continue
            ids.add(resource_id)
            if version is not None:
                seen = versions.setdefault(resource_id, version)
                if seen != version:
                    problems.append(
                        f"split {name!r}, item {index}: {resource_id!r} is given as version "
                        f"{version} and elsewhere as version {seen}"
                    )
        splits[name] = sorted(ids)
    if problems:
        raise RecipeError(f"recipe {recipe} returned {len(problems)} bad entries:", problems)
    return Selection(splits, versions)


def recipe_traceback(exc: BaseException, files: Iterable[Path]) -> list[str]:
    """The frames of ``exc``'s traceback from the first one in ``files`` on, as
    ``File "…", line N, in f`` lines with their source, then the exception itself.

    Frames of vxp and Python that called the recipe are left out: they say nothing about it.
    """
    wanted = {str(Path(f).resolve()) for f in files}
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and str(Path(tb.tb_frame.f_code.co_filename).resolve()) not in wanted:
        tb = tb.tb_next
    shown = traceback.TracebackException(type(exc), exc, tb)
    return [line.rstrip("\n") for line in shown.format() if line.strip()]


def _module_name(path: Path) -> str:
    stem = re.sub(r"\W", "_", path.stem)
    return f"vxp_recipe_{stem}"


def load_recipe(path: Path, entrypoint: str | None = None) -> Recipe:
    """Import the recipe file ``path`` and return its entrypoint.

    The file's folder is put first on ``sys.path`` (a recipe may import helpers next to it),
    and the file runs as a module of its own. Run this in the child process that runs the
    recipe: importing runs the file's code.

    Args:
        entrypoint: the function's name, when the file marks several.

    Raises:
        RecipeError: no such file; the file does not import (a syntax error names file, line
            and column; any other error shows the recipe's traceback); no function, or several
            without ``entrypoint``, is marked ``@vxp_client.dataset_compilation_entrypoint()``;
            ``entrypoint`` names none of them.
    """
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file {path} does not exist or is not a file")
    module = _import(path)
    # recipes defined in this file, not ones it imported from another
    found = {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, Recipe) and getattr(value, "__module__", None) == module.__name__
    }
    if entrypoint is not None:
        if entrypoint not in found:
            raise RecipeError(
                f"{path} has no entrypoint {entrypoint!r}",
                hint="its entrypoints: " + (", ".join(sorted(found)) or "none"),
            )
        return found[entrypoint]
    if not found:
        raise RecipeError(
            f"{path} has no recipe: no function is marked "
            "@vxp_client.dataset_compilation_entrypoint()",
            hint="decorate the function that takes the client and returns the splits",
        )
    if len(found) > 1:
        raise RecipeError(
            f"{path} has {len(found)} entrypoints: {', '.join(sorted(found))}",
            hint="pick one with --entrypoint NAME",
        )
    return next(iter(found.values()))


def _import(path: Path) -> ModuleType:
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RecipeError(f"{path} cannot be imported as Python", hint="name it *.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        where = f"{exc.filename or path}, line {exc.lineno}, column {exc.offset}"
        raise RecipeError(
            f"recipe {path} does not parse: {exc.msg} ({where})",
            [line.rstrip() for line in (exc.text or "").splitlines() if line.strip()],
        ) from None
    except Exception as exc:
        raise RecipeError(
            f"recipe {path} failed while it was imported:", recipe_traceback(exc, [path])
        ) from None
    return module
