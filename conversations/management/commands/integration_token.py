"""Manage API keys of channel integrations.

    python manage.py integration_token create "Web chat"   # prints the key once
    python manage.py integration_token list
    python manage.py integration_token revoke <prefix>
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from conversations.models import IntegrationToken
from conversations.services.ingest import integration_token_create


class Command(BaseCommand):
    help = "Create, list or revoke integration API keys (Authorization: Bearer <key>)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a key and print it (only its hash is stored)")
        create.add_argument("name")
        sub.add_parser("list", help="list keys")
        revoke = sub.add_parser("revoke", help="deactivate a key by its prefix")
        revoke.add_argument("prefix")

    def handle(self, *args, **options):
        action = options["action"]
        if action == "create":
            _token, raw = integration_token_create(name=options["name"])
            self.stdout.write(raw)
        elif action == "list":
            for token in IntegrationToken.objects.all():
                state = "active" if token.active else "revoked"
                used = token.last_used_at.isoformat() if token.last_used_at else "never used"
                self.stdout.write(f"{token.prefix}…\t{token.name}\t{state}\t{used}")
        else:
            updated = IntegrationToken.objects.filter(prefix=options["prefix"], active=True).update(active=False)
            if not updated:
                raise CommandError(f"No active key starts with {options['prefix']!r}.")
            self.stdout.write(f"Revoked {updated} key(s).")
