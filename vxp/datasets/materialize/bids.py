"""``-m bids``: a BIDS dataset (Brain Imaging Data Structure, bids-specification 1.10) of the
locked imaging.

Output::

    bids/dataset_description.json   Name (the lock's), BIDSVersion, GeneratedBy, SourceDatasets
    bids/README.md                   what was materialized, from which commits
    bids/participants.tsv            one row per subject with images; columns from its data
    bids/participants.json           a description per column (labels of the study dictionary)
    bids/sub-<label>/[ses-<label>/]<datatype>/sub-<label>[_ses-<label>][_acq-…][_run-<n>]_<suffix>.nii.gz
                                     + .json sidecar (dcm2niix's, for converted series)

**Subjects.** A locked resource's subject is the nearest ``Subject`` at or above it; its BIDS
label is the subject id with everything but letters and digits removed (``BASEL-001`` →
``sub-BASEL001``; BIDS labels are alphanumeric). Two subjects with one label are refused.
A ``Visit`` at or above an image gives its session (``ses-<visit>``).
``participants.tsv`` lists the subjects that have at least one image (BIDS wants every listed
participant to have a folder); its columns are the subject's attributes (from the lockfile's
``Subject`` line, else the subject's resource at the pinned commit), ``dm.age`` named ``age``
where the short name is unique, with the study dictionary's labels as descriptions.

**Images.** ``DICOMSeries`` are converted with dcm2niix (the ``dcm2niix`` wheel): the cached,
verified instances are linked into a scratch folder and converted with ``-b y -ba y -z n``
(BIDS sidecar, anonymised), and the NIfTI is gzip-compressed here with a zero mtime and no file
name in the gzip header, so the bytes depend only on the pixels (BIDS validator warnings
GZIP_HEADER_MTIME / GZIP_HEADER_FILENAME). ``Volume``s (NIfTI) are placed as they are.
Everything else (documents, files, series of other modalities that no rule maps) is skipped
and listed in the report.

**Which suffix.** A series or volume gets its datatype and suffix from the first matching rule:
the user's map first (``-O bids.map=FILE``, YAML, below), then the built-in rules
(:data:`DEFAULT_RULES`: MR series by SeriesDescription / ProtocolName — FLAIR, T2starw, PDw,
T1w, T2w, dwi in that order, so a "T2 FLAIR" is FLAIR — and volumes by a BIDS suffix in
their file name). A rule's ``match`` maps attribute names (``series_description``,
``protocol_name``, ``modality``, ``relative_path``, … and ``name``: the series description, else
the protocol name, else the file's path) to regular expressions, all of which must be found
(``re.search``)::

    defaults: true            # also use the built-in rules after these (default)
    rules:
      - match: {series_description: "(?i)localizer|scout"}
        skip: true
      - match: {series_description: "(?i)mprage", modality: "^MR$"}
        suffix: T1w           # datatype follows: anat (dwi: dwi, bold: func)
        acq: mprage           # optional entities: acq, ce, rec, dir; task for bold
      - match: {protocol_name: "(?i)resting"}
        suffix: bold
        task: rest

Several images with the same entities get ``run-1``, ``run-2``, … in SeriesNumber order.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from vxp import __version__
from vxp.core.errors import InvalidInput, NotFound, VxpError
from vxp.ingestion.resources import ResourceType

from .base import MaterializeContext, MaterializerResult
from .lockfile import LockedResource
from .study import delivered_dictionary, study_scopes

__all__ = [
    "BIDS_VERSION",
    "DEFAULT_RULES",
    "BidsMap",
    "BidsMaterializer",
    "BidsRule",
    "BidsValidation",
    "validate_bids",
]

#: the BIDS specification version the output follows
BIDS_VERSION = "1.10.0"
#: datatype of each suffix vxp writes (bids-specification, "Modality agnostic files", schema)
SUFFIX_DATATYPE = {
    "T1w": "anat",
    "T2w": "anat",
    "FLAIR": "anat",
    "T2starw": "anat",
    "PDw": "anat",
    "PDT2": "anat",
    "inplaneT1": "anat",
    "inplaneT2": "anat",
    "angio": "anat",
    "T1map": "anat",
    "T2map": "anat",
    "dwi": "dwi",
    "bold": "func",
}
#: entities a rule may set, in the order BIDS puts them in a file name (after sub and ses)
RULE_ENTITIES = ("task", "acq", "ce", "rec", "dir")
_LABEL = re.compile(r"^[A-Za-z0-9]+$")
_RULE_KEYS = {"match", "suffix", "skip", *RULE_ENTITIES}


@dataclass(frozen=True)
class BidsRule:
    """One mapping rule: when every ``match`` pattern is found, the image gets ``suffix`` (and
    the entities), or is left out with ``skip``."""

    match: Mapping[str, re.Pattern[str]]
    suffix: str | None = None
    skip: bool = False
    entities: Mapping[str, str] = field(default_factory=dict)
    where: str = "built-in"

    def matches(self, attributes: Mapping[str, str]) -> bool:
        """True when every pattern is found in its attribute (a missing attribute never
        matches)."""
        return all(
            key in attributes and pattern.search(attributes[key]) is not None
            for key, pattern in self.match.items()
        )


def _rule(match: Mapping[str, str], suffix: str) -> BidsRule:
    return BidsRule({k: re.compile(v) for k, v in match.items()}, suffix)


_MR = {"modality": "^MR$"}
#: the built-in rules, tried after the user's (module docstring)
DEFAULT_RULES: tuple[BidsRule, ...] = (
    _rule({**_MR, "name": r"(?i)flair"}, "FLAIR"),
    _rule({**_MR, "name": r"(?i)t2\*|t2star|t2_star|\bgre\b|swi"}, "T2starw"),
    _rule({**_MR, "name": r"(?i)\bpd\b|pdw|proton.?dens"}, "PDw"),
    _rule({**_MR, "name": r"(?i)dwi|dti|diffusion"}, "dwi"),
    _rule({**_MR, "name": r"(?i)t1|mprage|mp-rage|spgr|bravo|tfl"}, "T1w"),
    _rule({**_MR, "name": r"(?i)t2|tse|space|haste"}, "T2w"),
    _rule({"relative_path": r"(?i)(?:^|[_/])FLAIR\.nii(?:\.gz)?$"}, "FLAIR"),
    _rule({"relative_path": r"(?i)(?:^|[_/])T2starw\.nii(?:\.gz)?$"}, "T2starw"),
    _rule({"relative_path": r"(?i)(?:^|[_/])PDw\.nii(?:\.gz)?$"}, "PDw"),
    _rule({"relative_path": r"(?i)(?:^|[_/])T1w?\.nii(?:\.gz)?$"}, "T1w"),
    _rule({"relative_path": r"(?i)(?:^|[_/])T2w?\.nii(?:\.gz)?$"}, "T2w"),
)


@dataclass(frozen=True)
class BidsMap:
    """The rules in the order they are tried: the user's, then (unless switched off) the
    built-in ones."""

    rules: tuple[BidsRule, ...] = DEFAULT_RULES

    @classmethod
    def load(cls, path: Path) -> BidsMap:
        """Read a YAML map (module docstring).

        Raises:
            InvalidInput: the file cannot be read or parsed, or a rule is wrong: every problem
                is listed, each as ``file:line:column: what``.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
            root = yaml.compose(text)
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"the BIDS map {path} cannot be read: {exc}") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            raise InvalidInput(f"{where}: not YAML: {getattr(exc, 'problem', exc)}") from exc
        problems: list[str] = []
        at = _Locator(str(path), problems)

        rules: list[BidsRule] = []
        defaults = True
        if root is None:
            return cls()
        if not isinstance(root, yaml.MappingNode):
            at(root, "the map must be a mapping with 'rules' (and optionally 'defaults')")
        else:
            for key_node, value in root.value:
                key = key_node.value
                if key == "defaults":
                    if value.tag != "tag:yaml.org,2002:bool":
                        at(value, "defaults must be true or false")
                    else:
                        defaults = value.value.lower() in ("true", "yes", "on")
                elif key == "rules":
                    if not isinstance(value, yaml.SequenceNode):
                        at(value, "rules must be a list")
                        continue
                    for item in value.value:
                        rule = _parse_rule(item, at)
                        if rule is not None:
                            rules.append(rule)
                else:
                    at(key_node, f"unknown key {key!r} (expected rules, defaults)")
        if problems:
            raise InvalidInput(
                f"{len(problems)} problem(s) in the BIDS map:\n" + "\n".join(problems),
                hint="docs/reference/materializers.md has the map's format",
            )
        return cls(tuple(rules) + (DEFAULT_RULES if defaults else ()))

    def rule_for(self, attributes: Mapping[str, str]) -> BidsRule | None:
        """The first rule matching ``attributes``, or None."""
        return next((rule for rule in self.rules if rule.matches(attributes)), None)


