"""CPU accounting for bench/pipeline.py: what each process kind spends per delivered message,
and what the model alone spends per message, measured in the same run.

The pipeline's cost is only meaningful next to the model's on the same cores at the same time
(a shared machine's load moves both), hence the ratio ``pipeline_cpu_ms_per_message /
model_cpu_ms_per_message``: 1 would mean the plumbing around the model is free.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Callable

# "postgres: 15/main: user dbname 127.0.0.1(5432) idle" (a client's backend) as opposed to
# "postgres: 15/main: checkpointer" (the server's own work, which serves every database).
_BACKEND = re.compile(r"^postgres: (?:[^:]+: )?\S+ (\S+) (?:\[local\]|\S+\(\d+\))")
_AUXILIARY = re.compile(
    r"^postgres: (?:[^:]+: )?(checkpointer|background writer|walwriter|autovacuum|logical "
    r"replication|archiver|stats|startup|walsender|walreceiver|parallel worker)"
)


def postgresql_counts(title: str, database: str) -> bool | None:
    """Whether a PostgreSQL process (by its title) works for the bench's database: the server
    itself and its background processes do, a backend does if it serves that database. None:
    a backend that has not named its database yet."""
    backend = _BACKEND.match(title)
    if backend:
        return backend.group(1) == database
    if title.startswith("postgres:") and not _AUXILIARY.match(title):
        return None
    return True


class ProcessSampler:
    """Samples CPU times and RSS of the center's processes (and PostgreSQL, Redis, this client).

    ``database``: the bench's PostgreSQL database; backends of other databases (other work on a
    shared server) are not counted. None: PostgreSQL and Redis are not part of the run
    (embedded). ``connections``: counts the center's connections to that database now; the
    sampler keeps the largest count (``peak_connections``)."""

    def __init__(
        self, *, database: str | None, interval: float = 0.5, connections: Callable[[], int] | None = None
    ) -> None:
        import psutil

        self.psutil = psutil
        self.database = database
        self.interval = interval
        self.named: dict[int, str] = {}
        self.ignored: set[int] = set()
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.at_mark: dict[int, float] = {}
        self.peak_rss: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at: float | None = None
        self.marked_at: float | None = None
        self.connections = connections
        self.peak_connections: int | None = None

    def track(self, pid: int, name: str) -> None:
        self.named[pid] = name

    def discover(self, root_pid: int | None) -> None:
        """Name the center's processes from their command lines; add services and this client."""
        psutil = self.psutil
        self.track(os.getpid(), "bench-client")
        if root_pid is not None:
            try:
                children = psutil.Process(root_pid).children(recursive=True)
            except psutil.NoSuchProcess:
                children = []
            workers = 0
            for child in sorted(children, key=lambda p: p.pid):
                try:
                    cmd = child.cmdline()
                except psutil.Error:
                    continue
                joined = " ".join(cmd)
                if "daphne" in joined and "-p" in cmd:
                    self.track(child.pid, f"web:{cmd[cmd.index('-p') + 1]}")
                elif "runworker" in joined:
                    workers += 1
                    self.track(child.pid, f"scoring-worker.{workers}")
        if self.database is not None:  # embedded: neither Redis nor PostgreSQL serve the run
            for proc in psutil.process_iter(["name"]):
                if (proc.info.get("name") or "").startswith("redis-server"):
                    self.track(proc.pid, "redis-server")
        self._discover_postgresql()

    def _discover_postgresql(self) -> None:
        # Backends live as long as a connection (persistent ones for the whole run) and start
        # whenever a process first connects: looked for at every sample, counted from zero.
        if self.database is None:
            return
        for proc in self.psutil.process_iter(["name", "create_time", "cmdline"]):
            pid = proc.pid
            if pid in self.named or pid in self.ignored:
                continue
            if (proc.info.get("name") or "") not in ("postgres", "postmaster"):
                continue
            counted = postgresql_counts(" ".join(proc.info.get("cmdline") or []), self.database)
            if counted is None:
                continue  # a backend still starting: its title names its database shortly
            if not counted:
                self.ignored.add(pid)
                continue
            self.track(pid, "postgresql")
            created = proc.info.get("create_time") or 0
            if self.started_at is not None and created >= self.started_at:
                self.first[pid] = 0.0
            if self.marked_at is not None and created >= self.marked_at:
                self.at_mark[pid] = 0.0

    def _sample(self) -> None:
        if self.connections is not None:
            try:
                now = self.connections()
            except Exception:  # a sample lost to a busy server is not a failed run
                now = None
            if now is not None:
                self.peak_connections = max(self.peak_connections or 0, now)
        with self._lock:
            self._discover_postgresql()
            for pid in list(self.named):
                try:
                    proc = self.psutil.Process(pid)
                    with proc.oneshot():
                        times = proc.cpu_times()
                        rss = proc.memory_info().rss
                except self.psutil.Error:
                    continue
                cpu = times.user + times.system
                self.first.setdefault(pid, cpu)
                self.last[pid] = cpu
                self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def start(self) -> None:
        self.started_at = time.time()
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def mark(self) -> None:
        """The measured load starts: per-message figures count CPU from here (warm-up and model
        loading excluded)."""
        self._sample()
        with self._lock:
            self.marked_at = time.time()
            self.at_mark = dict(self.last)

    def stop(self) -> tuple[dict, dict[str, float]]:
        """(CPU seconds and peak RSS per process name over the whole drive, CPU seconds per
        process name since ``mark``)."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample()
        grouped: dict[str, dict] = {}
        measured: dict[str, float] = {}
        for pid, name in self.named.items():
            if pid not in self.last:
                continue
            entry = grouped.setdefault(name, {"cpu_seconds": 0.0, "peak_rss_mb": 0.0, "processes": 0})
            entry["cpu_seconds"] += self.last[pid] - self.first[pid]
            # A service made of many processes (PostgreSQL) reports the sum of their peaks.
            entry["peak_rss_mb"] += self.peak_rss[pid] / 2**20
            entry["processes"] += 1
            since = self.at_mark.get(pid, self.first[pid])
            measured[name] = measured.get(name, 0.0) + self.last[pid] - since
        for entry in grouped.values():
            entry["cpu_seconds"] = round(entry["cpu_seconds"], 2)
            entry["peak_rss_mb"] = round(entry["peak_rss_mb"], 1)
        return dict(sorted(grouped.items())), measured


def _kind(name: str) -> str:
    if name.startswith("web:"):
        return "web"
    if name.startswith("scoring-worker"):
        return "scoring_workers"
    return {"postgresql": "postgresql", "redis-server": "redis", "bench-client": "client"}[name]


def per_message(measured: dict[str, float], delivered: int) -> dict:
    """CPU ms per delivered message by process kind; the pipeline is every kind but the client
    (the load generator stands in for customers' browsers)."""
    kinds: dict[str, float] = {}
    for name, seconds in measured.items():
        kind = _kind(name)
        kinds[kind] = kinds.get(kind, 0.0) + seconds
    n = max(delivered, 1)
    out = {kind: round(seconds * 1000 / n, 2) for kind, seconds in sorted(kinds.items())}
    pipeline = sum(seconds for kind, seconds in kinds.items() if kind != "client")
    return {"by_kind": out, "pipeline": round(pipeline * 1000 / n, 2)}


def model_cpu(texts: list[str], *, batch_sizes: list[int], messages: int, seed: int) -> dict:
    """CPU ms per message of the workers' scorer alone (``get_scorer().score``, as the batcher
    calls it), over the load generator's texts in batches of each size, in this process after
    the center stopped. Process CPU time counts every torch thread; the model loads first."""
    import torch

    from insights.scoring import get_scorer

    scorer = get_scorer()
    scorer.score(texts[:2])  # load the model, outside the measure

    def measure(rng: random.Random) -> dict:
        out = {}
        for size in batch_sizes:
            batches = [[rng.choice(texts) for _ in range(size)] for _ in range(max(1, messages // size))]
            scorer.score(batches[0])  # first call at this shape
            cpu, wall = time.process_time(), time.perf_counter()
            for batch in batches:
                scorer.score(batch)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            n = sum(len(b) for b in batches)
            out[str(size)] = {
                "messages": n,
                "cpu_ms_per_message": round(cpu * 1000 / n, 2),
                "wall_ms_per_message": round(wall * 1000 / n, 2),
            }
        return out

    threads = torch.get_num_threads()
    result = {"torch_threads": threads, "by_batch_size": measure(random.Random(seed))}
    if threads > 1:
        # Several torch threads on busy cores spin while they wait for each other: CPU time
        # that is the configuration's, not the model's. One thread shows the model's own.
        torch.set_num_threads(1)
        try:
            result["one_thread_by_batch_size"] = measure(random.Random(seed))
        finally:
            torch.set_num_threads(threads)
    return result
