"""What a DICOM series says about itself: resolution, objective, ICC profile, and its
attributes as `dicom.*` properties (named as OpenSlide names them), patient data left out and
the label's barcode and text marked as such."""

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from ...caches import BlockReader
from ..icc import IccProfile, summary_of
from .header import Instance

# Attributes that identify a patient, a study or the people involved: never in the
# properties, which every client of the metadata route sees.
_IDENTIFYING = ("Patient", "OtherPatient", "IssuerOfPatient", "Accession", "Referring",
                "Physician", "PerformingPhysician", "NameOfPhysicians", "Operators",
                "Institution", "StudyID", "RequestingPhysician", "Requested",
                "PersonName", "ResponsiblePerson", "ResponsibleOrganization")
# What the slide's label says (its barcode, its text): shown as the label image is, only where
# patient data is allowed (SlideIndex.phi_properties).
_ON_THE_LABEL = ("Barcode", "LabelText")
_SKIPPED = ("PerFrameFunctionalGroupsSequence", "ICCProfile", "ExtendedOffsetTable",
            "ExtendedOffsetTableLengths", "PixelData")
_BINARY_VRS = ("OB", "OW", "OF", "OD", "OL", "OV", "UN")
_MAX_ITEMS = 8     # of a sequence or a multi-valued attribute
_MAX_VALUE = 256   # characters of one value
_MAX_DEPTH = 4


def _flatten(ds: Dataset, prefix: str, depth: int, out: dict[str, str]) -> None:
    for element in ds:
        keyword = element.keyword
        if not keyword or keyword.startswith(_IDENTIFYING) or keyword in _SKIPPED \
                or element.VR in _BINARY_VRS or element.VR == "PN":
            continue
        name = f"{prefix}{keyword}"
        value = element.value
        if isinstance(value, Sequence):
            if depth < _MAX_DEPTH:
                for i, item in enumerate(value[:_MAX_ITEMS]):
                    _flatten(item, f"{name}[{i}].", depth + 1, out)
        elif isinstance(value, (MultiValue, list, tuple)):
            for i, item in enumerate(list(value)[:_MAX_ITEMS]):
                out[f"dicom.{name}[{i}]"] = str(item)[:_MAX_VALUE]
        elif value is not None and value != "":
            out[f"dicom.{name}"] = str(value)[:_MAX_VALUE]


def dicom_properties(ds: Dataset) -> dict[str, str]:
    """The level-0 instance's attributes, meta header included, as 'dicom.Keyword',
    'dicom.Sequence[0].Keyword', 'dicom.Multi[1]'."""
    out: dict[str, str] = {}
    if getattr(ds, "file_meta", None) is not None:
        _flatten(ds.file_meta, "", 0, out)
    _flatten(ds, "", 0, out)
    return out


def label_properties(properties: dict[str, str]) -> tuple[str, ...]:
    """The keys of properties that repeat what the label shows."""
    return tuple(key for key in properties
                 if key.rsplit(".", 1)[-1].startswith(_ON_THE_LABEL))


def _first(ds: Dataset, *path: str):
    """The value at a path of sequence keywords (first items) ending in an attribute."""
    for keyword in path[:-1]:
        items = ds.get(keyword) or []
        if not items:
            return None
        ds = items[0]
    return ds.get(path[-1])


def mpp_of(ds: Dataset, width: int) -> tuple[float, float] | None:
    """Micrometres per pixel (x, y) from PixelSpacing (millimetres, row spacing first), else
    from the imaged width."""
    spacing = _first(ds, "SharedFunctionalGroupsSequence", "PixelMeasuresSequence",
                     "PixelSpacing")
    try:
        if spacing is not None and len(spacing) == 2 and min(map(float, spacing)) > 0:
            return (float(spacing[1]) * 1000, float(spacing[0]) * 1000)
        imaged = float(ds.get("ImagedVolumeWidth") or 0)
    except (TypeError, ValueError):
        return None
    return (imaged * 1000 / width,) * 2 if imaged > 0 and width else None


def objective_power_of(ds: Dataset) -> float | None:
    try:
        power = float(_first(ds, "OpticalPathSequence", "ObjectiveLensPower") or 0)
    except (TypeError, ValueError):
        return None
    return power if power > 0 else None


def icc_profile(blocks: BlockReader, instance: Instance) -> IccProfile | None:
    """Where the first optical path's ICC profile (0028,2000) lies: found among the header's
    bytes (cached: pydicom read them), at its joined offset; None where there is none."""
    profile = bytes(_first(instance.dataset, "OpticalPathSequence", "ICCProfile") or b"")
    summary = summary_of(profile) if profile else None
    if summary is None:
        return None
    at = blocks.read(instance.base, instance.pixel_at).find(profile)
    return IccProfile(instance.base + at, len(profile), *summary) if at >= 0 else None
