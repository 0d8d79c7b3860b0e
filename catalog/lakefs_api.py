"""A thin, typed client for the few lakeFS API calls the catalog makes, always AS the caller.

The catalog uses httpx rather than the generated ``lakefs_sdk``: one connection pool serves every
caller (credentials are passed per request, not per client object), and object uploads send raw
bytes instead of files on disk. Only this module speaks HTTP to lakeFS.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from vxp.catalog.errors import Forbidden, NotAuthorized, ServiceUnavailable


class LakeFSError(Exception):
    """lakeFS answered with an error status the caller may want to handle (404, 409, 412, …)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"lakeFS answered {status}: {message}")
        self.status = status
        self.message = message


class LakeFSUnreachable(ServiceUnavailable):
    """The request may not have reached lakeFS, or its answer was lost."""


@dataclass(frozen=True)
class Entry:
    """One listing result: an object, or a common prefix when listing with a delimiter."""

    path: str
    is_prefix: bool
    # the object's content checksum (its ETag); empty for a common prefix
    checksum: str = ""


@dataclass(frozen=True)
class Commit:
    """One commit of a log: what garbage collection needs to walk history and dedupe states."""

    id: str
    parents: tuple[str, ...]
    # commits with the same meta-range hold exactly the same objects
    meta_range_id: str


def _seg(value: str) -> str:
    # ref, branch and tag names go into the URL path; never let one add a path segment
    return quote(value, safe="")


