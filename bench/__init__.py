"""wdh's benchmark: every stage of the monthly job beside its floor, on realistic workbooks.

Run ``python -m bench`` (see ``bench/__main__.py`` and the README's "Benchmark" section). The
modules: :mod:`bench.workbook` (sample workbooks), :mod:`bench.database` (the ``wdh_bench``
database, its starting state, checksums), :mod:`bench.floors` (the read and write floors),
:mod:`bench.stages` (wdh's stages through its public services), :mod:`bench.memory` and
:mod:`bench.peak` (peak RSS of a child ``run_job``), :mod:`bench.network` (an artificial network
delay), :mod:`bench.harness` (repetitions and self-checks), :mod:`bench.batch` (the big cases: a year's
monthly workbooks in one run, the issue's 1,000,000-row workbook), :mod:`bench.report` and
:mod:`bench.batch_report` (medians, ratios, targets, table, JSON).
"""
