from django.core.management.base import BaseCommand

from conversations.demo_traffic import DemoTraffic, DirectDriver, HttpDriver
from conversations.services.demo import demo_data_load
from insights.demo_history import demo_history_load


class Command(BaseCommand):
    help = (
        "Play realistic multilingual customer conversations (English, Spanish, French, German, Italian, "
        "Portuguese, Arabic, Hindi) in the demo queues, with representatives replying. Runs until "
        "stopped, or for --duration seconds. By default it drives the server at --url over its REST API "
        "(needed with the embedded in-memory channel layer); --direct calls the services in this process "
        "(only useful when the channel layer is shared, i.e. Redis)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="the running center (default %(default)s)"
        )
        parser.add_argument(
            "--direct", action="store_true", help="call the services in this process instead of HTTP"
        )
        parser.add_argument(
            "--duration", type=float, default=0.0, help="seconds to run; 0 = forever (default)"
        )
        parser.add_argument(
            "--rate", type=float, default=1.5, help="actions (messages, replies) per second overall"
        )
        parser.add_argument("--concurrent", type=int, default=6, help="conversations going at once")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--history-days",
            type=int,
            default=14,
            help="on a fresh database, back-fill this many days of closed conversations for the "
            "historical dashboard (0 = none; skipped when any closed conversation exists)",
        )
        parser.add_argument(
            "--wait", type=float, default=60.0, help="seconds to wait for the server to answer"
        )

    def handle(self, *args, url, direct, duration, rate, concurrent, seed, wait, history_days, **options):
        demo_data_load()
        backfilled = demo_history_load(days=history_days)
        if backfilled:
            self.stdout.write(
                f"Back-filled {backfilled} closed conversations over {history_days} days for the dashboard."
            )
        if direct:
            driver = DirectDriver()
        else:
            self._wait_for(url, wait)
            driver = HttpDriver(url)
        where = "in this process" if direct else url
        self.stdout.write(
            f"Demo traffic: {concurrent} conversations at a time, {rate}/s, {where}. Ctrl-C stops it."
        )
        player = DemoTraffic(driver=driver, concurrent=concurrent, rate=rate, seed=seed)
        leftovers = player.close_leftovers()
        if leftovers:
            self.stdout.write(f"Closed {leftovers} demo conversations left open by an earlier run.")
        try:
            stats = player.run(duration=duration)
        except KeyboardInterrupt:
            stats = player.stats
        self.stdout.write(self.style.SUCCESS(f"Demo traffic done: {stats}"))

    def _wait_for(self, url: str, seconds: float) -> None:
        import time

        import httpx

        deadline = time.monotonic() + seconds
        while True:
            try:
                httpx.get(url.rstrip("/") + "/login/", timeout=2.0)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
