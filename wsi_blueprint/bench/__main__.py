"""`python -m wsi_blueprint.bench`: the benchmark suite (the same as `wsi-blueprint bench`)."""

from .suite import main

raise SystemExit(main())
