"""All subjects of the Basel trial that have a T2-weighted MR series: each such subject (its
clinical data are the Subject's attributes) and its T2 series, split by subject.

A series is T2-weighted when it is MR and its SeriesDescription or ProtocolName says T2 (``T2``,
``T2w``, ``t2_tse``; not ``T2*``, a susceptibility contrast, nor FLAIR, a contrast of its own).
A series that names no contrast at all counts as T2-weighted when its echo time is at least 80 ms
and its repetition time at least 2000 ms (a long TE and long TR weight the signal by T2).
"""

from __future__ import annotations

import re
from typing import Any

import vxp_client

TRIAL = "trial/basel"
# the salt names this assignment of subjects to splits: keep it as the data grows
SALT = "basel-t2-clinical-v1"
SPLITS = {"train": 0.8, "test": 0.2}

_T2 = re.compile(r"t2(?!\s*\*)", re.IGNORECASE)
_NAMES_A_CONTRAST = re.compile(r"t1|t2|pd|flair|dwi|dti|swi|bold", re.IGNORECASE)


def is_t2(series: vxp_client.Resource) -> bool:
    """Whether a DICOMSeries is a T2-weighted MR series (the rule of the module docstring)."""
    attributes: dict[str, Any] = dict(series.attributes)
    if attributes.get("modality") != "MR":
        return False
    text = " ".join(str(attributes.get(k) or "") for k in ("series_description", "protocol_name"))
    if "flair" in text.lower():
        return False
    if _T2.search(text):
        return True
    if _NAMES_A_CONTRAST.search(text):
        return False
    echo, repetition = attributes.get("echo_time"), attributes.get("repetition_time")
    try:
        return float(echo) >= 80 and float(repetition) >= 2000
    except (TypeError, ValueError):
        return False


@vxp_client.dataset_compilation_entrypoint()
def basel_t2_clinical(client: vxp_client.PlatformClient) -> dict[str, list[Any]]:
    """All Basel subjects with a T2-weighted MR series, with those series; split by subject."""
    t2 = [s for s in client.resources(type="DICOMSeries", under=TRIAL) if is_t2(s)]
    subject_ids = sorted({vxp_client.subject_of(s.id) for s in t2} - {None})
    subjects = [s for s in client.resources(type="Subject", under=TRIAL) if s.id in subject_ids]
    return vxp_client.split_by_subject([*subjects, *t2], SPLITS, salt=SALT)
