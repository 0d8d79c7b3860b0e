"""A clinical-only cohort of the Basel trial: the subjects older than 50 at consent and their
visits, selected in SQL on the demographics table (``basel.dm``), split by subject."""

from __future__ import annotations

from typing import Any

import vxp_client

TRIAL = "trial/basel"
SALT = "basel-over-50-v1"
SPLITS = {"train": 0.8, "test": 0.2}


@vxp_client.dataset_compilation_entrypoint()
def basel_over_50(client: vxp_client.PlatformClient) -> dict[str, list[Any]]:
    """Basel subjects older than 50 at consent, with their visits; split by subject."""
    cohort = client.query("SELECT usubjid FROM basel.dm WHERE age > 50 ORDER BY usubjid")
    subject_ids = {f"{TRIAL}/subject/{row['usubjid']}" for row in cohort.to_pylist()}
    selected = [
        resource
        for kind in ("Subject", "Visit")
        for resource in client.resources(type=kind, under=TRIAL)
        if vxp_client.subject_of(resource.id) in subject_ids
    ]
    return vxp_client.split_by_subject(selected, SPLITS, salt=SALT)
