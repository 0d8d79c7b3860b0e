"""Every public function, class and method of the documented packages has a docstring, and one
that raises says so in a ``Raises:`` section (issue 6, deliverable 6).

Public: defined in the module (not imported into it), no leading underscore; methods are those a
class defines itself, properties included. A method may inherit its docstring from the method it
overrides (as ``inspect.getdoc`` and Sphinx do), unless it raises and the inherited one names
nothing raised. A class whose ``__init__`` or ``__post_init__`` raises documents that in its own
docstring or in that method's. ``raise`` is found in the definition's own body with ``ast``;
nested functions and classes are checked on their own, not as part of it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

PACKAGES = [
    "vxp.core",
    "vxp.lakefs",
    "vxp.domain",
    "vxp.services",
    "vxp.catalog",
    "vxp_client",
]
RAISES = re.compile(r"^\s*Raises\s*:", re.MULTILINE)
# methods whose raising the class docstring may document instead
CONSTRUCTORS = ("__init__", "__post_init__")
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def modules(package: str) -> Iterator[ModuleType]:
    """The package and every module below it, imported."""
    root = importlib.import_module(package)
    yield root
    for info in pkgutil.walk_packages(getattr(root, "__path__", []), package + "."):
        yield importlib.import_module(info.name)


def _node(obj: Any) -> ast.AST | None:
    """The AST of ``obj``'s own definition, or None when its source is not available."""
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return None
    tree = ast.parse(source)
    return tree.body[0] if tree.body else None


def raises(function: Callable[..., Any]) -> bool:
    """True when the body of ``function`` itself holds a ``raise`` statement."""
    node = _node(inspect.unwrap(function))
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    pending: list[ast.AST] = list(node.body)
    while pending:
        current = pending.pop()
        if isinstance(current, ast.Raise):
            return True
        if not isinstance(current, _SCOPES):
            pending.extend(ast.iter_child_nodes(current))
    return False


def own_class_doc(cls: type) -> str:
    """The class's own docstring (``cls.__doc__`` would be a dataclass's generated signature,
    ``inspect.getdoc`` a base class's)."""
    node = _node(cls)
    return (ast.get_docstring(node) if isinstance(node, ast.ClassDef) else None) or ""


def _function(member: Any) -> Callable[..., Any] | None:
    if isinstance(member, property):
        return member.fget
    if isinstance(member, (staticmethod, classmethod)):
        return member.__func__  # type: ignore[no-any-return]
    return member if inspect.isfunction(member) else None


def problems(module: ModuleType) -> list[str]:
    """One line per public definition of ``module`` that lacks a docstring or a Raises section."""
    found: list[str] = []

    def check(where: str, function: Callable[..., Any], doc: str | None) -> None:
        if not doc:
            found.append(f"{where}: no docstring")
        elif raises(function) and not RAISES.search(doc):
            found.append(f"{where}: raises, but its docstring has no 'Raises:' section")

    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        where = f"{module.__name__}.{name}"
        if inspect.isfunction(obj):
            check(where, obj, inspect.getdoc(obj))
        elif inspect.isclass(obj):
            class_doc = own_class_doc(obj)
            if not class_doc:
                found.append(f"{where}: no docstring")
            for attr, member in sorted(vars(obj).items()):
                function = _function(member)
                # skip functions the class did not define itself (Protocol's generated __init__)
                if function is None or not function.__qualname__.startswith(obj.__qualname__ + "."):
                    continue
                if attr in CONSTRUCTORS:
                    doc = (inspect.getdoc(function) or "") + "\n" + class_doc
                    if raises(function) and not RAISES.search(doc):
                        found.append(
                            f"{where}.{attr}: raises, but neither it nor the class says so "
                            "in a 'Raises:' section"
                        )
                elif not attr.startswith("_"):
                    doc = inspect.getdoc(member if isinstance(member, property) else function)
                    if doc is None and not isinstance(member, property):
                        doc = inspect.getdoc(getattr(obj, attr))
                    check(f"{where}.{attr}", function, doc)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_public_definitions_say_what_they_do_and_raise(package: str) -> None:
    found = [problem for module in modules(package) for problem in problems(module)]
    assert not found, f"{len(found)} public definitions of {package}:\n" + "\n".join(found)


def test_the_check_finds_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "docless_sample.py").write_text(
        textwrap.dedent(
            '''
            from dataclasses import dataclass


            def bare() -> None:
                pass


            def quiet() -> None:
                """Says nothing of what it raises."""
                raise ValueError("x")


            def nested() -> None:
                """Raises nothing itself: the nested function does."""

                def inner() -> None:
                    raise ValueError("x")


            @dataclass
            class Sample:
                x: int

                def __post_init__(self) -> None:
                    raise ValueError("x")

                @property
                def value(self) -> int:
                    return self.x


            class Documented:
                """A class.

                Raises:
                    ValueError: always.
                """

                def __init__(self) -> None:
                    raise ValueError("x")

                def method(self) -> None:
                    """Returns.

                    Raises:
                        KeyError: never really.
                    """
                    raise KeyError("x")
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("docless_sample")
    try:
        found = problems(module)
    finally:
        sys.modules.pop("docless_sample", None)
    assert found == [
        "docless_sample.Sample: no docstring",
        "docless_sample.Sample.__post_init__: raises, but neither it nor the class says so in "
        "a 'Raises:' section",
        "docless_sample.Sample.value: no docstring",
        "docless_sample.bare: no docstring",
        "docless_sample.quiet: raises, but its docstring has no 'Raises:' section",
    ]
