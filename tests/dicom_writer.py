"""Small DICOM WSI instances written with pydicom, for the layouts the real samples lack:
Basic, Extended or no offset table, frames in several fragments, TILED_SPARSE, every codec.

Frames are encoded here (imagecodecs, pydicom's RLE encoder) and the builders return the
pixels each tile holds, for the tests to compare decoded frames with.
"""

import dataclasses

import imagecodecs
import numpy
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames
from pydicom.pixels import get_encoder
from pydicom.sequence import Sequence
from pydicom.uid import (UID, ExplicitVRLittleEndian, HTJ2KLossless, ImplicitVRLittleEndian,
                         JPEG2000Lossless, JPEGBaseline8Bit, JPEGLSLossless, RLELossless,
                         generate_uid)

WSI = "1.2.840.10008.5.1.4.1.1.77.1.6"
CODECS = {"jpeg": JPEGBaseline8Bit, "jpeg2000": JPEG2000Lossless, "htj2k": HTJ2KLossless,
          "jpegls": JPEGLSLossless,
          "rle": RLELossless, "native": ExplicitVRLittleEndian,
          "native-implicit": ImplicitVRLittleEndian}


@dataclasses.dataclass
class Written:
    path: str
    tiles: dict  # (column, row) -> the pixels stored (full frame size)
    frames: dict  # (column, row) -> the encoded frame
    missing: set


def _frame_bytes(tile: numpy.ndarray, codec: str) -> bytes:
    if codec == "jpeg":
        return imagecodecs.jpeg8_encode(tile, level=90, colorspace="RGB",
                                        outcolorspace="YCbCr", subsampling="422")
    if codec == "jpeg2000":
        return imagecodecs.jpeg2k_encode(tile, level=0, codecformat="J2K", reversible=True)
    if codec == "htj2k":
        return imagecodecs.htj2k_encode(tile)  # reversible by default: lossless
    if codec == "jpegls":
        return imagecodecs.jpegls_encode(tile, level=0)
    if codec == "rle":
        samples = 1 if tile.ndim == 2 else tile.shape[2]
        return get_encoder(RLELossless).encode(
            numpy.ascontiguousarray(tile), rows=tile.shape[0], columns=tile.shape[1],
            samples_per_pixel=samples, bits_allocated=8, bits_stored=8,
            pixel_representation=0, number_of_frames=1, photometric_interpretation="RGB",
            planar_configuration=0, byteorder="<")
    return numpy.ascontiguousarray(tile).tobytes()


