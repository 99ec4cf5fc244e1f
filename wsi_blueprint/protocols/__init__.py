"""The HTTP routes, each a thin translation onto imaging: REST, DZI, IIIF, viewer, signing, ops."""
