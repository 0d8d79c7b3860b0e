"""Media type of a delivered file from its content, not only its name.

The formats vxp reads get explicit checks of their magic bytes, in this order:

- **DICOM** (PS3.10 §7.1): ``DICM`` at offset 128 after the preamble; or a file without
  preamble and meta header (older PS3.10-less exports) whose first bytes are a data element
  of group 0x0002 or 0x0008 in explicit VR (a known VR at offset 4) or implicit VR (a length
  that fits the file), little or big endian. The header reader confirms it with pydicom.
- **NIfTI-1 / NIfTI-2** (nifti1.h / nifti2.h): ``sizeof_hdr`` 348 with magic ``n+1``/``ni1`` at
  offset 344, or 540 with ``n+2``/``ni2`` at offset 4, in either byte order; the same inside a
  gzip stream for ``.nii.gz``.
- **PDF** (ISO 32000-1 §7.5.2): ``%PDF-`` at the start, or within the first 1024 bytes (readers
  accept leading junk there) of a file named ``.pdf``.

Anything else is identified by puremagic (pure Python magic-number database, MIT; it also uses
the extension when no signature matches), then :mod:`mimetypes`, then
``application/octet-stream``.
"""

from __future__ import annotations

import gzip
import mimetypes
import struct
import zlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import puremagic

from .magic import mime_type

DICOM = "application/dicom"  # RFC 3240
NIFTI = "application/x-nifti"  # no registered type; the x- form tools use
NIFTI_GZIP = "application/x-nifti+gzip"  # NIfTI in a gzip stream (.nii.gz), "+gzip" suffix
PDF = "application/pdf"  # RFC 8118
OCTET_STREAM = "application/octet-stream"
_CHECKED = frozenset({DICOM, NIFTI, NIFTI_GZIP, PDF})

_HEAD = 1024
# explicit VRs of PS3.5 §6.2; a preamble-less file starting with one of these is DICOM-like
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR "
    b"US UT UV".split()
)


class Kind(StrEnum):
    """Which reader handles a file."""

    DICOM = "dicom"
    NIFTI = "nifti"
    PDF = "pdf"
    OTHER = "other"


@dataclass(frozen=True)
class MediaInfo:
    """A file's media type (MIME) and the reader kind it implies."""

    media_type: str
    kind: Kind
    # False for a DICOM guessed from a preamble-less header: if pydicom cannot read it and its
    # name does not promise DICOM, it is an ordinary file of media type ``fallback``
    certain: bool = True
    fallback: str = OCTET_STREAM


def _dicom_without_preamble(head: bytes, size: int) -> bool:
    if len(head) < 8:
        return False
    for order in ("<", ">"):
        group, element = struct.unpack(order + "HH", head[:4])
        if group not in (0x0002, 0x0008) or element > 0x0200:
            continue
        if head[4:6] in _VRS:
            return True
        (length,) = struct.unpack(order + "I", head[4:8])
        if 0 < length <= size - 8:
            return True
    return False


def _nifti_header(head: bytes) -> bool:
    if len(head) >= 348:
        for order in ("<", ">"):
            (sizeof_hdr,) = struct.unpack(order + "i", head[:4])
            if sizeof_hdr == 348 and head[344:348] in (b"n+1\0", b"ni1\0"):
                return True
            if sizeof_hdr == 540 and head[4:8] in (b"n+2\0", b"ni2\0"):
                return True
    return False


def _gunzip_head(path: Path, count: int) -> bytes:
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read(count)
    except (OSError, EOFError, zlib.error):
        # a damaged gzip stream: not readable as NIfTI, identified by its outer signature
        return b""


def detect(path: Path, relative_path: str | None = None) -> MediaInfo:
    """The media type and reader kind of the file at ``path``.

    Args:
        path: the file to read (only its first KiB, plus puremagic's header and footer reads).
        relative_path: the delivered name, used for the extension fallback (default ``path``).

    Raises:
        OSError: the file cannot be read.
    """
    name = relative_path or path.name
    with path.open("rb") as stream:
        head = stream.read(_HEAD)
    size = path.stat().st_size
    if head[128:132] == b"DICM":
        return MediaInfo(DICOM, Kind.DICOM)
    if _dicom_without_preamble(head, size):
        return MediaInfo(DICOM, Kind.DICOM, certain=False, fallback=_other(head, name))
    if _nifti_header(head):
        return MediaInfo(NIFTI, Kind.NIFTI)
    if head[:2] == b"\x1f\x8b" and _nifti_header(_gunzip_head(path, 540)):
        return MediaInfo(NIFTI_GZIP, Kind.NIFTI)
    if head.startswith(b"%PDF-") or (b"%PDF-" in head and name.lower().endswith(".pdf")):
        return MediaInfo(PDF, Kind.PDF)
    return MediaInfo(_other(head, name), Kind.OTHER)


def _other(head: bytes, name: str) -> str:
    try:
        # puremagic's answer from its own table, indexed (.magic): ~10x faster per file
        found = mime_type(head, name)
    except (puremagic.PureError, ValueError):
        found = ""
    found = found or mimetypes.guess_type(name, strict=False)[0] or OCTET_STREAM
    # the content checks above already said no: a guess from the extension alone is wrong
    return OCTET_STREAM if found in _CHECKED else found


def expected_kind(relative_path: str) -> Kind | None:
    """The kind a file's extension promises (``.dcm``/``.dicom``, ``.nii``/``.nii.gz``, ``.pdf``).

    A file whose content is not of the promised kind is reported (e.g. a text file named
    ``.dcm``): the name says it should be read, and silently treating it as a plain file would
    hide a broken export.
    """
    lower = relative_path.lower()
    if lower.endswith((".dcm", ".dicom")):
        return Kind.DICOM
    if lower.endswith((".nii", ".nii.gz")):
        return Kind.NIFTI
    if lower.endswith(".pdf"):
        return Kind.PDF
    return None
