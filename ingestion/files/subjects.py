"""Which subject a delivered file belongs to: ``--subject-from`` rules.

A rule is one of:

- ``dicom`` — the DICOM PatientID of the instance (DICOM files only). PatientID identifies a
  person in some deliveries: it is used to build the subject id and for nothing else; it is never
  copied into attributes or tables (the subject id itself is, so deliveries should use
  pseudonymous PatientIDs, as trial exports do).
- ``path:REGEX`` — a Python regular expression searched (``re.search``) in the file's relative
  path (posix separators); the subject is its group named ``subject`` if it has one, else its
  first group. E.g. ``path:^sub-(\\w+)/`` or ``path:(?P<subject>P\\d{3})``.

Rules are tried in order and the first that gives a non-empty value wins; the default is
``dicom`` alone. A file no rule links is placed under the trial with a ``subject.unknown``
warning; never dropped. The value becomes the id segment of
``trial/<source>/subject/<value>`` through :func:`~vxp.ingestion.resources.encode_segment`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

DICOM_PATIENT_ID = "dicom"


@dataclass(frozen=True)
class SubjectRule:
    """One ``--subject-from`` rule; build it with :meth:`parse`, :meth:`dicom` or :meth:`path`."""

    kind: Literal["dicom", "path"]
    pattern: re.Pattern[str] | None = None

    @classmethod
    def dicom(cls) -> SubjectRule:
        """Link DICOM instances by PatientID."""
        return cls("dicom")

    @classmethod
    def path(cls, regex: str) -> SubjectRule:
        """Link by a regular expression over the relative path (module docstring).

        Raises:
            ValueError: the expression does not compile or has no group.
        """
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            raise ValueError(
                f"--subject-from path:{regex}: not a regular expression: {exc}"
            ) from None
        if pattern.groups == 0:
            raise ValueError(
                f"--subject-from path:{regex}: the expression needs a group (the subject), "
                "e.g. path:^sub-([^/]+)/ or a group named 'subject'"
            )
        return cls("path", pattern)

    @classmethod
    def parse(cls, text: str) -> SubjectRule:
        """``dicom`` or ``path:REGEX`` (the CLI's ``--subject-from``).

        Raises:
            ValueError: any other form, or a bad expression.
        """
        if text == DICOM_PATIENT_ID:
            return cls.dicom()
        if text.startswith("path:"):
            return cls.path(text[len("path:") :])
        raise ValueError(f"--subject-from {text!r}: expected 'dicom' or 'path:REGEX'")

    def subject(self, relative_path: str, patient_id: str | None) -> str | None:
        """The subject this rule gives a file, or None."""
        if self.kind == "dicom":
            return patient_id or None
        assert self.pattern is not None
        match = self.pattern.search(relative_path)
        if match is None:
            return None
        group = "subject" if "subject" in self.pattern.groupindex else 1
        return match.group(group) or None


DEFAULT_RULES: tuple[SubjectRule, ...] = (SubjectRule.dicom(),)


def link_subject(
    rules: Sequence[SubjectRule], relative_path: str, patient_id: str | None
) -> str | None:
    """The first non-empty subject the rules give, or None."""
    for rule in rules:
        value = rule.subject(relative_path, patient_id)
        if value:
            return value
    return None
