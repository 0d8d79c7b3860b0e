"""The indexed puremagic lookup answers exactly what puremagic answers."""

from __future__ import annotations

import random
from pathlib import Path

import puremagic
import pytest
from nibabel.testing import data_path
from puremagic import main as pm
from pydicom.data import get_testdata_file

from vxp.ingestion.files.magic import mime_type


def _answer(call: object, data: bytes, name: str | None) -> str:
    try:
        if call is puremagic.from_string:
            return str(puremagic.from_string(data, mime=True, filename=name))
        return mime_type(data, name)
    except (puremagic.PureError, ValueError) as exc:
        return type(exc).__name__


def _same(data: bytes, name: str | None) -> None:
    expected = _answer(puremagic.from_string, data, name)
    assert _answer(mime_type, data, name) == expected, (data[:40], name)


NAMES = (None, "file", "scan.bin", "notes.txt", "archive.tar.gz", "image.PNG", "a.b.c")


def test_every_signature_of_the_table() -> None:
    rng = random.Random(7)
    for row in pm.magic_header_array:
        if row.offset + len(row.byte_match) > 1024:
            continue
        data = rng.randbytes(row.offset) + row.byte_match + rng.randbytes(64)
        for name in (None, f"x{row.extension}", "x.bin"):
            _same(data, name)
    for row in pm.magic_footer_array:
        data = (
            rng.randbytes(200) + row.byte_match + rng.randbytes(-row.offset - len(row.byte_match))
        )
        for name in (None, f"x{row.extension}"):
            _same(data, name)


@pytest.mark.parametrize("seed", range(40))
def test_random_bytes_and_text(seed: int) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(rng.randint(1, 1024))
    text = "".join(rng.choice("abc xyz\n{}<>") for _ in range(rng.randint(1, 500))).encode()
    for name in NAMES:
        _same(data, name)
        _same(text, name)
    _same(b"", None)


def test_real_files() -> None:
    paths = [Path(str(get_testdata_file(n))) for n in ("CT_small.dcm", "MR_small.dcm")]
    paths += sorted(Path(data_path).glob("*"))[:60]
    for path in paths:
        if path.is_file():
            _same(path.read_bytes()[:1024], path.name)
