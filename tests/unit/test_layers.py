"""The code's layers hold: no import cycles, and the public client loads no server code."""

from __future__ import annotations

import subprocess
import sys

import grimp


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module) & modules:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_in_vxp_or_the_client() -> None:
    sys.setrecursionlimit(10_000)
    graph = grimp.build_graph("vxp", "vxp_client")
    modules = {m for m in graph.modules if m.startswith(("vxp.", "vxp_client"))}
    assert _cycles(graph, modules) == []


def test_importing_the_client_loads_no_server_and_no_stack_manager() -> None:
    probe = (
        "import sys, vxp_client; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette', 'uvicorn') "
        "or m.startswith(('vxp.services', 'vxp.catalog', 'vxp.cli'))]; "
        "print(','.join(bad))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
