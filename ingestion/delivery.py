"""A delivery folder: the files it holds, checked for names and types that cannot be landed.

Every delivered file is uploaded byte for byte to ``raw/<source>/<run>/<relative path>``
(DESIGN.md, "What a ref holds"), so its relative path becomes an object key. :func:`scan_delivery`
walks the folder deterministically and reports — it does not raise — everything that cannot
become a safe key or cannot be read. The rules:

* **Order**: entries are visited sorted by name (code point order) at every level, so the result
  and the problems are the same on every machine.
* **Names** (each path component): a name containing ``..`` (``path.dotdot``), a backslash
  (``path.separator``: a path separator on Windows and in many zip tools), a control character
  U+0000 to U+001F or U+007F to U+009F (``path.control``), or bytes that are not UTF-8
  (``path.encoding``) is an error; the file (or the whole directory below such a name) is left
  out.
* **Hidden entries**: names starting with ``.`` (``.DS_Store``, ``.git``, editor swap files) are
  operating-system or tool litter, not data: they are skipped with a ``file.hidden`` warning and
  hidden directories are not descended.
* **Symlinks**: a symlink whose target resolves inside the root and is a regular file is
  followed once and delivered under the *link's* path (its bytes are the target's). A symlink
  whose target resolves outside the root is an error (``path.symlink_outside``): following it
  would land bytes the delivery does not own. A dangling symlink is ``file.unreadable``.
  Symlinks to directories are never descended (``path.symlink_dir`` warning): this rules out
  cycles and files delivered twice.
* **Special files** (FIFOs, sockets, devices) are errors (``file.special``).
* **Unreadable files** (permission denied, I/O error on open) are errors (``file.unreadable``).
* **Empty files** (0 bytes) are errors (``file.empty``) unless ``allow_empty=True``.

The root itself may be a symlink; it is resolved first.
"""

from __future__ import annotations

import hashlib
import os
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .problems import Problems


@dataclass(frozen=True)
class DeliveredFile:
    """One good file of a delivery.

    Attributes:
        relative_path: path relative to the delivery root, posix separators, no leading ``./``
            (for a followed symlink: the link's path).
        path: absolute path to read the bytes from.
        size: size in bytes (of the target, for a followed symlink).
    """

    relative_path: str
    path: Path
    size: int