class LakeFS:
    """Shared connection pool; :meth:`as_user` binds a caller's key pair."""

    def __init__(self, endpoint: str, timeout: float = 30.0) -> None:
        self._http = httpx.Client(
            base_url=endpoint.rstrip("/") + "/api/v1",
            timeout=timeout,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    def close(self) -> None:
        self._http.close()

    def as_user(self, access_key_id: str, secret_access_key: str) -> Session:
        return Session(self._http, httpx.BasicAuth(access_key_id, secret_access_key))


class Session:
    """lakeFS calls made with one caller's credentials."""

    def __init__(self, http: httpx.Client, auth: httpx.BasicAuth) -> None:
        self._http = http
        self._auth = auth

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, auth=self._auth, **kwargs)
        except httpx.TransportError as exc:
            raise LakeFSUnreachable(f"lakeFS is unreachable: {exc}") from exc
        if response.status_code < 300:
            return response
        try:
            message = str(response.json().get("message", response.text))
        except ValueError:
            message = response.text
        if response.status_code == 401:
            raise NotAuthorized(f"lakeFS rejected the credentials: {message}")
        if response.status_code == 403:
            raise Forbidden(f"lakeFS denied the request: {message}")
        raise LakeFSError(response.status_code, message)

    # --- identity and refs ---------------------------------------------------------------

    def current_user(self) -> str:
        return str(self._request("GET", "/user").json()["user"]["id"])

    def repository_exists(self, repo: str) -> bool:
        try:
            self._request("GET", f"/repositories/{_seg(repo)}")
        except LakeFSError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def branch_head(self, repo: str, branch: str) -> str | None:
        """The branch's head commit ID, or None if no such branch (or not a valid branch name)."""
        try:
            body = self._request("GET", f"/repositories/{_seg(repo)}/branches/{_seg(branch)}")
        except LakeFSError as exc:
            # lakeFS answers 400 for names that cannot be branches (e.g. tags with dots)
            if exc.status in (400, 404):
                return None
            raise
        return str(body.json()["commit_id"])

    def tag_commit(self, repo: str, tag: str) -> str | None:
        try:
            body = self._request("GET", f"/repositories/{_seg(repo)}/tags/{_seg(tag)}")
        except LakeFSError as exc:
            if exc.status in (400, 404):
                return None
            raise
        return str(body.json()["commit_id"])

    def resolve_commit(self, repo: str, ref: str) -> str | None:
        """The commit ID any ref expression (branch, tag, commit ID or prefix, ``main~1``) names."""
        try:
            body = self._request("GET", f"/repositories/{_seg(repo)}/commits/{_seg(ref)}")
        except LakeFSError as exc:
            # lakeFS answers 500 "invalid value" for ref expressions it cannot parse (main@x)
            if exc.status in (400, 404) or (exc.status == 500 and "invalid value" in exc.message):
                return None
            raise
        return str(body.json()["id"])

    def list_repositories(self) -> list[str]:
        return list(self._list_refs("/repositories"))

    def list_branches(self, repo: str) -> list[str]:
        return list(self._list_refs(f"/repositories/{_seg(repo)}/branches"))

    def list_tags(self, repo: str) -> list[str]:
        return list(self._list_refs(f"/repositories/{_seg(repo)}/tags"))

    def branch_heads(self, repo: str, *, hidden: bool = False) -> dict[str, str]:
        """Branch name → head commit ID; with ``hidden``, hidden branches too."""
        params = {"show_hidden": "true"} if hidden else {}
        return self._list_refs(f"/repositories/{_seg(repo)}/branches", params)

    def tag_commits(self, repo: str) -> dict[str, str]:
        """Tag name → commit ID."""
        return self._list_refs(f"/repositories/{_seg(repo)}/tags")

    def _list_refs(self, path: str, params: dict[str, str] | None = None) -> dict[str, str]:
        """ID → commit ID of every item of a paginated listing (repositories have no commit)."""
        found: dict[str, str] = {}
        after = ""
        while True:
            query = {**(params or {}), "after": after, "amount": 1000}
            body = self._request("GET", path, params=query).json()
            found.update((str(i["id"]), str(i.get("commit_id", ""))) for i in body["results"])
            if not body["pagination"]["has_more"]:
                return found
            after = body["pagination"]["next_offset"]

    def log(self, repo: str, ref: str) -> Iterator[Commit]:
        """``ref`` and all its ancestors (every parent, not only the first), newest first."""
        after = ""
        while True:
            body = self._request(
                "GET",
                f"/repositories/{_seg(repo)}/refs/{_seg(ref)}/commits",
                params={"after": after, "amount": 1000},
            ).json()
            for item in body["results"]:
                yield Commit(
                    id=str(item["id"]),
                    parents=tuple(str(p) for p in item.get("parents") or ()),
                    meta_range_id=str(item.get("meta_range_id") or ""),
                )
            if not body["pagination"]["has_more"]:
                return
            after = body["pagination"]["next_offset"]

    # --- objects -------------------------------------------------------------------------

    def get_object(self, repo: str, ref: str, path: str) -> bytes | None:
        """Object content, or None when the object (or the ref) does not exist."""
        try:
            response = self._request(
                "GET", f"/repositories/{_seg(repo)}/refs/{_seg(ref)}/objects", params={"path": path}
            )
        except LakeFSError as exc:
            # 400: ``ref`` is no ref expression lakeFS can parse, so nothing exists in it either
            if exc.status in (400, 404):
                return None
            raise
        return response.content

    def list_objects(
        self, repo: str, ref: str, prefix: str, *, delimiter: str = "/", after: str = ""
    ) -> Iterator[Entry]:
        """Entries under ``prefix`` in path order, fetched a page at a time as they are consumed."""
        while True:
            body = self._request(
                "GET",
                f"/repositories/{_seg(repo)}/refs/{_seg(ref)}/objects/ls",
                params={"prefix": prefix, "delimiter": delimiter, "after": after, "amount": 1000},
            ).json()
            for item in body["results"]:
                yield Entry(
                    path=str(item["path"]),
                    is_prefix=item["path_type"] == "common_prefix",
                    checksum=str(item.get("checksum") or ""),
                )
            if not body["pagination"]["has_more"]:
                return
            after = body["pagination"]["next_offset"]

    def upload_object(self, repo: str, branch: str, path: str, content: bytes) -> None:
        self._request(
            "POST",
            f"/repositories/{_seg(repo)}/branches/{_seg(branch)}/objects",
            params={"path": path},
            content=content,
            headers={"Content-Type": "application/octet-stream"},
        )

    def delete_object(self, repo: str, branch: str, path: str) -> None:
        self._request(
            "DELETE",
            f"/repositories/{_seg(repo)}/branches/{_seg(branch)}/objects",
            params={"path": path},
        )

    # --- branches, commits, merges -------------------------------------------------------

    def create_branch(self, repo: str, name: str, source: str, *, hidden: bool = False) -> None:
        self._request(
            "POST",
            f"/repositories/{_seg(repo)}/branches",
            json={"name": name, "source": source, "hidden": hidden},
        )

    def delete_branch(self, repo: str, name: str) -> None:
        self._request("DELETE", f"/repositories/{_seg(repo)}/branches/{_seg(name)}")

    def commit(self, repo: str, branch: str, message: str, metadata: dict[str, str]) -> str:
        body = self._request(
            "POST",
            f"/repositories/{_seg(repo)}/branches/{_seg(branch)}/commits",
            json={"message": message, "metadata": metadata},
        )
        return str(body.json()["id"])

    def merge(
        self, repo: str, source: str, destination: str, message: str, metadata: dict[str, str]
    ) -> str:
        """Merge ``source`` into branch ``destination`` as one squashed commit; its ID."""
        body = self._request(
            "POST",
            f"/repositories/{_seg(repo)}/refs/{_seg(source)}/merge/{_seg(destination)}",
            json={"message": message, "metadata": metadata, "squash_merge": True},
        )
        return str(body.json()["reference"])
