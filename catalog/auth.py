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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken

from vxp.catalog.errors import NotAuthorized
from vxp.core.errors import Unauthorized
from vxp.lakefs import LakeFS, Session


@dataclass(frozen=True)
class Caller:
    """Who a request acts for.

    Attributes:
        access_key_id, secret_access_key: the caller's lakeFS key pair.
        user_id: the lakeFS user it belongs to (commit metadata names it).
    """

    access_key_id: str
    # never in repr(): callers show up in logs and tracebacks
    secret_access_key: str = field(repr=False)
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
        try:
            payload = json.loads(raw)
            fields = (payload["k"], payload["s"], payload["u"])
        except (ValueError, KeyError, TypeError):
            # only a holder of the server's secret can sign a payload: a malformed one is a
            # forged or foreign token, refused like any other bad token
            raise NotAuthorized("the access token is not valid for this catalog") from None
        if not all(isinstance(value, str) and value for value in fields):
            raise NotAuthorized("the access token is not valid for this catalog")
        return Caller(*fields)


def authenticate(lakefs: LakeFS, access_key_id: str, secret_access_key: str) -> Caller:
    """Check a key pair against lakeFS; the caller it belongs to (``GET /user`` as that pair).

    Raises:
        LakeFSUnauthorized: lakeFS does not know the key pair.
        LakeFSUnreachable: lakeFS cannot be reached.
    """
    user = lakefs.as_user(access_key_id, secret_access_key).current_user()
    return Caller(access_key_id, secret_access_key, user)


class CallerCheck:
    """Confirms with lakeFS that a token's key pair is still accepted, before a request does
    anything else (issue "Catalog security": auth before I/O).

    A token proves only that lakeFS accepted the key pair when it was issued; the user or key may
    have been deleted since. Each key pair is asked about (``GET /user``) at most once per
    ``ttl_seconds``, so a busy client costs lakeFS one extra call per interval, and a removed
    user or key is refused at most ``ttl_seconds`` later.

    Args:
        lakefs: the lakeFS pool to ask.
        ttl_seconds: how long an accepted key pair is trusted without asking again; 0 asks on
            every request.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self, lakefs: LakeFS, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lakefs = lakefs
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        # sha256(key ID, secret) -> when lakeFS last accepted the pair (the secret is not kept)
        self._accepted: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def confirm(self, caller: Caller) -> Caller:
        """``caller``, once lakeFS accepts its key pair as the same user (asked at most once per
        ``ttl_seconds``).

        Raises:
            NotAuthorized: lakeFS no longer accepts the key pair, or it now belongs to another
                user.
            LakeFSUnreachable: lakeFS cannot be reached.
            LakeFSError: lakeFS failed otherwise.
        """
        digest = hashlib.sha256(
            f"{caller.access_key_id}\0{caller.secret_access_key}\0{caller.user_id}".encode()
        ).digest()
        now = self._clock()
        with self._lock:
            accepted = self._accepted.get(digest)
        if accepted is not None and now - accepted < self.ttl_seconds:
            return caller
        try:
            user = self._lakefs.as_user(caller.access_key_id, caller.secret_access_key)
            current = user.current_user()
        except Unauthorized:
            self._forget(digest)
            raise NotAuthorized(
                "lakeFS no longer accepts the key pair of this token; request a new token with "
                "valid lakeFS credentials"
            ) from None
        if current != caller.user_id:
            self._forget(digest)
            raise NotAuthorized("the key pair of this token now belongs to another lakeFS user")
        with self._lock:
            if len(self._accepted) > 10_000:
                # bound memory: forget everything; the next requests simply ask lakeFS again
                self._accepted.clear()
            self._accepted[digest] = now
        return caller

    def _forget(self, digest: bytes) -> None:
        with self._lock:
            self._accepted.pop(digest, None)


def session_for(lakefs: LakeFS, caller: Caller) -> Session:
    """A lakeFS session acting as ``caller``, over the server's pool (no request is made)."""
    return lakefs.as_user(caller.access_key_id, caller.secret_access_key)
