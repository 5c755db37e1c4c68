"""Developer tools kept beside the package, not installed with it (run from the repository root).

- ``python -m benchmarks.bench``: the performance table (target pipeline, training step,
  DataLoader, GPU FLOP/s); ratios of figures measured in one run.
- ``python -m benchmarks.budget``: a grid's FLOPs per run and stage, and the minutes they bound
  on a GPU's published peak (the README's budget section).
- :mod:`benchmarks.poster_pipeline`: the poster's per-image target code, the reference the
  benchmark times and the tests check the package's batched pipeline against.
"""
