"""Imaging: stored tiles -> pixels -> the bytes a browser shows, with the CPU work off the loop.

- `passthrough.native_tile_jpeg`: a stored tile as JPEG, the stored stream untouched if possible;
- `region.read_region`, `region.thumbnail`: any rectangle at any size, as RGB pixels;
- `encode.encode`: pixels -> JPEG, PNG or WebP; `orient.orient_and_encode` mirrors, rotates
  and applies a colour mode first;
- `decode.decode`, `resample.resize`, `jpeg_markers`: the pieces they are built from;
- `cpu_pool.run_cpu`, `cpu_pool.map_cpu`: where every decode, resample and encode runs (the
  pool of the blueprint whose reader asked, `cpu_pool.using`).

Pixels are always C-ordered uint8 arrays of shape (height, width, 3), RGB.
"""