def _name_problem(name: str) -> tuple[str, str] | None:
    """Return ``(code, reason)`` when ``name`` (one path component) cannot be landed."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "path.encoding", "is not valid UTF-8"
    if ".." in name:
        return "path.dotdot", "contains '..'"
    if "\\" in name or "/" in name:
        return "path.separator", "contains a path separator ('\\\\' or '/')"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "path.control", "contains a control character"
    return None


def _printable(rel: str) -> str:
    """A name safe to print: non-UTF-8 bytes and control characters escaped."""
    raw = os.fsencode(rel)
    text = raw.decode("utf-8", errors="backslashreplace")
    return "".join(
        ch if unicodedata.category(ch) != "Cc" else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def scan_delivery(
    root: Path, problems: Problems, *, allow_empty: bool = False
) -> list[DeliveredFile]:
    """List the files of the delivery folder ``root`` that can be landed.

    Args:
        root: the delivery folder (may itself be a symlink).
        problems: collector that receives every problem found (see the module docstring for
            the rules and codes); nothing is raised for bad entries.
        allow_empty: accept 0-byte files instead of reporting ``file.empty``.

    Returns:
        The good files, sorted by ``relative_path`` (code point order of the components).

    Raises:
        NotADirectoryError: ``root`` is not a directory (nothing to scan, not a delivery problem).
    """
    root_resolved = Path(root).resolve()
    if not root_resolved.is_dir():
        raise NotADirectoryError(f"delivery folder {root} is not a directory")
    out: list[DeliveredFile] = []
    _scan_dir(root_resolved, root_resolved, "", problems, out, allow_empty)
    return out


def _scan_dir(
    root: Path,
    directory: Path,
    prefix: str,
    problems: Problems,
    out: list[DeliveredFile],
    allow_empty: bool,
) -> None:
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: os.fsencode(e.name))
    except OSError as exc:
        problems.error(
            "file.unreadable",
            f"The folder cannot be read: {exc.strerror or exc}.",
            file=_printable(prefix.rstrip("/")) or ".",
        )
        return
    for entry in entries:
        rel = prefix + entry.name
        shown = _printable(rel)
        bad = _name_problem(entry.name)
        if bad is not None:
            code, reason = bad
            what = "folder" if entry.is_dir(follow_symlinks=False) else "file"
            problems.error(
                code,
                f"The {what} name '{_printable(entry.name)}' {reason}; rename it "
                "(it cannot become a storage key).",
                file=shown,
            )
            continue
        if entry.name.startswith("."):
            problems.warning(
                "file.hidden", "Hidden file or folder skipped (name starts with '.').", file=shown
            )
            continue
        path = Path(entry.path)
        if entry.is_symlink():
            _scan_symlink(root, path, rel, problems, out, allow_empty)
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            problems.error(
                "file.unreadable", f"The file cannot be read: {exc.strerror or exc}.", file=shown
            )
            continue
        if stat.S_ISDIR(st.st_mode):
            _scan_dir(root, path, rel + "/", problems, out, allow_empty)
        elif stat.S_ISREG(st.st_mode):
            _add_file(path, rel, st.st_size, problems, out, allow_empty)
        else:
            problems.error(
                "file.special",
                "Not a regular file (a FIFO, socket or device); only regular files are delivered.",
                file=shown,
            )


def _scan_symlink(
    root: Path,
    link: Path,
    rel: str,
    problems: Problems,
    out: list[DeliveredFile],
    allow_empty: bool,
) -> None:
    shown = _printable(rel)
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):
        # RuntimeError: a symlink loop on Python < 3.13
        problems.error(
            "file.unreadable", "The symlink is dangling (its target does not exist).", file=shown
        )
        return
    if not target.is_relative_to(root):
        problems.error(
            "path.symlink_outside",
            f"The symlink points outside the delivery folder (to {target}); copy the file in.",
            file=shown,
        )
        return
    st = target.stat()
    if stat.S_ISDIR(st.st_mode):
        problems.warning(
            "path.symlink_dir",
            "Symlink to a folder not followed (its files would be delivered twice).",
            file=shown,
        )
    elif stat.S_ISREG(st.st_mode):
        _add_file(target, rel, st.st_size, problems, out, allow_empty)
    else:
        problems.error(
            "file.special",
            "The symlink points to a FIFO, socket or device; only regular files are delivered.",
            file=shown,
        )


def _add_file(
    path: Path,
    rel: str,
    size: int,
    problems: Problems,
    out: list[DeliveredFile],
    allow_empty: bool,
) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        problems.error(
            "file.unreadable", f"The file cannot be read: {exc.strerror or exc}.", file=rel
        )
        return
    if size == 0 and not allow_empty:
        problems.error("file.empty", "The file is empty (0 bytes).", file=rel)
        return
    out.append(DeliveredFile(relative_path=rel, path=path, size=size))


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Return the SHA-256 of the file at ``path`` as 64 lowercase hex digits.

    Reads ``chunk_size`` bytes at a time (default 1 MiB) into one reused buffer, so memory is
    bounded whatever the file size; the buffer is no larger than the file (a fresh 1 MiB buffer
    per file made hashing 10,000 small files a third slower).

    Raises:
        OSError: the file cannot be opened or read.
    """
    digest = hashlib.sha256()
    with Path(path).open("rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        view = memoryview(bytearray(max(1, min(chunk_size, size))))
        while n := f.readinto(view):
            digest.update(view[:n])
    return digest.hexdigest()
