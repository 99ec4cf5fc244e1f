"""Prefetch: predict where a viewer goes next and warm the block cache before it asks."""
