"""No PHI downstream: a column marked ``phi: true`` in a contract (or PHI in a delivered data
dictionary, through the hooks server's :attr:`CheckEnv.phi_sources`) never appears in an
``app-*`` branch (DESIGN.md, "Versioning model": application-level data).

The marks are read from the contracts of the proposed tree, of the branch before the change and
of ``integration``, so an application branch cannot drop a mark by deleting the contract.
Columns are matched by name, at every level of nesting (Iceberg field names).
"""

from __future__ import annotations

from pyiceberg.schema import index_name_by_id

from vxp.checks.base import APP_PREFIX, CheckEnv, Problem, Target
from vxp.checks.contracts import load_contracts
from vxp.core.errors import NotFound
from vxp.core.layout import TABLES, parse_table_pointer
from vxp.core.names import DEFAULT_BRANCH
from vxp.domain.tables import RefReader

NAME = "phi"


def applies(target: Target) -> bool:
    """True for changes to ``app-*`` branches."""
    return target.branch.startswith(APP_PREFIX)


def marked(env: CheckEnv, target: Target) -> dict[str, set[str]]:
    """Table → PHI columns, from the contracts of the proposed tree, the base and integration,
    and from :attr:`CheckEnv.phi_sources` (the hooks server's: the delivered dictionaries).

    Raises:
        LakeFSError: lakeFS refused a read.
    """
    refs = [target.ref, target.base]
    if env.session.branch_head(target.repository, DEFAULT_BRANCH) is not None:
        refs.append(DEFAULT_BRANCH)
    found: dict[str, set[str]] = {}
    for ref in refs:
        if ref is None:
            continue
        contracts, _ = load_contracts(env, target.repository, ref)
        for contract in contracts:
            found.setdefault(contract.table, set()).update(contract.phi)
    for source in env.phi_sources:
        for table, columns in source(env, target).items():
            found.setdefault(table, set()).update(columns)
    return {table: cols for table, cols in found.items() if cols}


def check(env: CheckEnv, target: Target) -> list[Problem]:
    """A problem for every marked column present in a table of the proposed tree.

    Raises:
        VxpError: a table's metadata cannot be read.
        LakeFSError: lakeFS refused a read.
    """
    phi = marked(env, target)
    if not phi:
        return []
    reader = RefReader(env.session, env.settings, target.repository)
    problems: list[Problem] = []
    for entry in env.session.list_objects(
        target.repository, target.ref, TABLES + "/", delimiter=""
    ):
        parsed = parse_table_pointer(entry.path)
        if parsed is None:
            continue
        table = ".".join((*parsed[0], parsed[1]))
        if table not in phi:
            continue
        try:
            state = reader.table(target.ref, *parsed)
        except NotFound:
            continue
        names = set(index_name_by_id(reader.metadata(state.metadata_location).schema()).values())
        leaked = sorted(phi[table] & names)
        if leaked:
            problems.append(
                Problem(
                    NAME,
                    f"table {table}",
                    f"columns marked phi: true reach {target.branch}: {', '.join(leaked)}",
                    hint="drop or pseudonymise them on a work branch, then merge it into (or "
                    f"create {target.branch} from) that branch; their contract, "
                    f"_vxp/contracts/{table}.yaml, marks them",
                )
            )
    return problems
