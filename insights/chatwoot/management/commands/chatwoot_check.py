"""Check every active Chatwoot connection's token and show how its account maps:

python manage.py chatwoot_check
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from insights.chatwoot.models import ChatwootConnection
from insights.chatwoot.services.check import ChatwootUnreachable, chatwoot_account_check


class Command(BaseCommand):
    help = "Verify each Chatwoot connection's token and list its inboxes, teams and agents."

    def handle(self, *args, **options):
        connections = list(ChatwootConnection.objects.filter(active=True).select_related("default_queue"))
        if not connections:
            raise CommandError(
                "No active Chatwoot connection: add one on Insights → Integrations → Chatwoot."
            )
        failed = 0
        for connection in connections:
            self.stdout.write(f"{connection} at {connection.base_url}")
            try:
                check = chatwoot_account_check(connection=connection)
            except ChatwootUnreachable as exc:
                failed += 1
                self.stdout.write(f"  FAILED: {exc}")
                continue
            self.stdout.write("  token: OK")
            for inbox_id, name, queue in check.inboxes:
                self.stdout.write(f"  inbox {inbox_id} {name!r} → queue {queue}")
            for team_id, name, queue in check.teams:
                self.stdout.write(f"  team {team_id} {name!r} → queue {queue}")
            for agent_id, name, email, staff in check.agents:
                self.stdout.write(
                    f"  agent {agent_id} {name} <{email}> → {staff or 'no staff member with this e-mail'}"
                )
        if failed:
            raise CommandError(f"{failed} connection(s) could not be checked.")
