"""wsi_blueprint: stream whole-slide images from object storage as DZI and IIIF."""

__version__ = "0.1.0"
