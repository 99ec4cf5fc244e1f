#!/bin/sh
# Replaces the plots on docs/benchmarks.md with those of a fresh `wsi-blueprint bench` run.
# Arguments go to the benchmark (e.g. --quick). Run from the repository root.
set -e
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 -m wsi_blueprint.bench --out "$out" "$@"
cp "$out"/latency_cdf.png "$out"/store_per_session.png "$out"/throughput.png docs/img/bench/
echo "plots copied to docs/img/bench/; say in docs/benchmarks.md which run they come from"
