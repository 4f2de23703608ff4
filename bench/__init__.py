"""wdh's benchmark: every stage of the monthly job beside its floor, on realistic workbooks.

Run ``python -m bench`` (see ``bench/__main__.py`` and the README's "Benchmark" section). The
modules: :mod:`bench.workbook` (sample workbooks), :mod:`bench.database` (the ``wdh_bench``
database, its starting state, checksums), :mod:`bench.floors` (the read and write floors),
:mod:`bench.stages` (wdh's stages through its public services), :mod:`bench.memory` and
:mod:`bench.peak` (peak RSS of a child ``run_job``), :mod:`bench.network` (an artificial network
delay), :mod:`bench.harness` (repetitions and self-checks) and :mod:`bench.report` (medians,
ratios, targets, table, JSON).
"""
