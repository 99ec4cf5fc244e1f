"""wsi_blueprint: stream whole-slide images from object storage as DZI and IIIF."""

from importlib import metadata

try:  # setup.py holds the version; an installed package (editable too) carries it
    __version__ = metadata.version("wsi_blueprint")
except metadata.PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
