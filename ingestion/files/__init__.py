"""Files ingestion, the pure part: media types, DICOM/NIfTI/PDF headers, subject linking and the
resources of a delivery (no lakeFS, no network). Start at :func:`plan_files`; see
docs/reference/resources.md for the resource types and attributes it produces.
"""

from .dicom import (
    DEFAULT_ALLOW_LIST,
    DICOM_SERIES_KEY,
    DICOM_SERIES_SCHEMA,
    IDENTIFYING,
    AllowList,
    DicomInstance,
    FileBytes,
    never_copied,
    read_instance,
)
from .media import Kind, MediaInfo, detect
from .nifti import read_volume
from .pdf import read_document
from .plan import (
    FILE_RESOURCE_TYPES,
    FileFacts,
    FilesPlan,
    inspect_file,
    plan_files,
    plan_files_in,
    plan_from_facts,
    raw_path,
)
from .subjects import DEFAULT_RULES, SubjectRule

__all__ = [
    "DEFAULT_ALLOW_LIST",
    "DEFAULT_RULES",
    "DICOM_SERIES_KEY",
    "DICOM_SERIES_SCHEMA",
    "FILE_RESOURCE_TYPES",
    "IDENTIFYING",
    "AllowList",
    "DicomInstance",
    "FileBytes",
    "FileFacts",
    "FilesPlan",
    "Kind",
    "MediaInfo",
    "SubjectRule",
    "detect",
    "inspect_file",
    "never_copied",
    "plan_files",
    "plan_files_in",
    "plan_from_facts",
    "raw_path",
    "read_document",
    "read_instance",
    "read_volume",
]
