"""Per-installation secrets, generated on first use and stored with mode 0600.

There are no well-known default keys: every installation gets its own lakeFS admin key pair,
MinIO root credentials, the engines' MinIO key pair (limited to the warehouse, unable to delete),
PostgreSQL password and lakeFS encryption secret.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from pathlib import Path

_UPPER_DIGITS = string.ascii_uppercase + string.digits


def _access_key_id() -> str:
    # lakeFS and S3 clients expect AWS-shaped key ids: 20 upper-case alphanumerics starting AKIA
    return "AKIA" + "".join(secrets.choice(_UPPER_DIGITS) for _ in range(16))


def _generate() -> dict[str, str]:
    return {
        "lakefs_access_key_id": _access_key_id(),
        "lakefs_secret_access_key": secrets.token_urlsafe(30),
        "lakefs_encrypt_secret": secrets.token_urlsafe(32),
        "minio_root_user": "vxp-" + secrets.token_hex(6),
        "minio_root_password": secrets.token_urlsafe(30),
        # the key pair the catalog hands engines, and Trino's: a MinIO user whose policy allows
        # the warehouse bucket only, without delete (vxp.services.minio.engines_policy)
        "minio_engines_access_key_id": _access_key_id(),
        "minio_engines_secret_access_key": secrets.token_urlsafe(30),
        "postgres_password": secrets.token_urlsafe(24),
        "catalog_token_secret": secrets.token_urlsafe(32),
        "hooks_secret": secrets.token_urlsafe(32),
    }


def load_or_create(path: Path) -> dict[str, str]:
    """Return the installation's secrets, creating the file (0600) if it does not exist yet.

    Keys added in later versions are generated and written back, existing ones never change.

    Returns:
        Secret name → value (``lakefs_access_key_id``, ``minio_root_password``, …).

    Raises:
        ValueError: the file exists but is not JSON (``json.JSONDecodeError``).
        OSError: the file cannot be read or written.
    """
    existing: dict[str, str] = {}
    if path.exists():
        existing = json.loads(path.read_text())
    wanted = _generate()
    merged = {**wanted, **existing}
    if merged != existing:
        path.parent.mkdir(parents=True, exist_ok=True)
        # create with 0600 from the start so the secrets are never world-readable, even briefly
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(merged, handle, indent=2)
    path.chmod(0o600)
    return merged