def _padded_tiles(image: numpy.ndarray, size: int) -> dict:
    height, width = image.shape[:2]
    tiles = {}
    for y in range(0, height, size):
        for x in range(0, width, size):
            piece = numpy.full((size, size) + image.shape[2:], 255, image.dtype)
            part = image[y:y + size, x:x + size]
            piece[:part.shape[0], :part.shape[1]] = part
            tiles[(x // size, y // size)] = piece
    return tiles


def write_instance(path: str, image: numpy.ndarray, *, tile: int = 64, codec: str = "jpeg",
                   offsets: str = "basic", fragments: int = 1, missing: frozenset = frozenset(),
                   role: str = "VOLUME", series: str = "1.2.3.4.5", sop_class: str = WSI,
                   drop: tuple = (), spacing_mm: float = 0.00025,
                   instance_number: int = 1, short_edges: bool = False) -> Written:
    """One instance of `image` (height x width x 3 uint8) in frames of `tile` pixels.
    `offsets`: 'basic', 'extended' or 'none'; `missing` tiles make it TILED_SPARSE; `drop`
    names attributes to leave out; `short_edges` stores edge frames only as large as the image
    leaves them (as wsidicom does, against the standard)."""
    tiles = _padded_tiles(image, tile)
    if short_edges:
        tiles = {(c, r): piece[:image.shape[0] - r * tile, :image.shape[1] - c * tile].copy()
                 for (c, r), piece in tiles.items()}
    stored = [key for key in sorted(tiles, key=lambda k: (k[1], k[0])) if key not in missing]
    sparse = bool(missing)
    if sparse:
        stored = stored[::-1]  # a sparse instance's frames may come in any order
    frames = [_frame_bytes(tiles[key], codec) for key in stored]
    syntax = UID(CODECS[codec])

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SeriesInstanceUID = series
    ds.Modality = "SM"
    ds.PatientName = "Doe^Jane"
    ds.BarcodeValue = "S-42"
    ds.ImageType = ["ORIGINAL", "PRIMARY", role, "NONE"]
    ds.InstanceNumber = instance_number
    ds.Rows = ds.Columns = tile
    ds.TotalPixelMatrixRows, ds.TotalPixelMatrixColumns = image.shape[:2]
    ds.NumberOfFrames = len(frames)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = {"jpeg": "YBR_FULL_422", "jpeg2000": "YBR_RCT"}.get(
        codec, "RGB")
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.DimensionOrganizationType = "TILED_SPARSE" if sparse else "TILED_FULL"
    measures = Dataset()
    measures.PixelSpacing = [spacing_mm, spacing_mm]
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    optical = Dataset()
    optical.ObjectiveLensPower = 20
    optical.OpticalPathIdentifier = "1"
    ds.OpticalPathSequence = Sequence([optical])
    if sparse:
        groups = []
        for column, row in stored:
            position = Dataset()
            position.ColumnPositionInTotalImagePixelMatrix = column * tile + 1
            position.RowPositionInTotalImagePixelMatrix = row * tile + 1
            position.ZOffsetInSlideCoordinateSystem = 0
            group = Dataset()
            group.PlanePositionSlideSequence = Sequence([position])
            groups.append(group)
        ds.PerFrameFunctionalGroupsSequence = Sequence(groups)
    if syntax.is_compressed:
        if offsets == "extended":
            ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = \
                encapsulate_extended(frames)
        else:
            ds.PixelData = encapsulate(frames, fragments_per_frame=fragments,
                                       has_bot=offsets == "basic")
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = b"".join(frames)
        ds["PixelData"].VR = "OB"
    for keyword in drop:
        delattr(ds, keyword)
    pydicom.dcmwrite(path, ds, enforce_file_format=True,
                     implicit_vr=syntax == ImplicitVRLittleEndian, little_endian=True)
    return Written(path, {key: tiles[key] for key in stored}, dict(zip(stored, frames)),
                   set(missing))


def split_instance(path: str, folder: str, frame_counts: list[int],
                   total: bool = True) -> list[str]:
    """Writes the instance at `path` as a concatenation in `folder`: one instance per entry of
    `frame_counts` (the frames each holds, in order; a sparse instance's positions go with its
    frames), each with its ConcatenationFrameOffsetNumber. Returns their paths."""
    ds = pydicom.dcmread(path)
    count = int(ds.NumberOfFrames)
    assert sum(frame_counts) == count
    extended = ((ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
                if "ExtendedOffsetTable" in ds else None)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        frames = list(generate_frames(ds.PixelData, number_of_frames=count,
                                      extended_offsets=extended))
    else:
        size = len(ds.PixelData) // count
        frames = [ds.PixelData[i * size:(i + 1) * size] for i in range(count)]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    uid, paths, first = generate_uid(), [], 0
    for number, frame_count in enumerate(frame_counts, start=1):
        part = pydicom.dcmread(path)
        part.SOPInstanceUID = part.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        part.ConcatenationUID = uid
        part.SOPInstanceUIDOfConcatenationSource = ds.SOPInstanceUID
        part.ConcatenationFrameOffsetNumber = first
        part.InConcatenationNumber = number
        if total:
            part.InConcatenationTotalNumber = len(frame_counts)
        part.NumberOfFrames = frame_count
        own = frames[first:first + frame_count]
        if per_frame is not None:
            part.PerFrameFunctionalGroupsSequence = Sequence(
                list(per_frame)[first:first + frame_count])
        for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
            if keyword in part:
                delattr(part, keyword)
        if part.file_meta.TransferSyntaxUID.is_compressed:
            if extended:
                part.PixelData, part.ExtendedOffsetTable, part.ExtendedOffsetTableLengths = \
                    encapsulate_extended(own)
            else:
                part.PixelData = encapsulate(own, has_bot=True)
        else:
            part.PixelData = b"".join(own)
        target = f"{folder}/part{number}.dcm"
        part.save_as(target, enforce_file_format=True)
        paths.append(target)
        first += frame_count
    return paths
