"""What an object's name says about it, before it is opened."""

import posixpath

# Files that sit beside slides in real stores: images, documents, tables, archives, and the
# MRXS companions (the slide is the .mrxs file; its folder holds .dat and .ini parts).
NOT_SLIDE_EXTENSIONS = frozenset(
    ".png .jpg .jpeg .gif .bmp .webp .txt .md .pdf .csv .tsv .json .xml .yaml .yml .html .htm "
    ".log .ini .dat .xls .xlsx .doc .docx .zip .gz .tgz .tar .7z .bz2 .xz .py .sh".split())

# Names the formats read carry; an object without one is only known by its bytes.
SLIDE_EXTENSIONS = frozenset(".svs .tif .tiff .ndpi .scn .bif .dcm .mrxs".split())


def extension(slide_id: str) -> str:
    return posixpath.splitext(slide_id)[1].lower()


def kind_of(slide_id: str, size: int | None) -> str:
    """`folder`, `other` (a name no slide format uses) or `slide` (a candidate until it is
    opened), decided without opening the object."""
    if slide_id.endswith("/"):
        return "folder"
    if size == 0 or extension(slide_id) in NOT_SLIDE_EXTENSIONS:
        return "other"
    return "slide"
