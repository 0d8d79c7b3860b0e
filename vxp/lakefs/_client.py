"""The one module that speaks HTTP to lakeFS's API (``/api/v1``), for every part of vxp.

Why httpx and not the generated ``lakefs_sdk``: measured on this code base, importing
``lakefs_sdk`` costs about 3.5 s cold (its pydantic models) against 0.7 s for httpx, the SDK takes
a file *name* for uploads (so every upload went through a temporary file), and it binds
credentials to a client object, while the catalog serves many callers from one connection pool.
Here one :class:`LakeFS` owns the pool; :meth:`LakeFS.as_user` binds a key pair per caller.

Errors are chosen by HTTP status (:func:`vxp.lakefs._errors.error_for`), never by message text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote

import httpx

from vxp.lakefs._errors import (
    LakeFSAlreadyExists,
    LakeFSBadRequest,
    LakeFSConflict,
    LakeFSError,
    LakeFSNotFound,
    LakeFSUnauthorized,
    LakeFSUnreachable,
    error_for,
)

__all__ = [
    "Commit",
    "DiffEntry",
    "Entry",
    "LakeFS",
    "ObjectStats",
    "Session",
]

#: lakeFS's largest page size for listings
PAGE_SIZE = 1000
_EPOCH = datetime.fromtimestamp(0, tz=UTC)


@dataclass(frozen=True)
class Entry:
    """One listing result: an object, or a common prefix when listing with a delimiter.

    Attributes:
        path: the object's path in the ref (a common prefix ends with the delimiter).
        is_prefix: True for a common prefix.
        checksum: the object's content checksum (its ETag); empty for a common prefix.
        size_bytes: the object's size; 0 for a common prefix.
    """

    path: str
    is_prefix: bool
    checksum: str = ""
    size_bytes: int = 0


@dataclass(frozen=True)
class ObjectStats:
    """An object's facts at a ref (lakeFS's ``ObjectStats``).

    Attributes:
        path: the object's path in the ref.
        checksum: its content checksum (lakeFS's ETag of the object).
        size_bytes: its size in bytes.
        content_type: the media type it was uploaded with.
        mtime: when it was last written (UTC, second precision).
    """

    path: str
    checksum: str
    size_bytes: int
    content_type: str
    mtime: datetime


@dataclass(frozen=True)
class Commit:
    """One commit of a repository (lakeFS's ``Commit``).

    Attributes:
        id: the commit ID (64 hex digits).
        parents: parent commit IDs; two for a merge commit, none for the first commit.
        meta_range_id: commits with the same meta-range hold exactly the same objects.
        committer: the lakeFS user ID that made it.
        message: the commit message.
        date: when it was made (UTC, second precision).
        metadata: the commit's key-value metadata (``vxp.*`` keys: :mod:`vxp.core.metadata`).
    """

    id: str
    parents: tuple[str, ...]
    meta_range_id: str = ""
    committer: str = ""
    message: str = ""
    date: datetime = _EPOCH
    metadata: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Commit:
        """A commit from lakeFS's JSON ``Commit`` (``creation_date`` in Unix seconds).

        Raises:
            KeyError: ``item`` has no ``id``.
        """
        return cls(
            id=str(item["id"]),
            parents=tuple(str(p) for p in item.get("parents") or ()),
            meta_range_id=str(item.get("meta_range_id") or ""),
            committer=str(item.get("committer") or ""),
            message=str(item.get("message") or ""),
            date=datetime.fromtimestamp(int(item.get("creation_date") or 0), tz=UTC),
            metadata={str(k): str(v) for k, v in (item.get("metadata") or {}).items()},
        )


@dataclass(frozen=True)
class DiffEntry:
    """One path of a diff (lakeFS's ``Diff``).

    Attributes:
        path: the object's path (a common prefix ends with ``/``).
        type: ``added``, ``removed``, ``changed`` or, in a three-dot diff, ``conflict``.
        is_prefix: True for a common prefix rather than an object.
        size_bytes: the object's size on the side that has it, or None when lakeFS omits it.
    """

    path: str
    type: str
    is_prefix: bool = False
    size_bytes: int | None = None


def _seg(value: str) -> str:
    # ref, branch and tag names go into the URL path; never let one add a path segment
    return quote(value, safe="")


class LakeFS:
    """A pooled connection to one lakeFS server; a context manager that closes the pool.

    Args:
        endpoint: lakeFS's base URL, e.g. ``http://127.0.0.1:8000`` (without ``/api/v1``).
        timeout: seconds per request (connect, read, write, pool).
    """

    def __init__(self, endpoint: str, timeout: float = 30.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._http = httpx.Client(
            base_url=self.endpoint + "/api/v1",
            timeout=timeout,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    def close(self) -> None:
        """Close the pool's connections; sessions made from it can no longer be used."""
        self._http.close()

    def __enter__(self) -> LakeFS:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def as_user(self, access_key_id: str, secret_access_key: str) -> Session:
        """Calls made with one caller's key pair, over this pool.

        The pair is sent as HTTP Basic auth, as lakeFS's API takes it. No request is made here: a
        rejected key pair shows on the session's first call.
        """
        return Session(self._http, httpx.BasicAuth(access_key_id, secret_access_key))

    def healthy(self) -> bool:
        """True when lakeFS answers its health check (``GET /healthcheck``, no credentials)."""
        try:
            return self._http.get("/healthcheck").status_code == 204
        except httpx.HTTPError:
            return False


class Session:
    """lakeFS calls made with one caller's credentials.

    Every method raises :class:`~vxp.lakefs.LakeFSUnreachable` when lakeFS cannot be reached and
    the :class:`~vxp.lakefs.LakeFSError` subclass of lakeFS's status otherwise, unless it says
    it answers None for "does not exist".
    """

    def __init__(self, http: httpx.Client, auth: httpx.BasicAuth) -> None:
        self._http = http
        self._auth = auth

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, auth=self._auth, **kwargs)
        except httpx.TransportError as exc:
            raise LakeFSUnreachable(
                f"lakeFS at {self._http.base_url} is unreachable ({type(exc).__name__})",
                status=0,
                detail=str(exc),
                hint="check `vxp status`; `vxp up` restarts what died",
            ) from exc
        if response.status_code < 300:
            return response
        if response.status_code == 401:
            raise LakeFSUnauthorized(
                "lakeFS rejected this key pair: wrong or unknown access key ID or secret key",
                status=401,
                detail=response.text[:500],
                hint="the installation's keys are VXP_LAKEFS_ACCESS_KEY_ID and "
                'VXP_LAKEFS_SECRET_ACCESS_KEY (`vxp env` prints them); with `eval "$(vxp env)"` '
                "from another installation in this shell, run it again or unset them",
            )
        raise error_for(response)

    def _pages(
        self, path: str, params: Mapping[str, str] | None = None, after: str = ""
    ) -> Iterator[Any]:
        """Every result of a paginated listing after ``after``, fetched a page at a time as
        they are consumed (the one pagination loop of the gateway)."""
        while True:
            query = {**(params or {}), "after": after, "amount": str(PAGE_SIZE)}
            body = self._request("GET", path, params=query).json()
            yield from body["results"]
            if not body["pagination"]["has_more"]:
                return
            after = body["pagination"]["next_offset"]

    # --- identity and repositories -------------------------------------------------------

    def current_user(self) -> str:
        """The lakeFS user ID of this session's key pair (``GET /user``).

        Raises:
            LakeFSUnauthorized: lakeFS does not know the key pair.
            LakeFSUnreachable: lakeFS cannot be reached.
        """
        return str(self._request("GET", "/user").json()["user"]["id"])

    def repository_exists(self, repo: str) -> bool:
        """True when ``repo`` exists and the caller may read it.

        Raises:
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        try:
            self._request("GET", f"/repositories/{_seg(repo)}")
        except LakeFSNotFound:
            return False
        return True

    def list_repositories(self) -> Iterator[str]:
        """Repository names in name order, fetched a page at a time as they are consumed.

        Errors are raised while iterating.

        Raises:
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        for item in self._pages("/repositories"):
            yield str(item["id"])

    def create_repository(self, repo: str, storage_namespace: str, default_branch: str) -> None:
        """Create ``repo`` with its first branch ``default_branch`` (holding one empty commit).

        Args:
            storage_namespace: where lakeFS keeps the repository's objects, e.g.
                ``local://clinical`` or ``s3://bucket/clinical``.

        Raises:
            LakeFSAlreadyExists: a repository of that name exists.
            LakeFSBadRequest: the name or storage namespace is not acceptable to lakeFS.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        try:
            self._request(
                "POST",
                "/repositories",
                json={
                    "name": repo,
                    "storage_namespace": storage_namespace,
                    "default_branch": default_branch,
                },
            )
        except LakeFSConflict as exc:
            raise LakeFSAlreadyExists(
                f"repository {repo!r} exists already", status=exc.status, detail=exc.detail
            ) from exc

    def delete_repository(self, repo: str) -> None:
        """Delete ``repo`` and all its refs (its objects stay in the storage namespace).

        Raises:
            LakeFSNotFound: no such repository.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        self._request("DELETE", f"/repositories/{_seg(repo)}")

    def set_branch_protection(self, repo: str, patterns: Iterable[str]) -> None:
        """Protect branches matching ``patterns`` (lakeFS glob patterns), replacing earlier rules.

        lakeFS then refuses uploads, deletes, commits and resets on them; merges still land
        (lakeFS docs, "Branch Protection Rules").

        Raises:
            LakeFSNotFound: no such repository.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        self._request(
            "PUT",
            f"/repositories/{_seg(repo)}/settings/branch_protection",
            json=[{"pattern": p} for p in patterns],
        )

    # --- refs ----------------------------------------------------------------------------

    def branch_head(self, repo: str, branch: str) -> str | None:
        """The branch's head commit ID, or None if no such branch (or not a valid branch name).

        None also when ``repo`` does not exist: lakeFS answers both with 404.

        Raises:
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        return self._ref_commit(f"/repositories/{_seg(repo)}/branches/{_seg(branch)}")

    def tag_commit(self, repo: str, tag: str) -> str | None:
        """The commit ID a tag pins, or None if no such tag (or repository, or valid tag name).

        Raises:
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        return self._ref_commit(f"/repositories/{_seg(repo)}/tags/{_seg(tag)}")

    def _ref_commit(self, path: str) -> str | None:
        try:
            body = self._request("GET", path)
        except (LakeFSNotFound, LakeFSBadRequest):
            # lakeFS answers 400 for names that cannot be refs of that kind (a branch with dots)
            return None
        return str(body.json()["commit_id"])

    def get_commit(self, repo: str, ref: str) -> Commit | None:
        """The commit any ref expression (branch, tag, commit ID or prefix, ``main~1``) names,
        or None when the ref does not exist in ``repo``.

        lakeFS answers 500 for some expressions it cannot parse (``main@x``): that is None too when
        lakeFS's health check still passes, so only a real server failure raises.

        Raises:
            LakeFSNotFound: the repository does not exist.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        try:
            body = self._request("GET", f"/repositories/{_seg(repo)}/commits/{_seg(ref)}")
        except (LakeFSNotFound, LakeFSBadRequest) as exc:
            if not self.repository_exists(repo):
                raise LakeFSNotFound(
                    f"repository {repo!r} does not exist", status=404, detail=exc.detail
                ) from exc
            return None
        except LakeFSError as exc:
            # lakeFS answers 500 for ref expressions it cannot parse (``main@x``); a real
            # server failure fails the health check below, a bad expression does not
            if exc.status >= 500 and self._http_healthy():
                return None
            raise
        return Commit.from_json(body.json())

    def resolve_commit(self, repo: str, ref: str) -> str | None:
        """The commit ID ``ref`` names, or None (see :meth:`get_commit`).

        Raises:
            LakeFSNotFound: the repository does not exist.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        commit = self.get_commit(repo, ref)
        return None if commit is None else commit.id

    def _http_healthy(self) -> bool:
        try:
            return self._http.get("/healthcheck").status_code == 204
        except httpx.HTTPError:
            return False

    def list_branches(self, repo: str) -> list[str]:
        """Branch names in name order (hidden branches excluded).

        Raises:
            LakeFSNotFound: no such repository.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        return list(self.branch_heads(repo))

    def list_tags(self, repo: str) -> list[str]:
        """Tag names in name order.

        Raises:
            LakeFSNotFound: no such repository.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        return list(self.tag_commits(repo))

    def branch_heads(self, repo: str, *, hidden: bool = False) -> dict[str, str]:
        """Branch name → head commit ID, in name order; with ``hidden``, hidden branches too.

        Raises:
            LakeFSNotFound: no such repository.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        params = {"show_hidden": "true"} if hidden else {}
        path = f"/repositories/{_seg(repo)}/branches"
        return {str(i["id"]): str(i["commit_id"]) for i in self._pages(path, params)}

    def tag_commits(self, repo: str) -> dict[str, str]:
        """Tag name → commit ID, in name order.

        Raises:
            LakeFSNotFound: no such repository.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        path = f"/repositories/{_seg(repo)}/tags"
        return {str(i["id"]): str(i["commit_id"]) for i in self._pages(path)}

    def create_branch(self, repo: str, name: str, source: str, *, hidden: bool = False) -> None:
        """Branch ``name`` from ref ``source`` (O(1) in lakeFS: no object is copied).

        Args:
            source: any ref: a branch, tag or commit ID.
            hidden: keep the branch out of default listings (lakeFS's hidden branches).

        Raises:
            LakeFSAlreadyExists: a branch of that name exists.
            LakeFSNotFound: the repository or ``source`` does not exist.
            LakeFSBadRequest: ``name`` is not a valid branch name.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        try:
            self._request(
                "POST",
                f"/repositories/{_seg(repo)}/branches",
                json={"name": name, "source": source, "hidden": hidden},
            )
        except LakeFSConflict as exc:
            raise LakeFSAlreadyExists(
                f"branch {name!r} exists already in {repo!r}", status=exc.status, detail=exc.detail
            ) from exc

    def delete_branch(self, repo: str, name: str) -> None:
        """Delete branch ``name``; its commits stay reachable from other refs.

        lakeFS's branch protection does not stop this: callers guard layer branches themselves.

        Raises:
            LakeFSNotFound: no such repository or branch.
            LakeFSForbidden: ``name`` is the repository's default branch (lakeFS refuses with 403).
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        self._request("DELETE", f"/repositories/{_seg(repo)}/branches/{_seg(name)}")

    def create_tag(self, repo: str, name: str, ref: str) -> str:
        """Tag the commit ``ref`` names; the commit ID it pins.

        Raises:
            LakeFSAlreadyExists: a tag of that name exists.
            LakeFSNotFound: the repository or ``ref`` does not exist.
            LakeFSBadRequest: ``name`` is not a valid tag name.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        try:
            body = self._request(
                "POST", f"/repositories/{_seg(repo)}/tags", json={"id": name, "ref": ref}
            )
        except LakeFSConflict as exc:
            raise LakeFSAlreadyExists(
                f"tag {name!r} exists already in {repo!r}", status=exc.status, detail=exc.detail
            ) from exc
        return str(body.json()["commit_id"])

    def newest_commit_id(self, repo: str, ref: str) -> str | None:
        """The commit ID ``ref`` names now, from the first entry of its log: one request of one
        commit (:meth:`log` pages 1,000 at a time); None for a log with no commit.

        Raises:
            LakeFSNotFound: the repository or ``ref`` does not exist.
            LakeFSBadRequest: ``ref`` is not a valid ref.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        path = f"/repositories/{_seg(repo)}/refs/{_seg(ref)}/commits"
        results = self._request("GET", path, params={"amount": "1"}).json().get("results") or []
        return str(results[0]["id"]) if results else None

    def log(self, repo: str, ref: str, *, first_parent: bool = False) -> Iterator[Commit]:
        """``ref`` and all its ancestors (every parent, not only the first), newest first.

        Fetched a page at a time as they are consumed.

        Args:
            first_parent: follow only the first parent of a merge commit (lakeFS's
                ``logCommits`` ``first_parent``): a branch's own line, as ``git log
                --first-parent``.

        Raises:
            LakeFSNotFound: the repository or ``ref`` does not exist (raised while iterating).
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        path = f"/repositories/{_seg(repo)}/refs/{_seg(ref)}/commits"
        params = {"first_parent": "true"} if first_parent else None
        for item in self._pages(path, params):
            yield Commit.from_json(item)

    # --- objects -------------------------------------------------------------------------

    def get_object(self, repo: str, ref: str, path: str) -> bytes | None:
        """An object's content, read whole into memory, or None when it (or the ref) does not exist.

        Use :meth:`download` for large objects.

        Raises:
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        try:
            response = self._request(
                "GET", f"/repositories/{_seg(repo)}/refs/{_seg(ref)}/objects", params={"path": path}
            )
        except (LakeFSNotFound, LakeFSBadRequest):
            # 400: ``ref`` is no ref expression lakeFS can parse, so nothing exists in it either
            return None
        return response.content

    def download(self, repo: str, ref: str, path: str, target: IO[bytes]) -> int:
        """Stream an object into ``target`` in 1 MiB chunks, without holding it in memory.

        Returns:
            The number of bytes written.

        Raises:
            LakeFSNotFound: no such repository, ref or object.
            LakeFSUnreachable: lakeFS cannot be reached, or the connection broke mid-stream
                (``target`` then holds a prefix of the object).
            LakeFSError: any other error answer.
            OSError: writing to ``target`` failed.
        """
        url = f"/repositories/{_seg(repo)}/refs/{_seg(ref)}/objects"
        written = 0
        try:
            with self._http.stream("GET", url, params={"path": path}, auth=self._auth) as response:
                if response.status_code >= 300:
                    response.read()
                    raise error_for(response)
                for chunk in response.iter_bytes(1 << 20):
                    target.write(chunk)
                    written += len(chunk)
        except httpx.TransportError as exc:
            raise LakeFSUnreachable(
                f"lakeFS at {self._http.base_url} is unreachable ({type(exc).__name__})",
                status=0,
                detail=str(exc),
            ) from exc
        return written

    def stat_object(self, repo: str, ref: str, path: str) -> ObjectStats | None:
        """An object's checksum, size and type, or None when it does not exist at ``ref``.

        Raises:
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        try:
            body = self._request(
                "GET",
                f"/repositories/{_seg(repo)}/refs/{_seg(ref)}/objects/stat",
                params={"path": path},
            ).json()
        except (LakeFSNotFound, LakeFSBadRequest):
            return None
        return ObjectStats(
            path=str(body["path"]),
            checksum=str(body.get("checksum") or ""),
            size_bytes=int(body.get("size_bytes") or 0),
            content_type=str(body.get("content_type") or ""),
            mtime=datetime.fromtimestamp(int(body.get("mtime") or 0), tz=UTC),
        )

    def list_objects(
        self, repo: str, ref: str, prefix: str, *, delimiter: str = "/", after: str = ""
    ) -> Iterator[Entry]:
        """Entries under ``prefix`` in path order, fetched a page at a time as they are consumed.

        Args:
            prefix: a path prefix (``"raw/"``); ``""`` lists the ref's root.
            delimiter: ``"/"`` lists one level (folders as common prefixes); ``""`` lists every
                object below ``prefix`` recursively.
            after: start after this path (exclusive), lakeFS's pagination offset.

        Raises:
            LakeFSNotFound: no such repository or ref (raised while iterating).
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        path = f"/repositories/{_seg(repo)}/refs/{_seg(ref)}/objects/ls"
        for item in self._pages(path, {"prefix": prefix, "delimiter": delimiter}, after):
            yield Entry(
                path=str(item["path"]),
                is_prefix=item["path_type"] == "common_prefix",
                checksum=str(item.get("checksum") or ""),
                size_bytes=int(item.get("size_bytes") or 0),
            )

    def upload_object(
        self, repo: str, branch: str, path: str, content: bytes | IO[bytes] | Iterable[bytes]
    ) -> str:
        """Stage ``content`` at ``path`` on ``branch``; the object's checksum (ETag).

        ``content`` may be bytes, an open binary file (streamed, with its length) or an
        iterable of chunks (streamed chunked); nothing is written to a temporary file.

        Raises:
            LakeFSNotFound: no such repository or branch.
            LakeFSForbidden: ``branch`` is protected (layer branches change only by merge).
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        body = self._request(
            "POST",
            f"/repositories/{_seg(repo)}/branches/{_seg(branch)}/objects",
            params={"path": path},
            content=content,
            headers={"Content-Type": "application/octet-stream"},
        )
        return str(body.json().get("checksum") or "")

    def copy_object(self, repo: str, branch: str, source_path: str, destination: str) -> str:
        """Copy object ``source_path`` of ``branch`` to ``destination`` on it; the copy's
        checksum. Within one repository lakeFS copies only metadata: no bytes move (lakeFS API,
        ``copyObject``).

        Raises:
            LakeFSNotFound: no object at ``source_path``.
            LakeFSError: any other refusal (:class:`LakeFSUnreachable` when lakeFS cannot be
                reached).
        """
        body = self._request(
            "POST",
            f"/repositories/{_seg(repo)}/branches/{_seg(branch)}/objects/copy",
            params={"dest_path": destination},
            json={"src_path": source_path, "src_ref": branch},
        )
        return str(body.json().get("checksum") or "")

    def delete_object(self, repo: str, branch: str, path: str) -> None:
        """Stage the deletion of ``path`` on ``branch``.

        Raises:
            LakeFSNotFound: no such repository, branch or object.
            LakeFSForbidden: ``branch`` is protected.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        self._request(
            "DELETE",
            f"/repositories/{_seg(repo)}/branches/{_seg(branch)}/objects",
            params={"path": path},
        )

    # --- commits, diffs, merges ----------------------------------------------------------

    def commit(self, repo: str, branch: str, message: str, metadata: Mapping[str, str]) -> str:
        """Commit the branch's staged changes; the new commit's ID.

        Args:
            metadata: key-value metadata stored with the commit (:mod:`vxp.core.metadata`).

        Raises:
            LakeFSBadRequest: nothing is staged (lakeFS refuses an empty commit).
            LakeFSPreconditionFailed: a pre-commit hook refused it.
            LakeFSForbidden: the branch is protected.
            LakeFSNotFound: no such repository or branch.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        return self.commit_details(repo, branch, message, metadata).id

    def commit_details(
        self, repo: str, branch: str, message: str, metadata: Mapping[str, str]
    ) -> Commit:
        """Like :meth:`commit`, returning the whole commit.

        Raises:
            LakeFSBadRequest: nothing is staged.
            LakeFSPreconditionFailed: a pre-commit hook refused it.
            LakeFSForbidden: the branch is protected.
            LakeFSNotFound: no such repository or branch.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        body = self._request(
            "POST",
            f"/repositories/{_seg(repo)}/branches/{_seg(branch)}/commits",
            json={"message": message, "metadata": dict(metadata)},
        )
        return Commit.from_json(body.json())

    def has_uncommitted(self, repo: str, branch: str) -> bool:
        """True when ``branch`` has staged changes not yet committed (one diff entry is asked for).

        Raises:
            LakeFSNotFound: no such repository or branch.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        body = self._request(
            "GET", f"/repositories/{_seg(repo)}/branches/{_seg(branch)}/diff", params={"amount": 1}
        ).json()
        return bool(body["results"])

    def diff_refs(
        self, repo: str, left: str, right: str, *, three_dot: bool = False, prefix: str = ""
    ) -> Iterator[DiffEntry]:
        """What changed from ``left`` to ``right``, fetched a page at a time as it is consumed.

        With ``three_dot``, changes since their merge base, marking paths both sides changed as
        ``conflict`` (lakeFS's merge preview); else the two refs are compared as they are.

        Args:
            prefix: only paths starting with it.

        Raises:
            LakeFSNotFound: no such repository, ``left`` or ``right`` (raised while iterating).
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        params = {"type": "three_dot" if three_dot else "two_dot"}
        if prefix:
            params["prefix"] = prefix
        path = f"/repositories/{_seg(repo)}/refs/{_seg(left)}/diff/{_seg(right)}"
        for item in self._pages(path, params):
            size = item.get("size_bytes")
            yield DiffEntry(
                path=str(item["path"]),
                type=str(item["type"]),
                is_prefix=item.get("path_type") == "common_prefix",
                size_bytes=None if size is None else int(size),
            )

    def merge(
        self,
        repo: str,
        source: str,
        destination: str,
        message: str,
        metadata: Mapping[str, str],
        *,
        squash: bool = False,
        strategy: str | None = None,
    ) -> str:
        """Merge ``source`` into branch ``destination``; the merge commit's ID.

        ``squash`` makes the result one commit with a single parent (the catalog's own
        temporary branches); without it the merge commit keeps both parents, so later merges
        find the right merge base. ``strategy`` ``"source-wins"`` or ``"dest-wins"`` resolves
        conflicting paths for one side (lakeFS's merge strategies); None: conflicts fail.
        Merges land on protected branches (lakeFS docs, "Branch Protection Rules").

        Raises:
            LakeFSConflict: both sides changed the same paths; nothing changed.
            LakeFSPreconditionFailed: a pre-merge hook refused it.
            LakeFSBadRequest: nothing to merge, or ``destination`` has uncommitted changes.
            LakeFSNotFound: no such repository, ``source`` or ``destination``.
            LakeFSError: any other error answer; :class:`LakeFSUnreachable` when lakeFS cannot be
                reached, :class:`LakeFSUnauthorized` for a rejected key pair.
        """
        request: dict[str, Any] = {
            "message": message,
            "metadata": dict(metadata),
            "squash_merge": squash,
        }
        if strategy is not None:
            request["strategy"] = strategy
        body = self._request(
            "POST",
            f"/repositories/{_seg(repo)}/refs/{_seg(source)}/merge/{_seg(destination)}",
            json=request,
        )
        return str(body.json()["reference"])
