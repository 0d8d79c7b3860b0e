"""The binary cache: ``$VXP_CACHE/<component>/<version>/``, with a manifest of checksums.

An install writes its files first and the manifest last, so a half-finished install is never
mistaken for a complete one; :func:`verify` catches a cached binary that was damaged later.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from vxp.core.errors import VxpError

MANIFEST = "vxp-manifest.json"


def slot(cache_root: Path, component: str, version: str) -> Path:
    """The directory of one cached install: ``<cache_root>/<component>/<version>``."""
    return cache_root / component / version


def sha256(path: Path) -> str:
    """The SHA-256 of a file, hex, read in 1 MiB blocks.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_complete(directory: Path) -> bool:
    """True when ``directory`` holds a manifest, i.e. an install finished there."""
    return (directory / MANIFEST).is_file()


def seal(directory: Path, checked: list[str]) -> None:
    """Record checksums of ``checked`` (relative paths); this marks the slot complete.

    The manifest is written to a temporary name and renamed, so it appears whole or not at all.

    Raises:
        OSError: a checked file cannot be read, or the manifest cannot be written.
    """
    sums = {rel: sha256(directory / rel) for rel in checked}
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"sha256": sums}, indent=2))
    tmp.replace(directory / MANIFEST)


def verify(directory: Path, component: str) -> None:
    """Raise a clear error if a checked file is missing or its checksum changed.

    Raises:
        VxpError: a checked file is missing or changed; the hint says how to reinstall.
        OSError: ``directory`` has no manifest.
        ValueError: the manifest is not JSON.
    """
    manifest = json.loads((directory / MANIFEST).read_text())
    for rel, expected in manifest["sha256"].items():
        path = directory / rel
        if not path.is_file() or sha256(path) != expected:
            raise VxpError(
                f"the cached {component} install at {directory} is corrupt ({rel} does not match "
                "the checksum recorded when it was installed)",
                hint=f"reinstall it with `vxp install {component} --force`",
            )


def clear(directory: Path) -> None:
    """Delete ``directory`` and everything in it, if it exists.

    Raises:
        OSError: something in it cannot be deleted.
    """
    if directory.exists():
        shutil.rmtree(directory)
