"""NIfTI-1/NIfTI-2 headers (nibabel, header only) for ``Volume`` resources.

nibabel's ``load`` reads the header and maps the data lazily, so only the header is read. The
attributes (docs/reference/resources.md):

- ``shape``: the data shape (list of int), ``dimensions``: its length;
- ``voxel_size_mm``: the first three ``pixdim`` converted to millimetres from the header's
  spatial unit (``xyzt_units``; metres times 1000, microns times 0.001; an ``unknown`` unit is
  taken as mm, as nibabel and most tools do) and ``spatial_unit`` as the header states it;
- ``data_type``: numpy's name of the on-disk type (``int16``, ``float32``, …);
- ``orientation``: the axis codes of the affine (``RAS``, ``LAS``, …; ``?`` for a degenerate axis);
- ``nifti_version``: 1 or 2.

A file that ends before its data does (``vox_offset`` + voxels * bytes per voxel) is
``nifti.truncated``; for ``.nii.gz`` the uncompressed size is read from the gzip trailer (RFC 1952
ISIZE, the size modulo 2^32) and, only when that disagrees, by decompressing the stream in chunks.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import nibabel
from nibabel import orientations

from ..problems import Problem

_MM_PER_UNIT = {"mm": 1.0, "meter": 1000.0, "micron": 0.001, "unknown": 1.0}
_CHUNK = 1 << 20


def _gzip_size(path: Path) -> int:
    with path.open("rb") as stream:
        stream.seek(-4, 2)
        (isize,) = struct.unpack("<I", stream.read(4))
    return int(isize)


def _gunzipped_size(path: Path) -> int:
    total = 0
    with gzip.open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            total += len(chunk)
    return total


def _complete(path: Path, needed: int, compressed: bool) -> bool:
    if not compressed:
        return path.stat().st_size >= needed
    if _gzip_size(path) == needed % (1 << 32):
        return True
    try:
        return _gunzipped_size(path) >= needed
    except (OSError, EOFError, zlib.error):
        return False


def read_volume(path: Path, relative_path: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Read a NIfTI header into ``Volume`` attributes (module docstring).

    Returns:
        ``(attributes, problems)``; attributes is None with a ``nifti.unreadable`` problem when
        nibabel cannot read the header, or ``nifti.truncated`` when the file ends before its data.
    """
    compressed = relative_path.lower().endswith(".gz")
    try:
        image = nibabel.load(path)
        if not isinstance(image, nibabel.Nifti1Image | nibabel.Nifti2Image):
            raise ValueError(f"nibabel reads it as {type(image).__name__}, not NIfTI")
        # nibabel is untyped
        header: Any = image.header
        shape = [int(n) for n in header.get_data_shape()]
        dtype = header.get_data_dtype()
        spatial_unit, _ = header.get_xyzt_units()
        factor = _MM_PER_UNIT.get(spatial_unit, 1.0)
        voxel = [float(z) * factor for z in header.get_zooms()[:3]]
        axcodes: Any = orientations.aff2axcodes
        codes = axcodes(image.affine)
        version = 2 if isinstance(image, nibabel.Nifti2Image) else 1
        offset = max(int(header.get_data_offset()), int(header["sizeof_hdr"]) + 4)
    # nibabel raises HeaderDataError, ImageFileError, ValueError, EOFError, … on damaged files
    except Exception as exc:
        return None, [
            Problem("nifti.unreadable", f"The NIfTI header is not readable: {exc}.", relative_path)
        ]
    needed = offset + math.prod(shape) * dtype.itemsize
    if not _complete(path, needed, compressed):
        return None, [
            Problem(
                "nifti.truncated",
                f"The file ends before its image data does ({needed} bytes expected"
                f"{' uncompressed' if compressed else ''}).",
                relative_path,
            )
        ]
    attributes: dict[str, Any] = {
        "shape": shape,
        "dimensions": len(shape),
        "voxel_size_mm": voxel,
        "spatial_unit": spatial_unit,
        "data_type": dtype.name,
        "orientation": "".join(code or "?" for code in codes),
        "nifti_version": version,
    }
    return attributes, []
