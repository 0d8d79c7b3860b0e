"""PDF documents (pypdf) for ``Document`` resources: page count and title.

Attributes: ``page_count`` (int), ``title`` (the document information dictionary's /Title, ISO
32000-1 §14.3.3, when present and not empty), ``encrypted`` (bool). An encrypted PDF that opens
with the empty user password is read as usual; one that does not keeps ``encrypted: true`` with
no page count and a ``pdf.encrypted`` warning (its bytes are still landed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pypdf import PdfReader

from ..problems import Problem, Severity


def read_document(path: Path, relative_path: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Read a PDF's page count and title.

    Returns:
        ``(attributes, problems)``; attributes is None with a ``pdf.unreadable`` error when pypdf
        cannot parse the file.
    """
    try:
        reader = PdfReader(path)
        encrypted = bool(reader.is_encrypted)
        if encrypted and not reader.decrypt(""):
            return {"encrypted": True}, [
                Problem(
                    "pdf.encrypted",
                    "The PDF is encrypted with a password; page count and title are unknown.",
                    relative_path,
                    severity=Severity.WARNING,
                )
            ]
        pages = len(reader.pages)
        metadata = reader.metadata
        title = str(metadata.title).strip() if metadata is not None and metadata.title else ""
    # pypdf raises PdfReadError, but also ValueError/KeyError/… on damaged files
    except Exception as exc:
        return None, [Problem("pdf.unreadable", f"The PDF is not readable: {exc}.", relative_path)]
    attributes: dict[str, Any] = {"page_count": pages, "encrypted": encrypted}
    if title:
        attributes["title"] = title
    return attributes, []
