"""DuckDB, Trino and pyiceberg read any branch, tag and commit through the vxp catalog, and write
to branches through its commit protocol (DESIGN invariant 2)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyiceberg.exceptions import ForbiddenError

from tests.support import Stack, catalog
from tests.versioned_tables import (
    PATIENTS,
    branch,
    head,
    patients,
    rows,
    tag,
    versioned_repo,
)
from vxp.core.errors import VxpError
from vxp.core.names import DEFAULT_BRANCH
from vxp.core.settings import Key
from vxp.domain.engines import duckdb as duck
from vxp.domain.engines import trino
from vxp.domain.engines.common import repository_catalog
from vxp.domain.repositories import create_repository
from vxp.lakefs import Commit

pytestmark = pytest.mark.integration


def select(namespace: str = "basel", table: str = "patients") -> str:
    """The PATIENTS columns of ``namespace.table``, ordered; ``basel`` alone is at the session's
    ref, ``alias.basel`` in an attached catalog, ``repo."v1.basel"`` at a ref of a repository."""
    return f"SELECT id, site, age FROM {namespace}.{table} ORDER BY id"  # noqa: S608


def test_duckdb_reads_a_branch_a_tag_and_a_commit(stack: Stack, repo_name: str) -> None:
    versions = versioned_repo(stack, repo_name)
    conn = duck.connect(stack.home.cache)
    for alias, ref, expected in [
        ("at_branch", DEFAULT_BRANCH, versions.at_head),
        ("at_tag", "v1", versions.at_v1),
        ("at_commit", versions.commit, versions.at_v1),
    ]:
        duck.attach(conn, stack.settings, repo_name, ref, alias)
        assert conn.execute(select(f"{alias}.basel")).fetchall() == expected, ref
    # the repository-scoped warehouse: every ref from one attached catalog
    duck.attach(conn, stack.settings, repo_name, None, "repo")
    for ref, expected in [
        (DEFAULT_BRANCH, versions.at_head),
        ("v1", versions.at_v1),
        (versions.commit, versions.at_v1),
    ]:
        assert conn.execute(select(f'repo."{ref}.basel"')).fetchall() == expected, ref


def test_duckdb_session_names_the_ref_and_every_other_ref(stack: Stack, repo_name: str) -> None:
    versions = versioned_repo(stack, repo_name)
    # the DuckDB session of the public client, pinned to the tag's commit
    with stack.client(repo_name, "v1") as client:
        assert client.commit == versions.commit
        assert rows(client.query(select())) == versions.at_v1
        removed = client.query(
            "SELECT id, site, age FROM basel.patients EXCEPT SELECT id, site, age FROM "  # noqa: S608
            f'{repository_catalog(repo_name)}."integration.basel".patients'
        )
    assert rows(removed) == [row for row in versions.at_v1 if row not in versions.at_head]
    # and the one `vxp sql` runs, a session per statement
    at_tag = duck.query(stack.home.cache, stack.settings, select(), repo_name, "v1")
    assert rows(at_tag.table) == versions.at_v1


def test_duckdb_writes_land_on_their_branch_only(stack: Stack, repo_name: str) -> None:
    versions = versioned_repo(stack, repo_name)
    branch(stack, repo_name, "exp", DEFAULT_BRANCH)
    before = head(stack, repo_name, "exp")
    # CREATE TABLE … AS stages the table before writing it: on a file:// warehouse DuckDB
    # needs the catalog to have made the metadata directory
    duck.query(
        stack.home.cache,
        stack.settings,
        "CREATE TABLE basel.elderly AS SELECT * FROM basel.patients WHERE age >= 65; "
        "INSERT INTO basel.patients VALUES (100, 'basel', 40)",
        repo_name,
        "exp",
    )
    on_exp = duck.query(stack.home.cache, stack.settings, select(), repo_name, "exp")
    assert rows(on_exp.table) == [*versions.at_head, (100, "basel", 40)]
    elderly = duck.query(
        stack.home.cache, stack.settings, select(table="elderly"), repo_name, "exp"
    )
    assert rows(elderly.table) == [row for row in versions.at_head if row[2] >= 65]
    assert head(stack, repo_name, "exp") != before
    at_head = duck.query(stack.home.cache, stack.settings, select(), repo_name, DEFAULT_BRANCH)
    assert rows(at_head.table) == versions.at_head
    with pytest.raises(VxpError, match="elderly does not exist"):
        duck.query(
            stack.home.cache, stack.settings, select(table="elderly"), repo_name, DEFAULT_BRANCH
        )
    # refused; on the full stack DuckDB's clean-up of its files (engines' keys cannot delete)
    # may be what it reports, so the hint names the refusal
    with pytest.raises(VxpError) as refused:
        duck.query(
            stack.home.cache,
            stack.settings,
            "INSERT INTO basel.patients VALUES (101, 'bern', 50)",
            repo_name,
            "v1",
        )
    assert "read-only" in f"{refused.value.message} {refused.value.hint}"


def _commits(stack: Stack, repo: str, ref: str) -> list[Commit]:
    return list(stack.session().log(repo, ref))


def _trino_url(full: Stack) -> str:
    url = full.settings.trino_url
    assert url is not None, "the full stack's settings name Trino"
    return url


def test_trino_writes_are_lakefs_commits_and_refs_compare(full: Stack, repo_name: str) -> None:
    versions = versioned_repo(full, repo_name)
    branch(full, repo_name, "exp", DEFAULT_BRANCH)
    url = _trino_url(full)
    created = trino.query(
        url,
        "CREATE TABLE basel.elderly AS SELECT id, site, age FROM basel.patients WHERE age >= 65",
        repo_name,
        "exp",
    )
    elderly = [row for row in versions.at_head if row[2] >= 65]
    assert created.table.to_pylist() == [{"rows": len(elderly)}]
    trino.query(
        url,
        "INSERT INTO basel.patients VALUES (100, 'basel', 40), (101, 'zurich', 71)",
        repo_name,
        "exp",
    )

    # every write went through the catalog: lakeFS commits on exp that name table and operation
    described = [c.metadata for c in _commits(full, repo_name, "exp")]
    tables = [m.get("vxp.catalog.tables", "") for m in described]
    assert any("basel.elderly" in t for t in tables)
    assert any(
        "basel.patients" in t and '"append"' in m.get("vxp.catalog.changes", "")
        for t, m in zip(tables, described, strict=True)
    )

    # two refs of one table in one query: what exp has that integration has not
    cat = repository_catalog(repo_name)
    diff = trino.query(
        url,
        f'SELECT id FROM {cat}."exp.basel".patients '  # noqa: S608 - names the test chose
        f'EXCEPT SELECT id FROM {cat}."integration.basel".patients ORDER BY id',
        repo_name,
        "exp",
    )
    assert diff.table.column("id").to_pylist() == [100, 101]
    # and a join of the tag with the branch: the v1 patients still there
    kept = trino.query(
        url,
        f'SELECT count(*) AS n FROM {cat}."v1.basel".patients v '  # noqa: S608
        f'JOIN {cat}."{versions.commit}.basel".patients c USING (id) '
        "JOIN basel.patients b USING (id)",
        repo_name,
        DEFAULT_BRANCH,
    )
    assert kept.table.column("n").to_pylist() == [
        len([row for row in versions.at_v1 if row in versions.at_head])
    ]

    # integration never saw the writes; tags and commits refuse them
    at_head = trino.query(url, select(), repo_name, DEFAULT_BRANCH)
    assert rows(at_head.table) == versions.at_head
    with pytest.raises(VxpError, match=r"basel\.elderly' does not exist"):
        trino.query(url, "SELECT * FROM basel.elderly", repo_name, DEFAULT_BRANCH)
    for ref in ("v1", versions.commit):
        with pytest.raises(VxpError, match="read-only"):
            trino.query(url, "INSERT INTO basel.patients VALUES (102, 'bern', 50)", repo_name, ref)


def test_trino_reads_a_tag_and_a_commit(full: Stack, repo_name: str) -> None:
    versions = versioned_repo(full, repo_name)
    url = _trino_url(full)
    for ref in ("v1", versions.commit):
        result = trino.query(url, select(), repo_name, ref)
        assert rows(result.table) == versions.at_v1
    # without vxp: any Trino client sees the repository as a catalog, refs as the first level
    with trino.connect(url) as conn:
        cur = conn.cursor()
        table = f'{repository_catalog(repo_name)}."v1.basel".patients'
        cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        assert cur.fetchall() == [[len(versions.at_v1)]]


def test_trino_repository_catalog_for_a_new_repository(full: Stack, repo_name: str) -> None:
    create_repository(full.session(), repo_name, full.settings.storage_namespace_prefix)
    trino.ensure_repository_catalogs(_trino_url(full), [repo_name])
    with trino.connect(_trino_url(full)) as conn:
        assert repository_catalog(repo_name) in trino.catalogs(conn)
        cur = conn.cursor()
        cur.execute(f"SHOW SCHEMAS FROM {repository_catalog(repo_name)}")
        schemas = {row[0] for row in cur.fetchall()}
    assert {"integration", "source"} <= schemas


def test_pyiceberg_needs_only_uri_credential_and_warehouse(
    full: Stack, repo_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no S3 settings from the environment: they must come from the catalog's loadTable config
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    for key in Key:
        if key.value.startswith("VXP_S3_"):
            monkeypatch.delenv(key.value, raising=False)
    create_repository(full.session(), repo_name, full.settings.storage_namespace_prefix)
    cat = catalog(full, f"{repo_name}.{DEFAULT_BRANCH}")
    cat.create_namespace("basel")
    table = cat.create_table("basel.patients", schema=PATIENTS)
    assert table.location().startswith("s3://")
    assert full.settings.s3 is not None
    assert table.io.properties["s3.endpoint"] == full.settings.s3.endpoint
    first = patients(1, 15, seed=3)
    table.append(first)
    tag(full, repo_name, "v1", DEFAULT_BRANCH)
    table.append(patients(16, 5, seed=4))
    assert rows(cat.load_table("basel.patients").scan().to_arrow()) == rows(
        pa.concat_tables([first, patients(16, 5, seed=4)])
    )
    at_tag = catalog(full, f"{repo_name}.v1").load_table("basel.patients")
    assert rows(at_tag.scan().to_arrow()) == rows(first)
    with pytest.raises(ForbiddenError, match="read-only"):
        at_tag.append(first)