class _Locator:
    """Collects problems of a YAML file as ``file:line:column: message``."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems

    def __call__(self, node: yaml.Node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(f"{self.path}:{mark.line + 1}:{mark.column + 1}: {message}")


def _parse_rule(item: yaml.Node, at: _Locator) -> BidsRule | None:
    if not isinstance(item, yaml.MappingNode):
        at(item, "a rule must be a mapping with match and suffix (or skip)")
        return None
    before = len(at.problems)
    where = f"{at.path}:{item.start_mark.line + 1}"
    fields: dict[str, yaml.Node] = {}
    for key_node, value in item.value:
        if key_node.value not in _RULE_KEYS:
            at(key_node, f"unknown key {key_node.value!r} (expected one of {sorted(_RULE_KEYS)})")
            continue
        fields[key_node.value] = value
    match: dict[str, re.Pattern[str]] = {}
    match_node = fields.get("match")
    if match_node is None or not isinstance(match_node, yaml.MappingNode) or not match_node.value:
        at(match_node or item, "match must map attribute names to regular expressions")
    else:
        for key_node, value in match_node.value:
            if not isinstance(value, yaml.ScalarNode):
                at(value, f"match.{key_node.value} must be a regular expression")
                continue
            try:
                match[str(key_node.value)] = re.compile(str(value.value))
            except re.error as exc:
                at(value, f"match.{key_node.value}: not a regular expression: {exc}")
    skip = False
    if "skip" in fields:
        skip = fields["skip"].value.lower() in ("true", "yes", "on")
    suffix = fields["suffix"].value if "suffix" in fields else None
    if not skip:
        if suffix is None:
            at(item, "a rule needs a suffix (or skip: true)")
        elif suffix not in SUFFIX_DATATYPE:
            at(
                fields["suffix"],
                f"suffix {suffix!r} is not one vxp writes: {sorted(SUFFIX_DATATYPE)}",
            )
    entities: dict[str, str] = {}
    for name in RULE_ENTITIES:
        if name in fields:
            label = str(fields[name].value)
            if not _LABEL.match(label):
                at(fields[name], f"{name} label {label!r} must be letters and digits only")
            entities[name] = label
    if suffix == "bold" and "task" not in entities:
        at(item, "a bold rule needs a task label (task: rest)")
    if suffix is not None and suffix != "bold" and "task" in entities:
        at(fields["task"], "task is for bold images only")
    if len(at.problems) > before:
        return None
    return BidsRule(match, suffix, skip, entities, where)


def bids_label(value: str) -> str:
    """A BIDS label from a subject or visit value: letters and digits only.

    Raises:
        InvalidInput: nothing is left (``"--"``).
    """
    label = re.sub(r"[^A-Za-z0-9]", "", value)
    if not label:
        raise InvalidInput(f"{value!r} has no letter or digit to make a BIDS label of")
    return label


@dataclass
class _Image:
    resource: LockedResource
    subject: str  # BIDS label
    session: str | None
    datatype: str
    suffix: str
    entities: dict[str, str]
    order: tuple[float, str]
    stem: str = ""

    @property
    def folder(self) -> str:
        parts = [f"sub-{self.subject}"]
        if self.session:
            parts.append(f"ses-{self.session}")
        return "/".join([*parts, self.datatype])


def _matchable(resource: LockedResource) -> dict[str, str]:
    values = {
        str(k): (v if isinstance(v, str) else json.dumps(v))
        for k, v in resource.attributes.items()
        if v is not None
    }
    if resource.type is ResourceType.DICOM_SERIES:
        values["name"] = values.get("series_description") or values.get("protocol_name") or ""
    else:
        values["name"] = values.get("relative_path") or (
            resource.files[0].relative_path if resource.files else ""
        )
        values.setdefault("relative_path", values["name"])
    return values


def _series_number(resource: LockedResource) -> float:
    value = resource.attributes.get("series_number")
    return float(value) if isinstance(value, int | float) else float("inf")


def dcm2niix_path() -> str:
    """The dcm2niix binary of the ``dcm2niix`` wheel, else one on ``PATH``.

    Raises:
        NotFound: neither exists.
    """
    try:
        import dcm2niix

        if Path(dcm2niix.bin).is_file():
            return str(dcm2niix.bin)
    except ImportError:
        pass
    found = shutil.which("dcm2niix")
    if found is None:
        raise NotFound("dcm2niix is not installed", hint="pip install dcm2niix")
    return found


def _dcm2niix_version(binary: str) -> str:
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    found = re.search(r"v\d+\.\d+\.\d+\w*", out.stdout + out.stderr)
    return found.group(0) if found else "unknown"


def _gzip(data: bytes) -> bytes:
    # mtime 0 and no file name in the header: the bytes depend only on the content
    out = bytearray()

    class _Sink:
        def write(self, chunk: bytes) -> int:
            out.extend(chunk)
            return len(chunk)

        def flush(self) -> None:
            return None

    with gzip.GzipFile(filename="", mode="wb", fileobj=_Sink(), mtime=0, compresslevel=6) as z:
        z.write(data)
    return bytes(out)


class BidsMaterializer:
    """A BIDS dataset of the locked imaging (module docstring)."""

    name: ClassVar[str] = "bids"
    description: ClassVar[str] = "a BIDS dataset: DICOM series converted by dcm2niix, NIfTI copied"

    def materialize(
        self, resources: Sequence[LockedResource], context: MaterializeContext
    ) -> MaterializerResult:
        """Write the BIDS dataset of ``resources`` under ``context.output``.

        Options: ``map`` (a YAML file of rules), ``name`` (the dataset's Name).

        Raises:
            InvalidInput: a bad map, or two subjects with one BIDS label.
            VxpError: dcm2niix failed on a series, or made more than one image of it.
            ChecksumMismatch: bytes that do not match their sha256.
        """
        unknown = sorted(set(context.options) - {"map", "name"})
        if unknown:
            raise InvalidInput(
                "unknown bids option(s): " + ", ".join(unknown), hint="known: map, name"
            )
        bids_map = (
            BidsMap.load(Path(context.options["map"])) if "map" in context.options else BidsMap()
        )
        result = MaterializerResult()
        images, labels = self._plan(resources, bids_map, result)
        binary = dcm2niix_path()
        series = [i for i in images if i.resource.type is ResourceType.DICOM_SERIES]
        context.fetch([i.resource for i in images])
        if series:
            context.progress.phase("dcm2niix", len(series), unit="series")
        errors: list[str] = []
        with ThreadPoolExecutor(max_workers=max(1, min(context.jobs, 4))) as pool:
            for error in pool.map(lambda image: self._convert(image, binary, context), series):
                context.progress.advance()
                if error:
                    errors.append(error)
        if errors:
            raise VxpError(
                f"dcm2niix could not convert {len(errors)} series:\n" + "\n".join(errors),
                hint="skip or map such series with a rule in -O bids.map=FILE "
                "(docs/reference/materializers.md)",
            )
        for image in images:
            if image.resource.type is ResourceType.VOLUME:
                file = image.resource.files[0]
                extension = ".nii.gz" if file.path.endswith(".gz") else ".nii"
                context.place(file, f"{image.folder}/{image.stem}{extension}")
        result.files += sum(
            2 if i.resource.type is ResourceType.DICOM_SERIES else 1 for i in images
        )
        with_images = sorted({i.subject for i in images})
        self._participants(resources, labels, with_images, context)
        self._description(resources, context, _dcm2niix_version(binary) if series else None)
        result.files += 4
        result.details.update(
            {
                "participants": len(with_images),
                "series": len(series),
                "volumes": len(images) - len(series),
                "bids_version": BIDS_VERSION,
            }
        )
        return result

    # --- planning ------------------------------------------------------------------------

    def _plan(
        self, resources: Sequence[LockedResource], bids_map: BidsMap, result: MaterializerResult
    ) -> tuple[list[_Image], dict[str, str]]:
        labels: dict[str, str] = {}  # subject resource id → label
        owners: dict[str, str] = {}
        clashes = []
        for resource in resources:
            subject_id = resource.ancestor(ResourceType.SUBJECT)
            if subject_id is None or subject_id in labels:
                continue
            label = bids_label(str(resource.subject))
            if label in owners and owners[label] != subject_id:
                clashes.append(f"sub-{label}: {owners[label]} and {subject_id}")
            owners[label] = subject_id
            labels[subject_id] = label
        if clashes:
            raise InvalidInput(
                "subjects whose BIDS labels collide (letters and digits only):\n"
                + "\n".join(clashes),
                hint="materialize them separately",
            )
        images: list[_Image] = []
        for resource in resources:
            if resource.type not in (ResourceType.DICOM_SERIES, ResourceType.VOLUME):
                if resource.files:
                    result.skipped.append(f"{resource.id}: a {resource.type}, not an image")
                continue
            subject_id = resource.ancestor(ResourceType.SUBJECT)
            if subject_id is None:
                result.skipped.append(f"{resource.id}: no subject (it hangs under the trial)")
                continue
            if resource.type is ResourceType.VOLUME and not resource.files[0].path.endswith(
                (".nii", ".nii.gz")
            ):
                result.skipped.append(f"{resource.id}: a volume that is not NIfTI")
                continue
            rule = bids_map.rule_for(_matchable(resource))
            if rule is None or rule.skip or rule.suffix is None:
                why = "skipped by a rule" if rule is not None else "no rule maps it to a suffix"
                result.skipped.append(f"{resource.id}: {why}")
                continue
            visit = resource.visit
            images.append(
                _Image(
                    resource=resource,
                    subject=labels[subject_id],
                    session=bids_label(visit) if visit is not None else None,
                    datatype=SUFFIX_DATATYPE[rule.suffix],
                    suffix=rule.suffix,
                    entities=dict(rule.entities),
                    order=(_series_number(resource), resource.id),
                )
            )
        groups: dict[tuple[Any, ...], list[_Image]] = defaultdict(list)
        for image in images:
            key = (
                image.subject,
                image.session,
                image.datatype,
                image.suffix,
                tuple(sorted(image.entities.items())),
            )
            groups[key].append(image)
        for members in groups.values():
            members.sort(key=lambda i: i.order)
            for run, image in enumerate(members, start=1):
                parts = [f"sub-{image.subject}"]
                if image.session:
                    parts.append(f"ses-{image.session}")
                parts += [f"{k}-{image.entities[k]}" for k in RULE_ENTITIES if k in image.entities]
                if len(members) > 1:
                    parts.append(f"run-{run}")
                image.stem = "_".join([*parts, image.suffix])
        return sorted(images, key=lambda i: (i.folder, i.stem)), labels

    # --- conversion ----------------------------------------------------------------------

    def _convert(self, image: _Image, binary: str, context: MaterializeContext) -> str | None:
        """Convert one series; None when done (or done by an earlier run), else the error."""
        nifti = f"{image.folder}/{image.stem}.nii.gz"
        sidecar = f"{image.folder}/{image.stem}.json"
        if context.path(nifti).is_file() and context.path(sidecar).is_file():
            return None
        with context.scratch() as folder:
            source = folder / "dicom"
            target = folder / "nifti"
            source.mkdir()
            target.mkdir()
            for n, file in enumerate(image.resource.files):
                context.cache.place(file.sha256, source / f"{n:06d}.dcm")
            run = subprocess.run(
                [
                    binary,
                    "-b",
                    "y",
                    "-ba",
                    "y",
                    "-z",
                    "n",
                    "-f",
                    "image",
                    "-o",
                    str(target),
                    str(source),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            made = sorted(target.glob("*.nii"))
            if run.returncode != 0 or len(made) != 1:
                tail = (run.stderr or run.stdout).strip().splitlines()[-3:]
                what = (
                    f"made {len(made)} images ({', '.join(p.name for p in made)})"
                    if run.returncode == 0
                    else f"exited with {run.returncode}"
                )
                return f"{image.resource.id}: dcm2niix {what}: " + " | ".join(tail)
            meta = json.loads(made[0].with_suffix(".json").read_text())
            if image.suffix == "bold":
                meta["TaskName"] = image.entities["task"]
            context.write_bytes(nifti, _gzip(made[0].read_bytes()))
            context.write_text(sidecar, json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return None

    # --- dataset files -------------------------------------------------------------------

    def _participants(
        self,
        resources: Sequence[LockedResource],
        labels: Mapping[str, str],
        with_images: Sequence[str],
        context: MaterializeContext,
    ) -> None:
        subject_rows = {r.id: r for r in resources if r.type is ResourceType.SUBJECT}
        by_label = {label: sid for sid, label in labels.items()}
        attributes: dict[str, dict[str, Any]] = {}
        descriptions: dict[str, str] = {}
        for scope in study_scopes(
            [r for r in resources if r.ancestor(ResourceType.SUBJECT)], self.name
        ):
            dictionary = None
            for label in with_images:
                sid = by_label[label]
                if not sid.startswith(f"trial/{scope.source}/subject/"):
                    continue
                locked = subject_rows.get(sid)
                if locked is not None:
                    attributes[label] = dict(locked.attributes)
                    continue
                client = context.client(scope.repository, scope.commit)
                try:
                    attributes[label] = dict(client.get_resource(sid).attributes)
                except NotFound:
                    attributes[label] = {}
            if dictionary is None:
                dictionary = delivered_dictionary(context, scope)
            if dictionary is not None:
                for label in with_images:
                    for key in attributes.get(label, {}):
                        if "." in key:
                            dataset, column = key.split(".", 1)
                            found = dictionary.label(dataset, column)
                            if found:
                                descriptions.setdefault(key, found)
        keys = sorted({k for values in attributes.values() for k in values} - {"subject"})
        short = [k.split(".", 1)[-1] for k in keys]
        names = {
            k: (s if short.count(s) == 1 and s not in ("participant_id", "subject_id") else k)
            for k, s in zip(keys, short, strict=True)
        }
        header = ["participant_id", "subject_id", *(names[k] for k in keys)]
        lines = ["\t".join(header)]
        for label in with_images:
            values = attributes.get(label, {})
            subject_value = by_label[label].rsplit("/", 1)[1]
            row = [f"sub-{label}", subject_value, *(_tsv(values.get(k)) for k in keys)]
            lines.append("\t".join(row))
        context.write_text("participants.tsv", "\n".join(lines) + "\n")
        sidecar: dict[str, Any] = {
            "participant_id": {"Description": "BIDS label: the subject id, letters and digits"},
            "subject_id": {
                "Description": "the subject's id in its study (vxp resource "
                "trial/<source>/subject/<subject_id>)"
            },
        }
        for key in keys:
            sidecar[names[key]] = {"Description": descriptions.get(key) or f"{key} (vxp attribute)"}
        context.write_text(
            "participants.json", json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n"
        )

    def _description(
        self, resources: Sequence[LockedResource], context: MaterializeContext, dcm2niix: str | None
    ) -> None:
        commits = sorted({(r.repository, r.commit) for r in resources})
        name = context.options.get("name") or _lock_name(context) or "vxp materialization"
        generated: list[dict[str, Any]] = [
            {"Name": "vxp", "Version": __version__, "Description": "vxp materialize -m bids"}
        ]
        if dcm2niix is not None:
            generated.append({"Name": "dcm2niix", "Version": dcm2niix})
        description = {
            "Name": name,
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "GeneratedBy": generated,
            "SourceDatasets": [
                {"URL": f"vxp://{repository}", "Version": commit} for repository, commit in commits
            ],
        }
        context.write_text("dataset_description.json", json.dumps(description, indent=2) + "\n")
        readme = [
            f"# {name}",
            "",
            "Materialized by vxp (`vxp materialize -m bids`) from these lockfiles:",
            "",
            *(
                f"- `{lock.path.name}` (split {lock.split}, sha256 {lock.sha256})"
                for lock in context.locks
            ),
            "",
            "Every file was read at these lakeFS commits:",
            "",
            *(f"- repository `{r}`, commit `{c}`" for r, c in commits),
            "",
        ]
        context.write_text("README.md", "\n".join(readme))


def _tsv(value: Any) -> str:
    if value is None:
        return "n/a"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return re.sub(r"[\t\r\n]", " ", text) or "n/a"


def _lock_name(context: MaterializeContext) -> str | None:
    """The dataset's name from ``dataset.lock.json`` beside the first lockfile, if any."""
    for lock in context.locks:
        path = lock.path.parent / "dataset.lock.json"
        try:
            body = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(body, dict) and isinstance(body.get("name"), str):
            return str(body["name"])
    return None


@dataclass(frozen=True)
class BidsValidation:
    """What the BIDS validator said about a folder.

    Attributes:
        errors: issues of severity error, as ``CODE location``.
        warnings: issues of severity warning, the same way.
        raw: the validator's whole JSON answer.
    """

    errors: list[str]
    warnings: list[str]
    raw: Mapping[str, Any]

    @property
    def valid(self) -> bool:
        """True when there is no error."""
        return not self.errors


def validate_bids(folder: Path) -> BidsValidation:
    """Run the BIDS validator (the ``bids-validator-deno`` wheel: Deno and the validator's
    bundle, offline) on ``folder``.

    Raises:
        NotFound: the validator is not installed.
        VxpError: it did not answer with JSON (its output is in the message).
    """
    try:
        import bids_validator_deno
        from deno import find_deno_bin
    except ImportError as exc:
        raise NotFound(
            "the BIDS validator is not installed", hint="pip install bids-validator-deno"
        ) from exc
    bundle = Path(bids_validator_deno.__file__).parent / "bids-validator.js"
    argv = [
        str(find_deno_bin()),
        "run",
        "--allow-read",
        "--allow-env",
        "--allow-write",
        "--allow-run=git",
        str(bundle),
        str(folder),
        "--format",
        "json",
    ]
    run = subprocess.run(argv, capture_output=True, text=True, check=False)
    try:
        body = json.loads(run.stdout)
    except ValueError as exc:
        raise VxpError(
            f"the BIDS validator did not answer with JSON (exit {run.returncode}): "
            f"{(run.stderr or run.stdout)[-2000:]}"
        ) from exc
    issues = body.get("issues", {}).get("issues", [])

    def line(issue: Mapping[str, Any]) -> str:
        sub = f"/{issue['subCode']}" if issue.get("subCode") else ""
        return f"{issue.get('code')}{sub} {issue.get('location', '')}".strip()

    return BidsValidation(
        errors=[line(i) for i in issues if i.get("severity") == "error"],
        warnings=[line(i) for i in issues if i.get("severity") == "warning"],
        raw=body,
    )
