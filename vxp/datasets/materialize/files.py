"""``-m files``: the locked resources' raw files as a folder tree.

Every file of every locked resource (the instances of a DICOM series, a volume, a document, a
file) lands at ``files/<source>/<relative path>``: the path it was delivered under, without the
``raw/<source>/<run>/`` prefix of the source layer, so the tree looks like the deliveries did.
With resources of more than one repository the tree starts with ``<repository>/``. Files are
hardlinks to the local cache where the file system allows (read-only then), else copies.

``files/SHA256SUMS`` lists every file with its sha256 in ``sha256sum`` format, so
``cd files && sha256sum -c SHA256SUMS`` re-checks the tree without vxp.

Two different files that would land on one path (a file re-delivered under the same path with
other bytes, locked twice through different resources) are refused, naming both objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from vxp.core.errors import InvalidInput

from ..cache import Placed
from .base import MaterializeContext, MaterializerResult
from .lockfile import LockedFile, LockedResource

__all__ = ["FilesMaterializer"]

SUMS = "SHA256SUMS"


class FilesMaterializer:
    """The raw files of the locked resources as a folder tree (module docstring)."""

    name: ClassVar[str] = "files"
    description: ClassVar[str] = "the raw files of the locked resources as a folder tree"

    def materialize(
        self, resources: Sequence[LockedResource], context: MaterializeContext
    ) -> MaterializerResult:
        """Fetch and place every file of ``resources``.

        Raises:
            InvalidInput: two different files would land on one path.
            ChecksumMismatch: bytes that do not match their sha256.
            NotFound: an object missing at its pinned commit.
        """
        several = len({r.repository for r in resources}) > 1
        targets: dict[str, tuple[LockedFile, str]] = {}
        clashes: list[str] = []
        for resource in resources:
            for file in resource.files:
                relative = f"{resource.source}/{file.relative_path}"
                if several:
                    relative = f"{resource.repository}/{relative}"
                earlier = targets.setdefault(relative, (file, resource.id))
                if earlier[0].sha256 != file.sha256:
                    clashes.append(
                        f"{relative}: {earlier[0].path} ({earlier[1]}) and {file.path} "
                        f"({resource.id})"
                    )
        if clashes:
            raise InvalidInput(
                "different files would land on the same path:\n" + "\n".join(clashes),
                hint="lock one of each pair only",
            )
        context.fetch(resources)
        placed = dict.fromkeys(Placed, 0)
        ordered = sorted(targets.items())
        if ordered:
            context.progress.phase("place files", len(ordered), unit="files")
        for relative, (file, _) in ordered:
            placed[context.place(file, relative)] += 1
            context.progress.advance()
        sums = "".join(f"{file.sha256}  {relative}\n" for relative, (file, _) in ordered)
        context.write_text(SUMS, sums)
        return MaterializerResult(
            files=len(ordered) + 1,
            details={
                "linked": placed[Placed.LINKED],
                "copied": placed[Placed.COPIED],
                "present": placed[Placed.PRESENT],
            },
        )
