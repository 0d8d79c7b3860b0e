"""Leakage-free splits: every resource of a subject goes to the split its subject's salted hash
picks, so a subject never changes split as the data grows.

The rule (docs/how-to/check-leakage.md): a resource's *subject* is the nearest resource of type
``Subject`` on its id path, itself included (ids are paths, DESIGN.md "The resource model":
``trial/basel/subject/P-7/dicom-study/…`` belongs to ``trial/basel/subject/P-7``). The subject id
is hashed with a salt (SHA-256 of ``salt``, a NUL byte, the subject id, as UTF-8); the first 8
bytes of the digest, big-endian, divided by 2**64, give a number ``u`` in [0, 1); the splits, in
the order given, take consecutive intervals of [0, 1) as wide as their fractions. ``u`` depends
on the salt and the subject id only, never on which other resources exist, so adding subjects
never moves one already assigned. A new salt draws a new, independent assignment.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from vxp.core.errors import InvalidInput

if TYPE_CHECKING:
    from vxp.ingestion.resources import Resource

__all__ = ["assign_split", "item_id", "split_by_subject", "subject_of"]

Item = TypeVar("Item", bound="Resource | Mapping[str, Any]")

# ids are paths of <kind>/<segment> pairs (segments never hold "/"); a subject's id is
# trial/<source>/subject/<subject>, and every id below it starts with that and "/"
_TRIAL = re.compile(r"trial/[^/]+(?:/[^/]+/[^/]+)*")
_SUBJECT = re.compile(r"trial/[^/]+/subject/[^/]+(?=/|$)")


def subject_of(resource_id: str) -> str | None:
    """The id of the subject a resource belongs to: the nearest ``Subject`` on its id path, the
    resource itself for a subject, None for a trial or a resource under a trial alone.

    ``subject_of("trial/basel/subject/P-7/visit/2")`` is ``"trial/basel/subject/P-7"``. Only the
    id's shape is read (pairs of ``<kind>/<segment>``; segments never contain ``/``; a subject
    hangs right under its trial), so this costs no query and no full id check
    (:func:`vxp.ingestion.resources.parse_id` does that).

    Raises:
        InvalidInput: the id is not ``trial/<source>`` followed by ``<kind>/<segment>`` pairs.
    """
    found = _SUBJECT.match(resource_id)
    if found is not None:
        return found.group()
    if _TRIAL.fullmatch(resource_id) is None:
        raise InvalidInput(
            f"{resource_id!r} is not a resource id",
            hint="ids are paths such as trial/basel/subject/P-7 (docs/reference/resources.md)",
        )
    return None


def item_id(item: Resource | Mapping[str, Any]) -> str:
    """The id of a recipe item: a ``Resource``'s ``id``, or a mapping's ``"id"``.

    Raises:
        InvalidInput: the item is neither, or its id is not a string.
    """
    # dicts (rows of client.query(...).to_pylist()) first: the common case, checked cheaply
    if type(item) is dict or isinstance(item, Mapping):
        value = item.get("id")
    else:
        value = getattr(item, "id", None)
    if not isinstance(value, str):
        raise InvalidInput(
            f"{item!r:.80} is not a resource: expected a vxp_client.Resource or a dict with a "
            "string 'id'"
        )
    return value


def _check_fractions(fractions: Mapping[str, float]) -> list[tuple[str, float]]:
    problems = []
    if not fractions:
        problems.append("no splits given")
    for name, share in fractions.items():
        if not isinstance(name, str) or not name:
            problems.append(f"split name {name!r} is not a non-empty string")
        if isinstance(share, bool) or not isinstance(share, int | float) or not share > 0:
            problems.append(f"split {name!r}: fraction {share!r} is not a number above 0")
    if not problems:
        total = math.fsum(float(v) for v in fractions.values())
        if abs(total - 1.0) > 1e-9:
            problems.append(f"fractions add up to {total!r}, not 1")
    if problems:
        raise InvalidInput(
            "bad split fractions: " + "; ".join(problems),
            hint='e.g. {"train": 0.8, "test": 0.2}',
        )
    return [(name, float(share)) for name, share in fractions.items()]


def _position(salt: str, key: str) -> float:
    digest = hashlib.sha256(f"{salt}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_split(key: str, fractions: Mapping[str, float], *, salt: str) -> str:
    """The split ``key`` (a subject id) falls in: see the module docstring for the rule.

    Args:
        key: the subject id (or, for a resource of no subject, its own id).
        fractions: split name → share of subjects, each above 0, together 1 (within 1e-9);
            their order is the order of the intervals.
        salt: any string; the same salt gives the same assignment forever.

    Raises:
        InvalidInput: no splits, a share not above 0, shares not adding up to 1.
    """
    return _assign(key, _check_fractions(fractions), salt)


def _assign(key: str, shares: list[tuple[str, float]], salt: str) -> str:
    u = _position(salt, key)
    upper = 0.0
    for name, share in shares[:-1]:
        upper += share
        if u < upper:
            return name
    # the last split takes the rest, so rounding of the sum never leaves a gap
    return shares[-1][0]


def split_by_subject(
    resources: Iterable[Item], fractions: Mapping[str, float], *, salt: str
) -> dict[str, list[Item]]:
    """Split resources so all of a subject's resources land in one split, the same one forever.

    Example, in a recipe::

        return vxp_client.split_by_subject(series, {"train": 0.8, "test": 0.2}, salt="t2-v1")

    Args:
        resources: ``Resource`` objects or dicts with an ``"id"``; the order is kept within
            each split.
        fractions: split name → share of *subjects* (not of resources), each above 0, adding
            up to 1; e.g. ``{"train": 0.8, "test": 0.2}``.
        salt: names this assignment; keep it when the data grows, change it to redraw.

    Returns:
        Every split of ``fractions`` (in its order, empty ones included) → its items. A resource
        of no subject (a trial, a file under the trial) is placed by the hash of its own id.

    Raises:
        InvalidInput: bad fractions, or an item that is not a resource or has a bad id.
    """
    shares = _check_fractions(fractions)
    out: dict[str, list[Item]] = {name: [] for name, _ in shares}
    cache: dict[str, str] = {}
    for item in resources:
        resource_id = item_id(item)
        key = subject_of(resource_id) or resource_id
        split = cache.get(key)
        if split is None:
            split = cache[key] = _assign(key, shares, salt)
        out[split].append(item)
    return out
