#!/usr/bin/env python
"""End-to-end load benchmark of the live pipeline: customer message → stored → scored → score on
the representative's and the supervisors' screens.

    .venv/bin/python bench/pipeline.py                         # PostgreSQL + Redis, 2 web, 2 workers
    .venv/bin/python bench/pipeline.py --workers 1,2 --rate 300 --duration 30   # scaling sweep
    .venv/bin/python bench/pipeline.py --embedded               # SQLite + in-memory layer, 1 process

For each entry of ``--workers`` it starts the center (``bin/center-production`` with K scoring
workers on DATABASE_URL / REDIS_URL, or one Daphne on a fresh SQLite file with ``--embedded``),
creates a bench queue, N representatives, M supervisors and an integration token through the
services and the ORM in this process, logs the staff in by creating sessions, opens their
``ws/staff/`` sockets (cookie + Origin, as a browser does), opens C customer ``ws/chat/<token>/``
sockets, drives R messages per second in total for D seconds, waits for the scores to arrive,
and prints ONE JSON line: end-to-end latency (send → ``conversation.scored`` on the
representative's socket, and on every supervisor's socket) p50/p95/p99/max in ms, messages
sent/acked/stored/scored/delivered, lost and duplicated counts, CPU seconds and peak RSS of
every process (the center's, PostgreSQL's, Redis's and this client's), and, for a sweep,
throughput per worker count.

All traffic stays on loopback; every loop is bounded by --duration and --drain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu_accounting import ProcessSampler, model_cpu, per_message  # noqa: E402
from bench.model import cpu_description  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/sentiment_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"

TEXTS = [
    "Hi, I ordered a blender last week and it still has not arrived.",
    "This is the third time I am writing about the same problem, it is unacceptable.",
    "Thanks a lot, that fixed it! You have been really helpful.",
    "Can you tell me when my refund will be processed?",
    "I am really disappointed with the service, nobody answers my emails.",
    "Great, the new router works perfectly now.",
    "The app keeps crashing every time I try to pay.",
    "Ok, I will wait for the technician tomorrow morning.",
    "Why was I charged twice for the same order?",
    "Perfect, thank you for the quick answer!",
    "Hola, mi pedido llegó roto y nadie me responde.",
    "Bonjour, je suis très satisfait de votre aide, merci.",
    "Das ist schon wieder kaputt, ich bin wirklich verärgert.",
    "Obrigado, o problema foi resolvido rapidamente.",
    "I have been on hold for an hour, this is ridiculous!!!",
    "Could you please update the delivery address on my account?",
]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def latency_summary(values_s: list[float]) -> dict:
    ms = [v * 1000 for v in values_s]
    out = {"count": len(ms)}
    for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        value = percentile(ms, q)
        out[name] = round(value, 1) if value is not None else None
    out["max"] = round(max(ms), 1) if ms else None
    out["mean"] = round(statistics.fmean(ms), 1) if ms else None
    return out


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes


def _wait_port(host: str, port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the center exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def _stop_group(proc: subprocess.Popen, grace: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------- database setup


def recreate_postgres_database(url: str) -> None:
    import dj_database_url
    import psycopg
    from psycopg import sql

    cfg = dj_database_url.parse(url)
    params = {
        k: v
        for k, v in dict(
            host=cfg["HOST"], port=cfg["PORT"], user=cfg["USER"], password=cfg["PASSWORD"]
        ).items()
        if v
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(cfg["NAME"])))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))


def _database_name(url: str) -> str:
    import dj_database_url

    return dj_database_url.parse(url)["NAME"]


def database_connections(url: str):
    """A counter of the center's connections to the bench's database: its rows in
    pg_stat_activity, less this client's own (found by their client ports). It queries from
    the server's "postgres" database, so its own backend is not counted either."""
    import dj_database_url
    import psutil
    import psycopg

    cfg = dj_database_url.parse(url)
    port = int(cfg["PORT"] or 5432)
    params = {
        k: v
        for k, v in dict(host=cfg["HOST"], port=port, user=cfg["USER"], password=cfg["PASSWORD"]).items()
        if v
    }
    conn = psycopg.connect(dbname="postgres", autocommit=True, **params)
    me = psutil.Process()

    def count() -> int:
        own = [c.laddr.port for c in me.net_connections(kind="tcp") if c.raddr and c.raddr.port == port]
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"
            " AND coalesce(client_port, -1) <> ALL(%s)",
            [cfg["NAME"], own],
        ).fetchone()
        return row[0]

    return count


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def django_setup(env: dict) -> None:
    os.environ.update(env)
    import django

    django.setup()


