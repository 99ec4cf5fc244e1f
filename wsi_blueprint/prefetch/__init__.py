"""Prefetch: predict where a viewer goes next and warm the block cache before it asks.

`engine.Prefetcher` plans and runs the work; `sessions` keeps each viewing session's record and
jobs, `viewport` and `markov` turn requests into operations and predictions, `admission` decides
whether a job may run (demand first, budget, leases, rate), `render_ahead` renders a predicted
view's tiles through the slide reader, `case_rules` (with `rules` and `context`) warms other
slides of a case, `control_loop` and `controller` tune it from what the worker measures, and
`ledger` counts what was used.
"""
