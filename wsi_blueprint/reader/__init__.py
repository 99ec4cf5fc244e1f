"""The reader layer: between formats and imaging below and protocols and prefetch above.

- `request`: the values a protocol builds (`RegionRequest`, stored tile, thumbnail,
  associated image), each with its cache key;
- `reader.SlideReader`: `info()`, `region(req)`, `stored_tile(...)`, `thumbnail(...)`,
  `associated(name)`, and what the prefetcher warms;
- `readers.Readers`: readers by slide id, with the blueprint's CPU pool;
- `tiling.Tiling`: how a viewer names tiles, for rendering them ahead.

Protocols reach formats and imaging through this package only; `output_format`,
`content_type`, `CONTENT_TYPES`, `color_mode`, `COLOR_MODES` and `RAW` are re-exported for them.
"""

from ..imaging.color import MODES as COLOR_MODES
from ..imaging.color import RAW, color_mode
from ..imaging.encode import CONTENT_TYPES, content_type, output_format
from .reader import FetchPlan, SlideReader
from .readers import Readers
from .request import (COLOR, AssociatedRequest, ImageRequest, RegionRequest, StoredTileRequest,
                      ThumbnailRequest, View)
from .tiling import Tiling, tiles_meeting

__all__ = ["AssociatedRequest", "COLOR", "COLOR_MODES", "CONTENT_TYPES", "FetchPlan",
           "ImageRequest", "RAW", "Readers", "RegionRequest", "SlideReader", "StoredTileRequest",
           "ThumbnailRequest", "Tiling", "View", "color_mode", "content_type", "output_format",
           "tiles_meeting"]
