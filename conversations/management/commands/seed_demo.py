from django.core.management.base import BaseCommand

from conversations.services.demo import DEMO_PASSWORD, DEMO_STAFF, demo_data_load


class Command(BaseCommand):
    help = "Create the demo queues, staff (known passwords) and customers. Safe to run again."

    def handle(self, *args, **options):
        counts = demo_data_load()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {counts}"))
        logins = ", ".join(f"{username} ({role.label})" for username, _f, _l, role, _q, _p in DEMO_STAFF)
        self.stdout.write(f"Demo logins, password '{DEMO_PASSWORD}': {logins}")
