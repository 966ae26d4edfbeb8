"""``manage.py outbox_send``: run the outbox sender (webhook events, calls to Chatwoot) in the
foreground, for a deployment that sends apart from its Daphne and scoring processes (those
run one each as well; leases keep any number of senders from sending a row twice).
``--once`` sends what is due now and exits (for a cron job)."""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand

from insights.sender import OutboxSender, outbox_send_due


class Command(BaseCommand):
    help = "Send stored webhook events and Chatwoot calls until stopped (SIGTERM, Ctrl-C)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="send what is due now, then exit")
        parser.add_argument(
            "--concurrency", type=int, default=None, help="sends in flight (OUTBOX_SENDER_CONCURRENCY)"
        )

    def handle(self, *args, once: bool, concurrency: int | None, **options) -> None:
        if once:
            delivered = outbox_send_due(limit=10_000)
            self.stdout.write(f"delivered {delivered}")
            return
        sender = OutboxSender(concurrency=concurrency, persistent=True)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: sender.request_stop())
        self.stdout.write(f"outbox sender running, {sender.concurrency} in flight at most")
        sender.run()
        self.stdout.write("outbox sender stopped")
