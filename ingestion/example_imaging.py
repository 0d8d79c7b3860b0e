"""Deterministic example MRI for the example study: one DICOM study per subject with a T1w and a
T2w series (docs, demo and tests).

``write_example_imaging(dest)`` writes ``dest/<subject>/<series>/<nnnn>.dcm``, for the subjects
``BASEL-001`` … of :mod:`.example_study` (the same ``trial`` prefix and numbering), so that
``vxp ingest files dest --source basel`` links every series to the study's subject through the
DICOM PatientID (the default ``--subject-from dicom``).

Each series is a small axial 3D volume (``COLUMNS`` x ``ROWS`` x ``SLICES``, 1 mm isotropic) of
an ellipsoid "head" with two tissue classes whose contrast differs between T1w and T2w, plus
seeded noise. Every instance is a valid MR Image Storage object (PS3.3 A.4, explicit VR little
endian) with the geometry tags dcm2niix needs to build a NIfTI volume: ImagePositionPatient,
ImageOrientationPatient, PixelSpacing, SliceThickness, SpacingBetweenSlices. UIDs come from
:func:`pydicom.uid.generate_uid` with entropy sources derived from the seed, so the same
arguments give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, MRImageStorage, generate_uid

__all__ = ["COLUMNS", "ROWS", "SERIES", "SLICES", "write_example_imaging"]

COLUMNS = 32
ROWS = 32
SLICES = 12


@dataclass(frozen=True)
class _Contrast:
    """One MR sequence of the example: what dcm2niix and the BIDS suffix mapping read."""

    folder: str
    description: str  # SeriesDescription: the BIDS suffix is read from it
    number: int  # SeriesNumber
    echo_time: float  # ms
    repetition_time: float  # ms
    flip_angle: float  # degrees
    scanning_sequence: str  # PS3.3 C.8.3.1: GR gradient recalled, SE spin echo
    sequence_variant: str
    grey: int  # intensity of the inner ellipsoid
    white: int  # intensity of the outer shell


SERIES: tuple[_Contrast, ...] = (
    _Contrast("T1w", "T1w_MPRAGE", 2, 2.98, 2300.0, 9.0, "GR", "SP", 900, 600),
    _Contrast("T2w", "T2w_SPACE", 3, 408.0, 3200.0, 120.0, "SE", "SK", 500, 1100),
)


def write_example_imaging(
    dest: Path, *, subjects: int = 20, seed: int = 0, trial: str = "basel"
) -> list[Path]:
    """Write a T1w and a T2w DICOM series for subjects 1..``subjects`` of the example study.

    Args:
        dest: the folder to write into (created; existing files are overwritten).
        subjects: how many subjects get imaging (>= 1): ``<TRIAL>-001`` …, as
            :func:`~vxp.ingestion.example_study.write_example_study` numbers them.
        seed: random seed of the noise and the UIDs; same arguments -> byte-identical files.
        trial: trial name, the prefix of the subject ids (PatientID ``BASEL-001``).

    Returns:
        The series folders (``dest/<subject>/<T1w|T2w>``), in subject then series order.

    Raises:
        ValueError: ``subjects`` < 1.
    """
    if subjects < 1:
        raise ValueError("subjects must be at least 1")
    folders: list[Path] = []
    for n in range(1, subjects + 1):
        subject = f"{trial.upper()}-{n:03d}"
        for contrast in SERIES:
            folder = Path(dest) / subject / contrast.folder
            folder.mkdir(parents=True, exist_ok=True)
            for number, dataset in enumerate(_series(subject, n, contrast, seed), start=1):
                dataset.save_as(folder / f"{number:04d}.dcm", enforce_file_format=True)
            folders.append(folder)
    return folders


def _uid(seed: int, *parts: object) -> UID:
    # generate_uid hashes its entropy sources (SHA-512) under pydicom's UID root: stable per input
    return generate_uid(entropy_srcs=["vxp-example-imaging", str(seed), *map(str, parts)])


def _volume(n: int, contrast: _Contrast, seed: int) -> np.ndarray:
    """The subject's phantom in ``contrast``: slices x rows x columns, uint16."""
    rng = np.random.default_rng([seed, n, contrast.number])
    z, y, x = np.mgrid[0:SLICES, 0:ROWS, 0:COLUMNS].astype(np.float64)
    # each subject's head differs a little in size, so the volumes are not all the same
    scale = 1.0 + 0.02 * (n % 5)
    r = np.sqrt(
        ((x - COLUMNS / 2) / (COLUMNS * 0.40 * scale)) ** 2
        + ((y - ROWS / 2) / (ROWS * 0.45 * scale)) ** 2
        + ((z - SLICES / 2) / (SLICES * 0.55 * scale)) ** 2
    )
    image = np.where(r < 0.6, contrast.grey, np.where(r < 1.0, contrast.white, 0)).astype(
        np.float64
    )
    image += rng.normal(0.0, 20.0, image.shape)
    return np.clip(image, 0, 4095).astype(np.uint16)


def _series(subject: str, n: int, contrast: _Contrast, seed: int) -> list[Dataset]:
    study_uid = _uid(seed, subject, "study")
    series_uid = _uid(seed, subject, contrast.folder, "series")
    frame_uid = _uid(seed, subject, "frame-of-reference")
    day = dt.date(2024, 1, 8) + dt.timedelta(days=n)
    volume = _volume(n, contrast, seed)
    datasets = []
    for index in range(SLICES):
        sop_uid = _uid(seed, subject, contrast.folder, index)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = day.strftime("%Y%m%d")
        ds.StudyTime = "090000"
        ds.SeriesTime = f"09{contrast.number:02d}00"
        ds.AcquisitionTime = ds.ContentTime = f"09{contrast.number:02d}{index:02d}"
        ds.Modality = "MR"
        ds.Manufacturer = "vxp example"
        ds.ManufacturerModelName = "phantom"
        ds.StudyDescription = "Brain MRI"
        ds.SeriesDescription = contrast.description
        ds.ProtocolName = contrast.description
        # pseudonymous: the subject id of the example study, nothing else about the person
        ds.PatientName = subject
        ds.PatientID = subject
        ds.PatientSex = ""
        ds.PatientBirthDate = ""
        ds.BodyPartExamined = "BRAIN"
        ds.ScanningSequence = contrast.scanning_sequence
        ds.SequenceVariant = contrast.sequence_variant
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "3D"
        ds.SliceThickness = "1.0"
        ds.SpacingBetweenSlices = "1.0"
        ds.RepetitionTime = f"{contrast.repetition_time:g}"
        ds.EchoTime = f"{contrast.echo_time:g}"
        ds.NumberOfAverages = "1"
        ds.ImagingFrequency = "123.2"
        ds.ImagedNucleus = "1H"
        ds.MagneticFieldStrength = "3"
        ds.EchoTrainLength = "1"
        ds.FlipAngle = f"{contrast.flip_angle:g}"
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = contrast.number
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = index + 1
        # axial slices, patient's left to right along columns, anterior to posterior along rows
        # (LPS, PS3.3 C.7.6.2.1.1); slice i sits i mm superior of the first
        ds.ImagePositionPatient = [f"{-COLUMNS / 2:g}", f"{-ROWS / 2:g}", f"{index - SLICES / 2:g}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = f"{index - SLICES / 2:g}"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ROWS
        ds.Columns = COLUMNS
        ds.PixelSpacing = ["1.0", "1.0"]
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.WindowCenter = "800"
        ds.WindowWidth = "1600"
        ds.PixelData = volume[index].tobytes()
        datasets.append(ds)
    return datasets
