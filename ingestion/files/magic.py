"""puremagic's answer for a file's first bytes, about 10x faster: the same table, indexed.

``puremagic.from_string(head, mime=True, filename=name)`` compares the head with each of its
~1,400 signatures in a Python loop (about 2.5 ms a file, measured on 4-64 KiB files; most of a
files run's checking time for folders of ordinary files). :func:`mime_type` indexes puremagic's
own signature table (``puremagic.main.magic_header_array``) by offset and first byte once, so a
head is compared only with the signatures whose first byte it has at their offset, then ranks
the matches with puremagic's own ``_confidence``. The footer signatures, the multi-part rules and
the extension handling are puremagic's, step for step, so the answer is the same (tests compare
the two on every signature of the table, on text, on random bytes and on real files).
"""

from __future__ import annotations

from functools import cache
from itertools import chain
from types import ModuleType
from typing import Any

__all__ = ["mime_type"]

_Index = dict[int, dict[int, list[tuple[int, Any]]]]


@cache
def _tables() -> tuple[ModuleType, _Index, frozenset[str]]:
    from puremagic import main as pm

    index: _Index = {}
    for position, row in enumerate(pm.magic_header_array):
        # puremagic has no empty signature; one would match everywhere, so keep it honest
        first = row.byte_match[0] if row.byte_match else -1
        index.setdefault(row.offset, {}).setdefault(first, []).append((position, row))
    extensions = frozenset(
        str(row.extension) for row in chain(pm.magic_header_array, pm.magic_footer_array)
    )
    return pm, index, extensions


def _extension(filename: str, extensions: frozenset[str]) -> str:
    """``puremagic.ext_from_filename`` with its extension list built once."""
    try:
        base, ext = filename.lower().rsplit(".", 1)
    except ValueError:
        return ""
    ext = f".{ext}"
    if base[-4:].startswith(".") and base[-4:] + ext in extensions:
        # double extensions such as .tar.gz
        return base[-4:] + ext
    return ext


def mime_type(data: bytes, filename: str | None = None) -> str:
    """What ``puremagic.from_string(data, mime=True, filename=filename)`` returns.

    Raises:
        ValueError: ``data`` is empty. puremagic.PureError: no signature and no extension match.
    """
    pm, index, extensions = _tables()
    header, footer = data[: pm.max_head], data[-pm.max_foot :]
    if not header:
        raise ValueError("Input was empty")
    ext = _extension(str(filename), extensions) if filename else None
    size = len(header)
    found: list[tuple[int, Any]] = []
    for offset, by_first in index.items():
        if offset >= size:
            continue
        for position, row in by_first.get(header[offset], ()):
            end = offset + len(row.byte_match)
            if end <= size and header[offset:end] == row.byte_match:
                found.append((position, row))
        for position, row in by_first.get(-1, ()):
            found.append((position, row))
    # puremagic's order: its table's, which breaks ties in its ranking
    matches = [row for _, row in sorted(found, key=lambda item: item[0])]

    # from here on exactly puremagic's _identify_all (footer signatures, multi-part rules)
    for row in pm.magic_footer_array:
        start = row.offset
        end = row.offset + len(row.byte_match)
        area = footer[start:end] if end != 0 else footer[start:]
        if area == row.byte_match:
            matches.append(row)
    extra = set()
    for matched in matches:
        for row in pm.multi_part_dict.get(matched.byte_match, ()):
            start = row.offset
            end = row.offset + len(row.byte_match)
            if row.offset < 0:
                area = footer[start:end] if end != 0 else footer[start:]
                if area == row.byte_match:
                    extra.add(
                        pm.PureMagic(
                            byte_match=matched.byte_match + row.byte_match,
                            offset=row.offset,
                            extension=row.extension,
                            mime_type=row.mime_type,
                            name=row.name,
                        )
                    )
            elif end <= len(header) and header[start:end] == row.byte_match:
                extra.add(
                    pm.PureMagic(
                        byte_match=header[matched.offset : end],
                        offset=row.offset,
                        extension=row.extension,
                        mime_type=row.mime_type,
                        name=row.name,
                    )
                )
    matches.extend(list(extra))
    return str(pm._confidence(matches, ext)[0].mime_type)
