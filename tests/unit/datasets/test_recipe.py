"""Recipes: the decorator, loading a recipe file, and checking what a recipe returned."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import vxp_client
from vxp.datasets.recipe import RecipeError, load_recipe, selection_of
from vxp.ingestion.resources import Resource, ResourceType

S1 = "trial/basel/subject/BASEL-001"
S2 = "trial/basel/subject/BASEL-002"


def _write(tmp_path: Path, code: str, name: str = "recipe.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


# --- the decorator ----------------------------------------------------------------------------


def test_the_decorator_makes_a_recipe_that_is_still_the_function() -> None:
    @vxp_client.dataset_compilation_entrypoint()
    def all_basel_data(client: vxp_client.PlatformClient) -> dict[str, list[dict[str, str]]]:
        """Returns all data associated with the Basel trial.

        More words."""
        return {"train": [{"id": S1}]}

    assert isinstance(all_basel_data, vxp_client.Recipe)
    assert (all_basel_data.name, all_basel_data.entrypoint) == ("all_basel_data", "all_basel_data")
    assert all_basel_data.version is None
    assert all_basel_data.description == "Returns all data associated with the Basel trial."
    assert all_basel_data.__name__ == "all_basel_data"
    assert all_basel_data(None) == {"train": [{"id": S1}]}  # type: ignore[arg-type]


def test_the_decorator_takes_a_name_and_version_and_works_without_parentheses() -> None:
    def f(client: Any) -> dict[str, list[Any]]:
        return {}

    named = vxp_client.dataset_compilation_entrypoint(name="cohort", version=3)(f)
    assert (named.name, named.version, named.entrypoint) == ("cohort", 3, "f")
    bare = vxp_client.dataset_compilation_entrypoint(f)
    assert isinstance(bare, vxp_client.Recipe) and bare.name == "f"


def test_a_function_of_the_wrong_arity_is_refused_when_decorated() -> None:
    def two(client: Any, extra: Any) -> dict[str, list[Any]]:
        return {}

    with pytest.raises(TypeError, match="exactly one argument"):
        vxp_client.dataset_compilation_entrypoint()(two)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not an int"):
        vxp_client.dataset_compilation_entrypoint(version="1")  # type: ignore[arg-type]


# --- what a recipe returns --------------------------------------------------------------------


def test_a_selection_sorts_and_dedupes_ids_per_split() -> None:
    subject = Resource(S1, ResourceType.SUBJECT, "trial/basel", "basel", version=2)
    selection = selection_of(
        {"train": [{"id": S2}, subject, {"id": S2, "extra": 1}], "test": []}, recipe="r"
    )
    assert selection.splits == {"train": [S1, S2], "test": []}
    assert selection.versions == {S1: 2}
    assert selection.ids == {S1, S2}


def test_a_query_result_is_read_as_its_rows() -> None:
    table = pa.table({"id": [S2, S1], "age": [60, 70]})
    assert selection_of({"cohort": table}, recipe="r").splits == {"cohort": [S1, S2]}


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ([{"id": S1}], "returned a list, not a dict of splits"),
        (None, "returned a NoneType, not a dict of splits"),
        ({}, "returned no splits"),
    ],
)
def test_the_wrong_shape_is_a_clear_error(result: object, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        selection_of(result, recipe="recipe.py:f")


def test_every_bad_entry_is_reported_at_once() -> None:
    result = {
        "train": [{"id": S1}, 42, {"name": "x"}, {"id": "subject/P-7"}, ...],
        "te st": [],
        "val": "trial/basel",
        "test": [{"id": S1, "version": 1}, {"id": S1, "version": 2}, {"id": S2, "version": "1"}],
    }
    with pytest.raises(RecipeError) as caught:
        selection_of(result, recipe="recipe.py:f")
    problems = caught.value.problems
    assert len(problems) == 7, problems
    text = "\n".join(problems)
    assert "split 'train', item 1: is a int (42)" in text
    assert "split 'train', item 2: has no string 'id'" in text
    # an id's grammar is the lock's to check, with the ids that do not exist
    assert "item 3" not in text
    assert "split 'train', item 4: is `...`: fill in the template" in text
    assert "split name 'te st' must be letters" in text
    assert "split 'val' is a str, not a list of resources" in text
    assert "is given as version 2 and elsewhere as version 1" in text
    assert "version '1' is not an int" in text
    assert str(caught.value).startswith("recipe recipe.py:f returned 7 bad entries:")


# --- recipe files -----------------------------------------------------------------------------

RECIPE = """
    import vxp_client

    @vxp_client.dataset_compilation_entrypoint()
    def cohort(client):
        return {"all": []}
"""


def test_a_recipe_file_loads_with_helpers_next_to_it(tmp_path: Path) -> None:
    _write(tmp_path, "SPLITS = {'all': 1.0}\n", "helpers.py")
    path = _write(
        tmp_path,
        """
        import vxp_client
        from helpers import SPLITS
        from vxp_client import dataset_compilation_entrypoint

        @dataset_compilation_entrypoint(name="the-cohort")
        def cohort(client):
            return {name: [] for name in SPLITS}
        """,
        "with_helper.py",
    )
    recipe = load_recipe(path)
    assert (recipe.name, recipe.entrypoint) == ("the-cohort", "cohort")
    assert recipe(None) == {"all": []}  # type: ignore[arg-type]


def test_entrypoints_are_found_or_named(tmp_path: Path) -> None:
    none = _write(tmp_path, "def f(client):\n    return {}\n", "none.py")
    with pytest.raises(RecipeError, match="has no recipe"):
        load_recipe(none)
    two = _write(tmp_path, RECIPE + RECIPE.replace("cohort", "other"), "two.py")
    with pytest.raises(RecipeError, match="2 entrypoints: cohort, other") as caught:
        load_recipe(two)
    assert caught.value.hint == "pick one with --entrypoint NAME"
    assert load_recipe(two, "other").entrypoint == "other"
    with pytest.raises(RecipeError, match="no entrypoint 'third'"):
        load_recipe(two, "third")
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "missing.py")


def test_a_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "import vxp_client\n\ndef f(client:\n    return {}\n", "broken.py")
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    message = str(caught.value)
    assert "does not parse" in message
    assert f"{path}, line 3, column" in message


def test_an_error_while_importing_shows_the_recipes_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, "import vxp_client\n\nVALUE = {}['missing']\n", "raises.py")
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    text = "\n".join(caught.value.problems)
    assert f'File "{path}", line 3, in <module>' in text
    assert "KeyError: 'missing'" in text
    # vxp's own frames are left out
    assert "importlib" not in text and "vxp/datasets" not in text
