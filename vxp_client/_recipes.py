"""Dataset recipes: a Python function of a pinned :class:`PlatformClient` that selects resources.

::

    import vxp_client

    @vxp_client.dataset_compilation_entrypoint()
    def all_basel_data(client: vxp_client.PlatformClient) -> dict[str, list[dict]]:
        \"\"\"Returns all data associated with the Basel trial.\"\"\"
        subjects = client.resources(type="Subject", under="trial/basel")
        return vxp_client.split_by_subject(subjects, {"train": 0.8, "test": 0.2}, salt="v1")

The function gets a client pinned to one commit (everything it reads is one version) and returns
``{split name: [resource, …]}``: the top-level keys are the splits, the items ``Resource``
objects or dicts with at least an ``"id"``. ``vxp datasets lock --file recipe.py`` runs it and
writes the lockfiles (docs/reference/lockfile.md). Any Python may run inside the function.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from vxp_client._client import PlatformClient

__all__ = ["Recipe", "RecipeFunction", "dataset_compilation_entrypoint"]

#: what a recipe function looks like: a pinned client in, splits of resources out
RecipeFunction = Callable[["PlatformClient"], Mapping[str, Sequence[Any]]]


class Recipe:
    """A recipe: the decorated function, with the name and version a lock records.

    Calling it calls the function (``recipe(client)``), so a decorated function still works as
    a plain function in a notebook.

    Attributes:
        function: the decorated function.
        entrypoint: the function's name (what ``--entrypoint`` names).
        name: the dataset's name (default: the function's name).
        version: the recipe's version (an int), or None when the registry gives it.
        description: the first paragraph of the function's docstring ("" without one).

    Raises:
        TypeError: ``function`` is not callable or does not take exactly one argument, or
            ``version`` is not an int.
    """

    function: RecipeFunction
    entrypoint: str
    name: str
    version: int | None
    description: str

    def __init__(
        self, function: RecipeFunction, *, name: str | None = None, version: int | None = None
    ) -> None:
        if not callable(function):
            raise TypeError(f"{function!r} is not a function")
        try:
            inspect.signature(function).bind(None)
        except TypeError as exc:
            raise TypeError(
                f"recipe {getattr(function, '__qualname__', function)!r} must take exactly one "
                "argument, the client: def recipe(client: vxp_client.PlatformClient) -> dict"
            ) from exc
        except ValueError:
            pass  # no signature to read (a builtin): it is checked when it runs
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise TypeError(f"recipe version {version!r} is not an int")
        self.function = function
        self.entrypoint = str(getattr(function, "__name__", "recipe"))
        self.name = name or self.entrypoint
        self.version = version
        doc = inspect.getdoc(function) or ""
        self.description = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
        functools.update_wrapper(self, function)

    def __call__(self, client: PlatformClient) -> Mapping[str, Sequence[Any]]:
        return self.function(client)

    def __repr__(self) -> str:
        version = "" if self.version is None else f" version {self.version}"
        return f"<vxp recipe {self.name!r}{version}>"


@overload
def dataset_compilation_entrypoint(
    function: None = None, *, name: str | None = None, version: int | None = None
) -> Callable[[RecipeFunction], Recipe]: ...


@overload
def dataset_compilation_entrypoint(function: RecipeFunction) -> Recipe: ...


def dataset_compilation_entrypoint(
    function: RecipeFunction | None = None,
    *,
    name: str | None = None,
    version: int | None = None,
) -> Callable[[RecipeFunction], Recipe] | Recipe:
    """Mark ``def f(client: PlatformClient) -> dict[str, list]`` as a dataset recipe.

    Use it with parentheses, ``@vxp_client.dataset_compilation_entrypoint()`` (the form of the
    docs; without them works too). A recipe file holds one entrypoint, or ``--entrypoint NAME``
    picks one.

    Args:
        name: the dataset's name in the lock (default: the function's name; a registered
            recipe takes the registry's name).
        version: the recipe's version in the lock (a registered recipe takes the registry's).

    Returns:
        A decorator giving a :class:`Recipe` (still callable as the function).

    Raises:
        TypeError: the function does not take exactly one argument, or ``version`` is not an
            int.
    """
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise TypeError(f"recipe version {version!r} is not an int")
    if function is not None:
        return Recipe(function, name=name, version=version)

    def decorate(f: RecipeFunction) -> Recipe:
        return Recipe(f, name=name, version=version)

    return decorate