@dataclass
class Fixture:
    queue_id: int
    cookies: dict[str, list[str]]  # role -> cookie header per staff member
    conversations: list[tuple[int, str]]  # (id, customer token)
    warmup: list[tuple[int, str]]
    api_token: str


def create_fixture(*, reps: int, supervisors: int, conversations: int, warmup: int, run: int) -> Fixture:
    """Queue, staff, sessions, an integration token and open conversations, via the services."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.db import connections

    from conversations.models import Presence, Queue
    from conversations.services.assignment import conversation_assign
    from conversations.services.ingest import (
        conversation_create,
        integration_token_create,
    )
    from conversations.services.staff import staff_create

    store = import_module(settings.SESSION_ENGINE).SessionStore
    queue = Queue.objects.create(name=f"Bench {run}")
    staff: dict[str, list] = {"representative": [], "supervisor": []}
    for role, count in (("representative", reps), ("supervisor", supervisors)):
        for i in range(count):
            member = staff_create(username=f"bench-{run}-{role}-{i}", password="bench-pass-123", role=role)
            member.queues.set([queue])
            member.presence = Presence.AVAILABLE
            member.save(update_fields=["presence"])
            staff[role].append(member)

    def cookie_for(member) -> str:
        session = store()
        session[SESSION_KEY] = str(member.user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = member.user.get_session_auth_hash()
        session.create()
        return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"

    cookies = {role: [cookie_for(m) for m in members] for role, members in staff.items()}
    _token, raw = integration_token_create(name=f"bench {run}")

    def open_conversations(n: int, prefix: str) -> list[tuple[int, str]]:
        out = []
        for i in range(n):
            c = conversation_create(queue=queue, customer_name=f"{prefix} customer {i}")
            rep = staff["representative"][i % len(staff["representative"])] if reps else None
            if rep is not None:
                c = conversation_assign(conversation=c, representative=rep)
            out.append((c.pk, c.customer_token))
        return out

    fixture = Fixture(
        queue_id=queue.pk,
        cookies=cookies,
        conversations=open_conversations(conversations, "bench"),
        warmup=open_conversations(warmup, "warm-up"),
        api_token=raw,
    )
    connections.close_all()
    return fixture


def database_counts(conversation_ids: list[int]) -> dict:
    from django.db import connections
    from django.db.models import Count

    from conversations.models import Message, Sender

    rows = (
        Message.objects.filter(conversation_id__in=conversation_ids, sender=Sender.CUSTOMER)
        .values("scoring_status")
        .annotate(n=Count("id"))
    )
    by_status = {row["scoring_status"]: row["n"] for row in rows}
    connections.close_all()
    return by_status


def mean_scoring_batch(conversation_ids: list[int]) -> float | None:
    """Messages per scoring batch: a batch's messages share one ``scored_at`` (set once per
    stored batch), so scored messages ÷ distinct ``scored_at``."""
    from django.db import connections

    from conversations.models import Message, Sender

    stamps = list(
        Message.objects.filter(
            conversation_id__in=conversation_ids, sender=Sender.CUSTOMER, scored_at__isnull=False
        ).values_list("scored_at", flat=True)
    )
    connections.close_all()
    return round(len(stamps) / len(set(stamps)), 2) if stamps else None


# --------------------------------------------------------------------------- the load


@dataclass
class Observed:
    send_at: dict[int, float] = field(default_factory=dict)  # client_id -> send time
    key_of: dict[int, tuple[int, int]] = field(default_factory=dict)  # client_id -> (conversation, seq)
    ack_at: dict[int, float] = field(default_factory=dict)  # client_id -> message.ack arrival (stored)
    errors: dict[str, int] = field(default_factory=dict)
    # socket name -> (conversation, seq) -> arrival times of conversation.scored
    scored: dict[str, dict[tuple[int, int], list[float]]] = field(default_factory=dict)
    frame_types: dict[str, int] = field(default_factory=dict)
    first_send: float | None = None
    last_send: float | None = None


async def _reader(ws, name: str, obs: Observed, *, customer_conversation: int | None = None) -> None:
    import websockets

    sink = obs.scored.setdefault(name, {})
    try:
        async for raw in ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            kind = frame.get("type")
            obs.frame_types[kind] = obs.frame_types.get(kind, 0) + 1
            if kind == "conversation.scored":
                sink.setdefault((int(frame["conversation"]), int(frame["seq"])), []).append(now)
            elif kind == "message.ack" and customer_conversation is not None:
                client_id = frame.get("client_id")
                if isinstance(client_id, int):
                    obs.key_of[client_id] = (customer_conversation, int(frame["seq"]))
                    obs.ack_at[client_id] = now
            elif kind == "error":
                code = str(frame.get("code"))
                obs.errors[code] = obs.errors.get(code, 0) + 1
    except websockets.ConnectionClosed as exc:
        # Counted: a screen whose socket closed stops receiving, which shows up as lost.
        kind = name.split(".")[0]
        code = getattr(exc.rcvd, "code", None) or getattr(exc.sent, "code", None)
        key = f"socket_closed_{kind}_{code}"
        obs.errors[key] = obs.errors.get(key, 0) + 1


async def _connect(url: str, *, origin: str, cookie: str | None = None):
    from websockets.asyncio.client import connect

    headers = {"Cookie": cookie} if cookie else None
    # Browsers do not send websocket pings; Daphne pings them (and closes silent ones).
    return await connect(
        url, origin=origin, additional_headers=headers, max_size=2**22, open_timeout=30, ping_interval=None
    )


async def drive(
    *,
    ports: list[int],
    fixture: Fixture,
    rate: float,
    duration: float,
    drain: float,
    warmup_seconds: float,
    seed: int,
    on_measure_start=None,
) -> tuple[Observed, dict]:
    import websockets

    host = "127.0.0.1"
    rng = random.Random(seed)
    obs = Observed()
    sockets = []
    tasks = []

    def port_for(i: int) -> int:
        return ports[i % len(ports)]

    staff_names = []
    for role in ("representative", "supervisor"):
        for i, cookie in enumerate(fixture.cookies[role]):
            port = port_for(i)
            ws = await _connect(
                f"ws://{host}:{port}/ws/staff/", origin=f"http://{host}:{port}", cookie=cookie
            )
            name = f"{role}.{i}"
            staff_names.append(name)
            sockets.append(ws)
            tasks.append(asyncio.create_task(_reader(ws, name, obs)))

    async def open_customers(conversations):
        out = []
        for i, (cid, token) in enumerate(conversations):
            port = port_for(i)
            ws = await _connect(f"ws://{host}:{port}/ws/chat/{token}/", origin=f"http://{host}:{port}")
            sockets.append(ws)
            tasks.append(asyncio.create_task(_reader(ws, f"customer.{cid}", obs, customer_conversation=cid)))
            out.append((cid, ws))
        return out

    customers = await open_customers(fixture.conversations)
    warm = await open_customers(fixture.warmup)
    await asyncio.sleep(0.5)  # let presence and group joins settle

    rep_names = [n for n in staff_names if n.startswith("representative")]
    sup_names = [n for n in staff_names if n.startswith("supervisor")]

    # Warm-up: load the model in every scoring process; excluded from the figures.
    next_id = -1
    warm_keys_wanted = 0
    if warm and warmup_seconds > 0:
        count = max(len(warm), int(warmup_seconds * 10))
        for i in range(count):
            cid, ws = warm[i % len(warm)]
            await ws.send(
                json.dumps({"type": "message.send", "text": rng.choice(TEXTS), "client_id": next_id})
            )
            obs.send_at[next_id] = time.perf_counter()
            next_id -= 1
            await asyncio.sleep(warmup_seconds / count)
        warm_keys_wanted = count
        deadline = time.perf_counter() + 120
        warm_ids = {cid for cid, _ in warm}
        while time.perf_counter() < deadline:
            got = {k for name in rep_names for k in obs.scored.get(name, {}) if k[0] in warm_ids}
            if len(got) >= warm_keys_wanted:
                break
            await asyncio.sleep(0.2)
        log(f"warm-up: {len(got)} of {warm_keys_wanted} messages scored")

    # Measured load: message i goes at start + i / rate to conversation i % C.
    if on_measure_start is not None:
        on_measure_start()
    total = int(rate * duration)
    start = time.perf_counter()
    obs.first_send = start
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        cid, ws = customers[i % len(customers)]
        text = rng.choice(TEXTS)
        now = time.perf_counter()
        obs.send_at[i] = now
        try:
            await ws.send(json.dumps({"type": "message.send", "text": text, "client_id": i}))
        except websockets.ConnectionClosed:
            # The bench does not reconnect: a closed socket means the run is not steady state.
            obs.errors["socket_closed"] = obs.errors.get("socket_closed", 0) + 1
    obs.last_send = time.perf_counter()
    send_lag = obs.last_send - (start + (total - 1) / rate) if total else 0.0

    # Drain: wait until every acknowledged message's score reached every staff socket.
    measured_ids = {cid for cid, _ in fixture.conversations}
    deadline = time.perf_counter() + drain
    while time.perf_counter() < deadline:
        wanted = {k for cid_, k in obs.key_of.items() if cid_ >= 0}
        acked_all = sum(1 for i in range(total) if i in obs.key_of) + sum(obs.errors.values()) >= total
        # Each representative sees only their conversations: together they must see all;
        # every supervisor (queue-wide) must see all.
        on_reps = {k for name in rep_names for k in obs.scored.get(name, {})}
        done = (
            acked_all
            and wanted <= on_reps
            and all(wanted <= set(obs.scored.get(name, {})) for name in sup_names)
        )
        if done:
            break
        await asyncio.sleep(0.1)
    drained_at = time.perf_counter()

    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for ws in sockets:
        await ws.close()

    # Representatives only see their own conversations: join on the socket that got it.
    measured = {i: k for i, k in obs.key_of.items() if i >= 0 and k[0] in measured_ids}
    rep_lat, sup_lat = [], []
    delivered_rep, delivered_all_sup = 0, 0
    for client_id, key in measured.items():
        sent = obs.send_at[client_id]
        rep_arrivals = [t for name in rep_names for t in obs.scored.get(name, {}).get(key, [])]
        if rep_arrivals:
            delivered_rep += 1
            rep_lat.append(min(rep_arrivals) - sent)
        sup_arrivals = [obs.scored.get(name, {}).get(key) for name in sup_names]
        if sup_names and all(sup_arrivals):
            delivered_all_sup += 1
            sup_lat.extend(min(a) - sent for a in sup_arrivals)
    duplicates = sum(
        len(times) - 1
        for name in rep_names + sup_names
        for key, times in obs.scored.get(name, {}).items()
        if key[0] in measured_ids
    )
    last_arrival = max(
        (
            max(times)
            for name in rep_names
            for key, times in obs.scored.get(name, {}).items()
            if key[0] in measured_ids
        ),
        default=start,
    )
    window = max(last_arrival - start, 1e-9)
    result = {
        "sent": total,
        "acked": len(measured),
        "delivered_representative": delivered_rep,
        "delivered_every_supervisor": delivered_all_sup,
        # Acknowledged but never on screen, plus sent but neither acknowledged nor refused.
        "lost": len(measured) - delivered_rep + max(0, total - len(measured) - sum(obs.errors.values())),
        "lost_supervisor": (len(measured) - delivered_all_sup) if sup_names else None,
        "duplicated_on_screen": duplicates,
        "errors": obs.errors,
        "frames_received": dict(sorted(obs.frame_types.items())),
        # send → message.ack: the storing half of the way (the web process), before scoring.
        "latency_ms_stored": latency_summary([obs.ack_at[i] - obs.send_at[i] for i in measured]),
        "latency_ms_representative": latency_summary(rep_lat),
        "latency_ms_supervisor": latency_summary(sup_lat),
        "offered_rate_per_s": rate,
        "achieved_send_rate_per_s": round(total / max(obs.last_send - start, 1e-9), 1) if total else 0,
        "send_lag_s": round(send_lag, 3),
        "delivered_throughput_per_s": round(delivered_rep / window, 1),
        "drain_s": round(drained_at - obs.last_send, 2),
    }
    return obs, result


# --------------------------------------------------------------------------- one run


def _ratios(pipeline: float, model: dict, prefix: str, *, best: int, formed: int | None) -> dict:
    """The pipeline's CPU per message against the model's at its best batch size, and at the
    batch size the pipeline formed."""
    by_size = model[f"{prefix}by_batch_size"]
    suffix = f"_{prefix.rstrip('_')}" if prefix else ""
    out = {}
    for label, size in (("", best), ("_at_pipeline_batch", formed)):
        if size is None:
            continue
        ms = by_size[str(size)]["cpu_ms_per_message"]
        out[f"model{label}{suffix}"] = ms
        out[f"ratio_pipeline_to_model{label}{suffix}"] = round(pipeline / ms, 2) if ms else None
    return out


def run_once(args, *, workers: int, run: int, env: dict) -> dict:
    embedded = args.embedded
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-{run}-"))
    center_env = dict(env)
    center_env.update(
        {
            "DJANGO_SETTINGS_MODULE": args.settings,
            "DJANGO_DEBUG": "0",
            "DEMO_TRAFFIC": "0",
            "LOG_LEVEL": "WARNING",
            "CUSTOMER_RATE_LIMIT_PER_MINUTE": str(args.customer_rate_limit),
            # Embedded: the center's default (one thread; two spin on busy cores).
            "SENTIMENT_TORCH_THREADS": str(
                args.torch_threads or (1 if embedded else max(1, (os.cpu_count() or 2) // max(1, workers)))
            ),
            "PYTHONUNBUFFERED": "1",
        }
    )
    python = str(Path(sys.executable))
    if embedded:
        center_env.pop("DATABASE_URL", None)
        center_env.pop("REDIS_URL", None)
        center_env["SENTIMENT_VAR_DIR"] = str(run_dir)
        center_env["SENTIMENT_SCORING_MODE"] = "inprocess"
        subprocess.run(
            [python, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=center_env, check=True
        )
        ports = [args.port]
        daphne = str(Path(python).parent / "daphne")
        argv = [daphne, "-b", "127.0.0.1", "-p", str(args.port), "sentiment_admin.asgi:application"]
    else:
        recreate_postgres_database(center_env["DATABASE_URL"])
        flush_redis(center_env["REDIS_URL"])
        ports = [args.port + i for i in range(args.web)]
        argv = [
            python,
            str(ROOT / "bin" / "center-production"),
            "--settings",
            args.settings,
            "--web",
            str(args.web),
            "--workers",
            str(workers),
            "--port",
            str(args.port),
            "--log-dir",
            str(run_dir / "logs"),
            "--grace",
            "5",
        ]
        if args.settings.startswith("tests."):
            argv.append("--skip-model")  # a stand-in scorer: no model to build or check
    log(
        f"run {run}: starting the center ({'embedded' if embedded else f'{args.web} web, {workers} workers'}); logs in {run_dir}"
    )
    with open(run_dir / "center.out", "wb") as out:
        center = subprocess.Popen(
            argv, cwd=ROOT, env=center_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        for port in ports:
            _wait_port("127.0.0.1", port, center, timeout=180)
        if not embedded:
            deadline = time.monotonic() + 30  # the runner says "ready" once every port listens
            while b"ready:" not in (run_dir / "center.out").read_bytes() and time.monotonic() < deadline:
                time.sleep(0.2)
        django_env = {k: v for k, v in center_env.items() if k not in ("PYTHONUNBUFFERED",)}
        django_setup(django_env)
        fixture = create_fixture(
            reps=args.reps,
            supervisors=args.supervisors,
            conversations=args.conversations,
            warmup=max(workers, 2) * 2,
            run=run,
        )
        load_before = os.getloadavg()
        sampler = ProcessSampler(
            database=None if embedded else _database_name(center_env["DATABASE_URL"]),
            connections=None if embedded else database_connections(center_env["DATABASE_URL"]),
        )
        sampler.discover(center.pid)
        if embedded:
            sampler.track(center.pid, f"web:{args.port} (scoring in-process)")
        # CPU is sampled over the whole drive, the short warm-up (model loading) included;
        # the per-message figures count from the first measured message (sampler.mark).
        sampler.start()
        _obs, obs_result = asyncio.run(
            drive(
                ports=ports,
                fixture=fixture,
                rate=args.rate,
                duration=args.duration,
                drain=args.drain,
                warmup_seconds=args.warmup,
                seed=args.seed + run,
                on_measure_start=sampler.mark,
            )
        )
        processes, measured_cpu = sampler.stop()
        load_after = os.getloadavg()
        counts = database_counts([cid for cid, _ in fixture.conversations])
        batch = mean_scoring_batch([cid for cid, _ in fixture.conversations])
    finally:
        _stop_group(center)
    cpu = per_message(measured_cpu, obs_result["delivered_representative"])
    model = None
    if args.model_messages > 0:
        # The model alone, in this process, once the center is down: the same cores, minutes
        # apart, under the same outside load (recorded next to it).
        # Also at the batch size the pipeline formed: a quiet center scores one message at a
        # time, where the model costs most per message.
        formed = max(1, round(batch)) if batch else None
        sizes = sorted({*args.model_batch, *([formed] if formed else [])})
        model = model_cpu(TEXTS, batch_sizes=sizes, messages=args.model_messages, seed=args.seed)
        model["load_average_1min"] = round(os.getloadavg()[0], 2)
        cpu.update(_ratios(cpu["pipeline"], model, "", best=args.model_batch[-1], formed=formed))
        if "one_thread_by_batch_size" in model:
            cpu.update(
                _ratios(cpu["pipeline"], model, "one_thread_", best=args.model_batch[-1], formed=formed)
            )
        model["cpu_ms_per_message"] = cpu["model"]
    stored = sum(counts.values())
    scored = counts.get("scored", 0) + counts.get("not_scored", 0)
    return {
        "mode": "embedded (SQLite, in-memory layer, in-process scoring)"
        if embedded
        else "PostgreSQL + Redis",
        "web_processes": len(ports),
        "scoring_workers": 0 if embedded else workers,
        "representatives": args.reps,
        "supervisors": args.supervisors,
        "conversations": args.conversations,
        "duration_s": args.duration,
        **{k: obs_result[k] for k in ("sent", "acked")},
        "stored": stored,
        "scored": scored,
        "pending_after_drain": counts.get("pending", 0),
        **{k: v for k, v in obs_result.items() if k not in ("sent", "acked")},
        "processes": processes,
        # Per message on a representative's screen, from the first measured message to the
        # end of the drain; "model": the scorer alone at the largest --model-batch.
        "cpu_ms_per_message": cpu,
        "mean_scoring_batch": batch,
        # The most connections the center's processes held to its database at once (sampled).
        "peak_database_connections": sampler.peak_connections,
        "model_alone": model,
        "cpu": cpu_description(),
        # Other work on the machine skews every figure: the 1-minute load before and after.
        "load_average_1min": [round(load_before[0], 2), round(load_after[0], 2)],
        "cpu_cores": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="End-to-end load benchmark of the sentiment pipeline.")
    parser.add_argument(
        "--embedded", action="store_true", help="SQLite + in-memory layer, one Daphne process"
    )
    parser.add_argument("--workers", default="2", help="scoring worker counts to sweep, e.g. 1,2 (default 2)")
    parser.add_argument("--web", type=int, default=2, help="Daphne processes (default 2)")
    parser.add_argument("--reps", type=int, default=10, help="representatives (N, default 10)")
    parser.add_argument("--supervisors", type=int, default=2, help="supervisors (M, default 2)")
    parser.add_argument(
        "--conversations", type=int, default=100, help="concurrent conversations (C, default 100)"
    )
    parser.add_argument("--rate", type=float, default=100.0, help="customer messages per second in total (R)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (D, default 60)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up traffic, not measured")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the last scores")
    parser.add_argument("--port", type=int, default=8201, help="first port of the center (default 8201)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="SENTIMENT_TORCH_THREADS per process (default: cores / workers; 1 with --embedded, the center's default)",
    )
    parser.add_argument(
        "--customer-rate-limit",
        type=int,
        default=600,
        help="CUSTOMER_RATE_LIMIT_PER_MINUTE in the center (default 600: the bench's "
        "customers send faster than a person types)",
    )
    parser.add_argument(
        "--model-batch",
        default="1,8,32",
        help="batch sizes at which the model alone is measured after each run; the last one "
        "gives the ratio (default 1,8,32: a quiet center's batches, a busy one's, and "
        "SENTIMENT_MAX_BATCH)",
    )
    parser.add_argument(
        "--model-messages",
        type=int,
        default=256,
        help="messages the model alone scores per batch size (default 256; 0: not measured)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--settings",
        default="sentiment_admin.settings.local",
        help="settings module of the center (default: local, with DEBUG and demo traffic off; "
        "tests.fault_settings measures the pipeline without the model)",
    )
    args = parser.parse_args(argv)
    args.model_batch = [int(b) for b in str(args.model_batch).split(",") if b.strip()]
    if args.duration <= 0 or args.duration > 600 or args.rate <= 0 or args.rate > 5000:
        parser.error("--duration must be in (0, 600] and --rate in (0, 5000]")
    if args.reps < 1 or args.conversations < 1:
        parser.error("--reps and --conversations must be at least 1")
    if not args.model_batch or min(args.model_batch) < 1:
        parser.error("--model-batch takes batch sizes of at least 1, e.g. 8,32")

    env = dict(os.environ)
    if not args.embedded:
        env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
        env.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    worker_counts = [1] if args.embedded else [int(w) for w in str(args.workers).split(",") if w.strip()]
    runs = []
    for run, workers in enumerate(worker_counts, start=1):
        runs.append(run_once(args, workers=workers, run=run, env=env))
    command = "bench/pipeline.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if len(runs) == 1:
        out = {"command": command.strip(), **runs[0]}
    else:
        base = runs[0]["delivered_throughput_per_s"] or 1e-9
        out = {
            "command": command.strip(),
            "sweep": [
                {
                    "scoring_workers": r["scoring_workers"],
                    "delivered_throughput_per_s": r["delivered_throughput_per_s"],
                    "speedup": round(r["delivered_throughput_per_s"] / base, 2),
                    "p99_ms_representative": r["latency_ms_representative"]["p99"],
                    "lost": r["lost"],
                }
                for r in runs
            ],
            "runs": runs,
        }
    print(json.dumps(out, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
