"""Run one per-file function over many files: in this process, in worker processes, or on Ray Data.

    done = run_files(extract_job, jobs, workers=2, engine="local", what="extracting")

The function takes one job and returns it filled in; it must be a module-level function (worker
processes and Ray import it by name) and must catch its own per-file failures (a bad file is a
result, not an exception). Results come back in the jobs' order. A progress bar on stderr shows
files done, files/s and the time left. Ctrl-C stops the workers; what each file's function saved
on its own (the feature cache) survives for the next run.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from edge_msa.errors import UserError

ENGINES = ("local", "ray")
Job = TypeVar("Job")


def check_engine(engine: str, workers: int) -> None:
    if engine not in ENGINES:
        raise UserError(f"unknown --engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    if engine == "ray":
        try:
            import ray.data  # noqa: F401
        except ImportError:
            raise UserError("--engine ray needs Ray Data: pip install 'edge-msa[distributed]'") from None


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask, which a container or `taskset` narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def capped_workers(engine: str, workers: int) -> int:
    """`workers`, at most one per CPU of this machine (a process per file beyond that only adds
    memory: 1000 asked for 16 files started 19 processes and 4.3 GB); says so on stderr when it
    caps. A Ray cluster (RAY_ADDRESS set) has its own CPUs and is not capped."""
    cpus = cpu_count()
    if workers <= cpus or (engine == "ray" and os.environ.get("RAY_ADDRESS")):
        return workers
    print(f"edge-msa: note: --workers {workers} is more than the {cpus} CPUs here; using {cpus}",
          file=sys.stderr)
    return cpus


def run_files(fn: Callable[[Job], Job], jobs: list[Job], *, workers: int = 1, engine: str = "local",
              what: str = "processing", progress: bool = True) -> list[Job]:
    """fn(job) for every job; workers > 1 runs them in that many processes (or Ray CPUs), at most
    one per CPU (`capped_workers`)."""
    check_engine(engine, workers)
    workers = capped_workers(engine, workers)
    if engine == "ray":
        results = _ray(fn, jobs, workers)
    elif workers == 1 or len(jobs) < 2:
        results = ((i, fn(job)) for i, job in enumerate(jobs))
    else:
        results = _processes(fn, jobs, workers)
    done: list = [None] * len(jobs)
    for i, job in _progress(results, len(jobs), what, progress):
        done[i] = job
    return done


def _processes(fn, jobs: list, workers: int) -> Iterator[tuple[int, object]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # forkserver: a fork of a process that already runs threads (torch, PyAV) can deadlock
    pool = ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("forkserver"))
    try:
        futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ray(fn, jobs: list, workers: int) -> Iterator[tuple[int, object]]:
    """The same function as a Ray Data map over the jobs (one job per row, `workers` CPUs locally;
    on a cluster, RAY_ADDRESS names it)."""
    import ray
    import ray.data

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=None if os.environ.get("RAY_ADDRESS") else workers, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # ours shows the files

        def one(row: dict) -> dict:
            return {"i": row["i"], "job": fn(row["job"])}

        data = ray.data.from_items([{"i": i, "job": job} for i, job in enumerate(jobs)],
                                   override_num_blocks=max(1, len(jobs)))
        for row in data.map(one, num_cpus=1, concurrency=workers).iter_rows():
            yield row["i"], row["job"]
    finally:
        if started:
            ray.shutdown()


def _progress(results: Iterator, total: int, what: str, show: bool) -> Iterator:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not show) as bar:
        task = bar.add_task(what, total=total, rate="")
        t0 = time.perf_counter()
        for n, item in enumerate(results, 1):
            rate = n / max(time.perf_counter() - t0, 1e-9)
            bar.update(task, advance=1, rate=f"{rate:.2f} files/s")
            yield item
