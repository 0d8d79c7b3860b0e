"""Bearer tokens that carry the caller's lakeFS credentials, so every request acts AS the caller.

The token endpoint checks a client-credentials pair (lakeFS access key ID and secret) by asking
lakeFS who it belongs to, then returns the pair Fernet-encrypted under the server's secret with an
issue time. lakeFS stays the only place where users, keys and permissions are managed; the catalog
keeps no session state and a restarted server (same secret) still accepts issued tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken

from vxp.catalog.errors import NotAuthorized
from vxp.lakefs import LakeFS, Session


@dataclass(frozen=True)
class Caller:
    """Who a request acts for.

    Attributes:
        access_key_id, secret_access_key: the caller's lakeFS key pair.
        user_id: the lakeFS user it belongs to (commit metadata names it).
    """

    access_key_id: str
    secret_access_key: str
    user_id: str


class TokenService:
    """Issues and checks bearer tokens: the caller's key pair, Fernet-encrypted with an issue time.

    Args:
        secret: the server's token secret; any string (a Fernet key is derived from it).
        ttl_seconds: how long a token is accepted after it was issued, in seconds.
    """

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        # Fernet wants 32 url-safe base64 bytes; derive them so any configured secret string works
        key = base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())
        self._fernet = Fernet(key)
        self.ttl_seconds = ttl_seconds

    def issue(self, caller: Caller) -> str:
        """A new token for ``caller`` (URL-safe text, valid for ``ttl_seconds``)."""
        payload = {"k": caller.access_key_id, "s": caller.secret_access_key, "u": caller.user_id}
        return self._fernet.encrypt(json.dumps(payload).encode()).decode()

    def verify(self, token: str) -> Caller:
        """The caller a token of this server carries.

        An expired token answers 401 like a bad one, with its own message: 401 makes clients
        (pyiceberg, Iceberg Java) fetch a new token and retry (Iceberg REST spec, OAuth2 flow).

        Raises:
            NotAuthorized: the token has expired, or was not issued with this server's secret.
        """
        try:
            raw = self._fernet.decrypt(token.encode(), ttl=self.ttl_seconds)
        except InvalidToken:
            expired = True
            try:
                self._fernet.decrypt(token.encode())
            except InvalidToken:
                expired = False
            if expired:
                # 401 makes clients (pyiceberg, Iceberg Java) fetch a fresh token and retry
                raise NotAuthorized("the access token has expired; request a new one") from None
            raise NotAuthorized("the access token is not valid for this catalog") from None
        payload = json.loads(raw)
        return Caller(payload["k"], payload["s"], payload["u"])


def authenticate(lakefs: LakeFS, access_key_id: str, secret_access_key: str) -> Caller:
    """Check a key pair against lakeFS; the caller it belongs to (``GET /user`` as that pair).

    Raises:
        LakeFSUnauthorized: lakeFS does not know the key pair.
        LakeFSUnreachable: lakeFS cannot be reached.
    """
    user = lakefs.as_user(access_key_id, secret_access_key).current_user()
    return Caller(access_key_id, secret_access_key, user)


def session_for(lakefs: LakeFS, caller: Caller) -> Session:
    """A lakeFS session acting as ``caller``, over the server's pool (no request is made)."""
    return lakefs.as_user(caller.access_key_id, caller.secret_access_key)
