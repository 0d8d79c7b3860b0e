"""Records of passed validations that a data writer cannot forge.

Each record is a JSON file ``<root>/<repository>/<key>.json`` written by the hooks server only,
signed with HMAC-SHA256 under the installation's hooks secret (which lakeFS and the hooks server
hold, and no data writer does). It lives outside lakeFS, so lakeFS credentials cannot write it,
and a record copied or edited by hand fails its signature. ``vxp audit`` reads them through the
hooks server, which checks every signature (:mod:`vxp.checks.audit`).

Keys: a merge's record is keyed by the merged commit's ID (lakeFS's pre-merge payload names it);
a commit's by :func:`commit_key` of branch, parent, message and metadata, since lakeFS's
pre-commit payload has no commit ID yet. An acknowledged bypass (``vxp audit --accept``) is kept
under :func:`acceptance_key` of its commit, signed the same way, with who accepted it and why.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vxp.checks.base import Report

__all__ = ["RecordStore", "acceptance_key", "commit_key", "sign"]


def _canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, body: Mapping[str, Any]) -> str:
    """HMAC-SHA256 (hex) of ``body``'s canonical JSON (sorted keys, no spaces) under ``secret``."""
    return hmac.new(secret.encode(), _canonical(body), hashlib.sha256).hexdigest()


def commit_key(branch: str, parent: str, message: str, metadata: Mapping[str, str]) -> str:
    """The record key of a commit on ``branch`` over ``parent``: ``commit-<sha256>``."""
    raw = _canonical({"b": branch, "p": parent, "m": message, "d": dict(metadata)})
    return "commit-" + hashlib.sha256(raw).hexdigest()


def acceptance_key(commit_id: str) -> str:
    """The record key of a reviewed bypass of ``commit_id``: ``accepted-<commit_id>``."""
    return "accepted-" + commit_id


class RecordStore:
    """Signed records in a directory only the hooks server writes.

    Args:
        root: the directory (created on first write, mode 0700).
        secret: the installation's hooks secret.
    """

    def __init__(self, root: Path, secret: str) -> None:
        self.root = root
        self._secret = secret

    def _path(self, repository: str, key: str) -> Path:
        if "/" in repository or "/" in key or key.startswith("."):
            raise ValueError(f"not a record name: {repository}/{key}")
        return self.root / repository / f"{key}.json"

    def put(self, key: str, report: Report, event: str) -> dict[str, Any]:
        """Record that ``report`` passed; the signed record.

        Raises:
            ValueError: ``report`` did not pass, or the key is not a plain name.
            OSError: the file cannot be written.
        """
        if not report.passed:
            raise ValueError("only passed validations are recorded")
        target = report.target
        body: dict[str, Any] = {
            "repository": target.repository,
            "branch": target.branch,
            "key": key,
            "event": event,
            "checks": list(report.checks),
            "notes": list(report.notes),
            "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        return self._write(target.repository, key, body)

    def accept(self, repository: str, commit_id: str, reason: str, by: str) -> dict[str, Any]:
        """Record that the bypass ``commit_id`` was reviewed and accepted; the signed record.

        Args:
            repository: the repository.
            commit_id: the bypassing commit (full ID).
            reason: why it is acceptable (non-empty; shown by every later audit).
            by: the lakeFS user who accepted it.

        Raises:
            ValueError: the reason is empty, or the commit ID is not a plain name.
            OSError: the file cannot be written.
        """
        if not reason.strip():
            raise ValueError("an acceptance needs a reason")
        key = acceptance_key(commit_id)
        body: dict[str, Any] = {
            "repository": repository,
            "key": key,
            "event": "accept",
            "commit_id": commit_id,
            "reason": reason.strip(),
            "accepted_by": by,
            "accepted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        return self._write(repository, key, body)

    def _write(self, repository: str, key: str, body: Mapping[str, Any]) -> dict[str, Any]:
        record = {**body, "signature": sign(self._secret, body)}
        path = self._path(repository, key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, sort_keys=True))
        tmp.replace(path)
        return record

    def get(self, repository: str, key: str) -> dict[str, Any] | None:
        """The record of ``key`` if it exists and its signature holds, else None.

        Raises:
            OSError: the file exists but cannot be read.
        """
        path = self._path(repository, key)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
            body = {k: v for k, v in record.items() if k != "signature"}
            genuine = hmac.compare_digest(
                str(record.get("signature", "")), sign(self._secret, body)
            )
        except (ValueError, AttributeError):
            return None
        if not genuine or body.get("repository") != repository or body.get("key") != key:
            return None
        return dict(record)
