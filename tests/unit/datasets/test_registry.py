"""The recipe registry: the shipped recipes/datasets.yaml is valid, and bad registries say where."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from vxp.core.errors import InvalidInput, NotFound
from vxp.datasets.recipe import load_recipe
from vxp.datasets.registry import REGISTRY_FILE, find_registry, load_registry, parse_spec
from vxp.ingestion.resources import Resource, ResourceType

SHIPPED = Path(__file__).resolve().parents[3] / REGISTRY_FILE


def test_the_shipped_registry_is_valid() -> None:
    registry = load_registry(SHIPPED)
    entries = list(registry)
    assert len(entries) >= 2
    # names/versions unique, versions integers, every script a file with one entrypoint
    assert len({(e.name, e.version) for e in entries}) == len(entries)
    assert len({e.name for e in entries}) == len(entries)
    for entry in entries:
        assert isinstance(entry.version, int) and entry.version >= 1
        assert entry.path.is_file() and entry.path.parent == SHIPPED.parent
        assert entry.description
        recipe = load_recipe(entry.path)
        assert recipe.description, f"{entry.script_location}: the recipe has no docstring"
    assert {e.name for e in entries} >= {"basel-t2-clinical", "basel-over-50"}


def _registry(tmp_path: Path, text: str) -> Path:
    (tmp_path / "a.py").write_text("")
    (tmp_path / "notes.txt").write_text("")
    path = tmp_path / "datasets.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_versions_are_looked_up_by_name_and_number(tmp_path: Path) -> None:
    (tmp_path / "b.py").write_text("")
    path = _registry(
        tmp_path,
        """
        datasets:
          - {name: cohort, version: 2, description: newer, script_location: b.py}
          - {name: cohort, version: 1, description: older, script_location: a.py}
        """,
    )
    registry = load_registry(path)
    assert registry.get("cohort").description == "newer"
    assert registry.get("cohort@1").path == (tmp_path / "a.py").resolve()
    assert [e.version for e in registry.versions("cohort")] == [1, 2]
    with pytest.raises(NotFound, match="has no version 3"):
        registry.get("cohort@3")
    with pytest.raises(NotFound, match="no dataset 'other'"):
        registry.get("other")


def test_every_problem_of_a_registry_is_reported_with_its_position(tmp_path: Path) -> None:
    path = _registry(
        tmp_path,
        """\
        datasets:
          - name: Good Name
            version: one
            description: ""
            script_location: missing.py
          - name: ok
            version: 1
            description: fine
            script_location: notes.txt
            owner: me
          - name: ok
            version: 1.0
            script_location: a.py
          - name: dup
            version: 1
            description: first
            script_location: a.py
          - name: dup
            version: 1
            description: second
            script_location: a.py
          - just text
        """,
    )
    with pytest.raises(InvalidInput) as caught:
        load_registry(path)
    message = caught.value.message
    expected = [
        f"{path}:2:11: name 'Good Name' must be lowercase",
        f"{path}:3:14: version 'one' must be an integer >= 1",
        f"{path}:4:18: description is empty",
        f"{path}:5:22: script_location 'missing.py' does not exist",
        f"{path}:9:22: script_location 'notes.txt' is not a .py file",
        f"{path}:10:5: unknown key 'owner'",
        f"{path}:11:5: missing 'description'",
        f"{path}:12:14: version '1.0' must be an integer >= 1",
        f"{path}:18:5: dup@1 is registered twice (first at {path}:14:5)",
        f"{path}:22:5: an entry must be a mapping",
    ]
    for line in expected:
        assert line in message, f"{line!r} not in:\n{message}"
    assert message.startswith(f"{len(expected)} problem(s) in the registry")


def test_not_yaml_is_reported_where_it_breaks(tmp_path: Path) -> None:
    path = _registry(tmp_path, "datasets:\n  - name: [unclosed\n")
    with pytest.raises(InvalidInput, match=rf"{path}:3:1: not YAML"):
        load_registry(path)
    with pytest.raises(NotFound):
        load_registry(tmp_path / "none.yaml")


def test_specs_and_where_the_registry_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert parse_spec("cohort") == ("cohort", None)
    assert parse_spec("cohort@12") == ("cohort", 12)
    for bad in ("", "@1", "cohort@", "cohort@x", "cohort@0"):
        with pytest.raises(InvalidInput):
            parse_spec(bad)
    project = tmp_path / "project"
    (project / "recipes").mkdir(parents=True)
    (project / "recipes" / "datasets.yaml").write_text("datasets: []\n")
    (project / "sub" / "dir").mkdir(parents=True)
    monkeypatch.delenv("VXP_REGISTRY", raising=False)
    assert find_registry(project / "sub" / "dir") == project / "recipes" / "datasets.yaml"
    monkeypatch.setenv("VXP_REGISTRY", str(tmp_path / "elsewhere.yaml"))
    assert find_registry(project) == tmp_path / "elsewhere.yaml"


def _series(**attributes: object) -> Resource:
    study = "trial/basel/subject/BASEL-001/dicom-study/1.2"
    return Resource(
        f"{study}/dicom-series/1.2.3", ResourceType.DICOM_SERIES, study, "basel", attributes
    )


@pytest.mark.parametrize(
    ("attributes", "t2"),
    [
        ({"modality": "MR", "series_description": "T2w_SPACE"}, True),
        ({"modality": "MR", "protocol_name": "t2_tse_tra"}, True),
        ({"modality": "MR", "series_description": "T1w_MPRAGE"}, False),
        ({"modality": "MR", "series_description": "T2 FLAIR"}, False),
        ({"modality": "MR", "series_description": "T2* GRE"}, False),
        # no contrast named: pydicom's MR_small.dcm (spin echo, TE 240 ms, TR 4000 ms) is T2w
        ({"modality": "MR", "echo_time": 240.0, "repetition_time": 4000.0}, True),
        ({"modality": "MR", "echo_time": 15.0, "repetition_time": 500.0}, False),
        (
            {
                "modality": "MR",
                "series_description": "DWI",
                "echo_time": 90.0,
                "repetition_time": 5000.0,
            },
            False,
        ),
        ({"modality": "CT", "series_description": "T2"}, False),
    ],
)
def test_the_t2_recipe_tells_t2_weighted_series(attributes: dict[str, object], t2: bool) -> None:
    recipe = load_recipe(load_registry(SHIPPED).get("basel-t2-clinical").path)
    is_t2 = sys.modules[recipe.__module__].is_t2
    assert is_t2(_series(**attributes)) is t2
