"""Issue 7: what engines keep per process — DuckDB's extension loading, Trino's ref catalogs."""

from __future__ import annotations

import pytest

from vxp.core.home import Home
from vxp.domain.engines import duckdb as duck
from vxp.domain.engines.trino import (
    MAX_REF_CATALOGS,
    REF_CATALOG_PREFIX,
    catalog_properties,
    outdated_catalog,
    read_catalog_file,
    stale_ref_catalogs,
)


@pytest.mark.parametrize("own_sql", [False, True])
def test_duckdb_loads_every_extension_and_checks_signatures_unless_the_sql_is_its_owners(
    own_sql: bool,
) -> None:
    conn = duck.connect(Home.from_env().cache, own_sql=own_sql)
    try:
        loaded = {
            str(row[0])
            for row in conn.execute(
                "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
            ).fetchall()
        }
        assert set(duck.EXTENSIONS) <= loaded
        unsigned = conn.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone()
        assert unsigned == (own_sql,)
    finally:
        conn.close()


def test_ref_catalogs_are_bounded_and_the_current_one_stays() -> None:
    refs = {f"{REF_CATALOG_PREFIX}repo_r{i:02d}_x" for i in range(12)}
    known = refs | {"repo", "system"}
    keep = f"{REF_CATALOG_PREFIX}repo_r11_x"
    stale = stale_ref_catalogs(known, keep)
    assert keep not in stale and not {"repo", "system"} & set(stale)
    assert len(refs) - len(stale) == MAX_REF_CATALOGS
    # few catalogs: nothing to drop; a new one (not yet known) leaves room for itself
    assert stale_ref_catalogs({keep, "repo"}, keep) == []
    fresh = f"{REF_CATALOG_PREFIX}repo_new_x"
    assert len(refs) - len(stale_ref_catalogs(refs, fresh)) == MAX_REF_CATALOGS - 1


def test_catalog_files_of_an_older_vxp_are_made_again() -> None:
    current = {"connector.name": "iceberg", **catalog_properties("repo")}
    text = "#Tue Dec 01 00:17:57 UTC 2026\n" + "\n".join(
        f"{k}={v.replace(':', chr(92) + ':')}" for k, v in current.items()
    )
    read = read_catalog_file(text)
    assert read == current
    assert not outdated_catalog(read)
    older = {k: v for k, v in read.items() if k != "iceberg.rest-catalog.session"}
    assert outdated_catalog(older)
    # a catalog someone else made is left alone
    assert not outdated_catalog({"connector.name": "iceberg", "iceberg.catalog.type": "rest"})
