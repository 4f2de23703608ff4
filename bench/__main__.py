"""``python -m bench [--rows 10000,100000] [--repeat 3] [--year] [--big] [--all] [--json PATH]
[--rtt-ms MS] [--peers [--peer-rows N] [--peer-repeat N]]``.

Creates (once) database ``wdh_bench`` on wdh's server — ``DATABASE_URL``'s, or the embedded
one — points ``DATABASE_URL`` at it, migrates it and creates the warehouse tables, then runs
:func:`bench.harness.bench_run`, then the big cases asked for (``--year``: twelve monthly
workbooks of 50,000 rows in one run; ``--big``: one 999,998-row workbook; ``--all``: both, see
:mod:`bench.batch`), prints the table — every target of the issue, met, MISSED or not run — and
writes the JSON. With ``--peers``, then django-import-export beside wdh's whole job
(:mod:`bench.peer_bench`). Exit code 0 when every self-check passed (whatever the targets), 1 when
a check failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS = BASE_DIR / "bench" / "results"
# wdh refuses a value in a row past 999,999 (facts.sheet_scan.FAR_ROW - 1; README "Guarantees"):
# the "1,000,000-row workbook" of issue 13 is, with its header, the largest sheet wdh reads.
LAST_ROW = 999_999
BIG_ROWS = LAST_ROW - 1


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(int(part.replace("_", "").replace("k", "000")) for part in text.split(",") if part.strip())
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected row counts such as 10000,100000, not {text!r}")
    return sizes


DESCRIPTION = (
    "Measure every stage of wdh's monthly job beside its floor (python-calamine reading the sheet; "
    "COPY plus one set-based statement), on generated workbooks, in database wdh_bench on wdh's "
    "server. Prints a table, writes JSON; exits 1 when a self-check fails."
)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, not {text}")
    return value


def _months(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 12:
        raise argparse.ArgumentTypeError(f"expected 1 to 12 monthly workbooks, not {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=DESCRIPTION)
    parser.add_argument("--rows", type=_sizes, default=(10_000, 100_000), help="workbook sizes (default 10000,100000)")
    parser.add_argument(
        "--repeat", type=_positive, default=3, help="repetitions per size; medians are reported (default 3)"
    )
    parser.add_argument(
        "--json", type=Path, default=RESULTS / "latest.json", help="where to write the JSON (bench/results/latest.json)"
    )
    parser.add_argument(
        "--blank-rows", type=int, default=38_000, help="formatted empty rows after the data (real files: ~38,000)"
    )
    parser.add_argument("--no-rss", action="store_true", help="skip the child run_job that measures peak RSS")
    parser.add_argument(
        "--year",
        action="store_true",
        help="also a year's re-load: --year-files monthly workbooks of --year-rows rows in one run_job "
        "(peak RSS, time against the per-file floors; one repetition)",
    )
    parser.add_argument(
        "--big",
        action="store_true",
        help="also one workbook of --big-rows rows (peak RSS of run_job and of the reader alone; one repetition)",
    )
    parser.add_argument("--all", action="store_true", help="--year and --big: every target of the issue")
    parser.add_argument("--year-rows", type=_positive, default=50_000, help="rows per monthly workbook (50000)")
    parser.add_argument("--year-files", type=_months, default=12, help="monthly workbooks, 1 to 12 (12)")
    parser.add_argument(
        "--big-rows",
        type=_positive,
        default=BIG_ROWS,
        help=f"the big workbook's rows ({BIG_ROWS}: with its header, rows 1 to {LAST_ROW:,}, the last row wdh reads; "
        "its blank tail is cut to fit there)",
    )
    parser.add_argument(
        "--rtt-ms",
        type=float,
        default=None,
        help="put a proxy that delays every round trip by this many ms (0: the proxy alone) between wdh and PostgreSQL",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also run django-import-export (installed on demand from bench/requirements-peers.txt) "
        "on the same workbook, each configuration --peer-repeat times, beside wdh's whole job",
    )
    parser.add_argument(
        "--peer-rows", type=_positive, default=None, help="the peers' workbook size (default: the largest of --rows)"
    )
    parser.add_argument(
        "--peer-repeat",
        type=_positive,
        default=1,
        help="rounds of the peers (default 1; at 100,000 rows one round takes about 4 minutes)",
    )
    return parser


@contextlib.contextmanager
def _network(url: str, rtt_ms: float | None) -> Iterator[tuple[str, Any]]:
    """``url`` unchanged, or (``--rtt-ms``) the URL of a latency proxy in front of its server."""
    if rtt_ms is None:
        yield url, None
        return
    from bench.database import database_url
    from bench.network import LatencyProxy
    from wdh.database import database_from_url

    settings = database_from_url(url)
    proxy = LatencyProxy(host=settings["HOST"], port=int(settings["PORT"] or 5432), rtt=rtt_ms / 1000)
    with proxy.running():
        options = {**settings["OPTIONS"], "sslmode": "disable"}
        options.pop("host", None)
        yield database_url({**settings, "HOST": "127.0.0.1", "PORT": proxy.listen_port, "OPTIONS": options}), proxy


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.year, args.big = args.year or args.all, args.big or args.all
    if args.no_rss and (args.year or args.big):
        parser.error("--year, --big and --all measure peak RSS: leave out --no-rss")
    if args.big and args.big_rows > BIG_ROWS:
        parser.error(f"--big-rows: wdh reads rows up to {LAST_ROW:,}, so at most {BIG_ROWS} rows below the header")
    sys.path.insert(0, str(BASE_DIR))
    from bench.database import bench_database_url

    url = bench_database_url(BASE_DIR)
    with _network(url, args.rtt_ms) as (url, proxy):
        os.environ["DATABASE_URL"] = url
        os.environ["WDH_LOG_LEVEL"] = "WARNING"  # the job's one-line run log would break the table
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wdh.settings")
        import django

        django.setup()
        from django.db import connections

        try:
            return _bench(args, url, proxy)
        finally:
            connections.close_all()


def _bench(args: argparse.Namespace, url: str, proxy: Any) -> int:
    from bench.database import schema_setup
    from bench.harness import BenchOptions, bench_run
    from bench.report import all_checks_ok, bench_json, bench_table, machine

    schema_setup()
    options = BenchOptions(
        sizes=args.rows,
        repeat=args.repeat,
        blank_rows=args.blank_rows,
        workdir=RESULTS / "workbooks",
        child_database_url=None if args.no_rss else url,
        traffic=proxy.traffic if proxy else None,
    )
    say = None if args.quiet else (lambda message: print(f"bench: {message}", file=sys.stderr, flush=True))
    runs = bench_run(options, progress=say)
    batches = _batches(args, url, say)
    info = {**machine(), "rtt_ms": args.rtt_ms}
    print("\n".join(bench_table(runs, machine_info=info, batches=batches)))
    document = bench_json(runs, options=_options_json(args), machine_info=info, batches=batches)
    peers_ok = True
    if args.peers:
        peers_ok, document["peers"] = _peers(args, say or (lambda message: None))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\nJSON: {args.json}")
    return 0 if all_checks_ok(runs, batches) and peers_ok else 1


def _batches(args: argparse.Namespace, url: str, say: Any) -> list[Any]:
    """The big cases asked for, each on workbooks generated once (cached under bench/results/)."""
    from bench.batch import batch_run
    from bench.batch_report import BIG, YEAR
    from bench.workbook import workbook_for, year_workbooks

    say = say or (lambda message: None)
    found = []
    workdir = RESULTS / "workbooks"
    if args.year:
        say(f"year: preparing {args.year_files} workbooks of {args.year_rows:,} rows (cached)")
        books = year_workbooks(args.year_rows, files=args.year_files, blank_rows=args.blank_rows, directory=workdir)
        found.append(batch_run(YEAR, books, database_url=url, progress=say))
    if args.big:
        say(f"big: preparing a workbook of {args.big_rows:,} rows (cached; minutes the first time)")
        blank_rows = min(args.blank_rows, LAST_ROW - 1 - args.big_rows)  # the blank tail's ends hold text
        book = workbook_for(args.big_rows, blank_rows=blank_rows, directory=workdir)
        found.append(batch_run(BIG, [book], database_url=url, reader=True, progress=say))
    return found


def _peers(args: argparse.Namespace, say: Any) -> tuple[bool, dict[str, Any]]:
    """Run and print the peers; (every peer self-check passed, their JSON)."""
    from bench.peer_bench import peers_bench, peers_json, peers_table

    rows = args.peer_rows or max(args.rows)
    run = peers_bench(rows, repeat=args.peer_repeat, blank_rows=args.blank_rows, workdir=RESULTS / "workbooks", say=say)
    failed = [check for check in run.checks if not check.ok]
    print("\n" + "\n".join(peers_table(run)))
    print(f"  peer self-checks: {len(run.checks) - len(failed)}/{len(run.checks)} passed")
    for check in failed:
        print(f"  FAILED {check.name}: {check.detail}")
    return not failed, peers_json(run)


def _options_json(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "rows": list(args.rows),
        "repeat": args.repeat,
        "blank_rows": args.blank_rows,
        "rss": not args.no_rss,
        "rtt_ms": args.rtt_ms,
        "peers": args.peers,
        "peer_rows": (args.peer_rows or max(args.rows)) if args.peers else None,
        "peer_repeat": args.peer_repeat if args.peers else None,
        "year": {"files": args.year_files, "rows": args.year_rows} if args.year else None,
        "big": {"rows": args.big_rows} if args.big else None,
    }


if __name__ == "__main__":
    sys.exit(main())
