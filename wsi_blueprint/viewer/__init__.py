"""The built-in viewer: an OpenSeadragon page served from our own origin (works air-gapped)."""
