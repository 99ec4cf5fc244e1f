"""How a viewer names its tiles, so that the prefetcher can render them ahead of it."""

from typing import Protocol

from .request import RegionRequest


class Tiling(Protocol):
    """A protocol's tile grid (DZI's, IIIF's) with the format and quality a viewer asks for."""

    def requests(self, l0_x: float, l0_y: float, l0_width: float, l0_height: float,
                 scale: float) -> list[RegionRequest]:
        """The requests for the grid's tiles at `scale` (level-0 pixels per tile pixel) that
        meet the level-0 rectangle, centre first as a viewer asks; none if the grid has no
        level at that scale."""


def centre_first(t_cols: range, t_rows: range, l0_span: float, l0_cx: float, l0_cy: float
                 ) -> list[tuple[int, int]]:
    """The (column, row) tiles of a grid of `l0_span` level-0 pixels, nearest to the centre
    (cx, cy) first."""
    t_cx, t_cy = l0_cx / l0_span - 0.5, l0_cy / l0_span - 0.5
    return sorted(((c, r) for r in t_rows for c in t_cols),
                  key=lambda t: (t[0] - t_cx) ** 2 + (t[1] - t_cy) ** 2)


def tiles_meeting(l0_x: float, l0_y: float, l0_width: float, l0_height: float, l0_span: float,
                  t_cols: int, t_rows: int) -> list[tuple[int, int]]:
    """Tiles of a grid of `l0_span` level-0 pixels (t_cols x t_rows) that meet the rectangle,
    centre first."""
    c0, c1 = max(0, int(l0_x // l0_span)), min(t_cols - 1, int((l0_x + l0_width - 1e-6) // l0_span))
    r0, r1 = max(0, int(l0_y // l0_span)), min(t_rows - 1,
                                                int((l0_y + l0_height - 1e-6) // l0_span))
    return centre_first(range(c0, c1 + 1), range(r0, r1 + 1), l0_span,
                        l0_x + l0_width / 2, l0_y + l0_height / 2)
