"""Manage API keys of channel integrations.

python manage.py integration_token create --name crm --scope ingest --scope manage
python manage.py integration_token create "Web chat"           # scope ingest; prints the key once
python manage.py integration_token list                        # id, prefix, name, scopes, state
python manage.py integration_token revoke <id>                 # exactly one key, by its id
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from conversations.models import IntegrationScope, IntegrationToken
from conversations.services.ingest import integration_token_create, integration_token_revoke


class Command(BaseCommand):
    help = "Create, list or revoke integration API keys (Authorization: Bearer <key>)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a key and print it (only its hash is stored)")
        create.add_argument("positional_name", nargs="?", metavar="name", help="the key's name")
        create.add_argument("--name", dest="option_name", help="the key's name (same as the positional one)")
        create.add_argument(
            "--scope",
            dest="scopes",
            action="append",
            metavar="SCOPE",
            help=f"repeat or comma-separate: {', '.join(IntegrationScope.values)} (default: ingest)",
        )
        sub.add_parser("list", help="list keys: id, prefix, name, scopes, state, last use")
        revoke = sub.add_parser("revoke", help="deactivate one key by its id (see list)")
        revoke.add_argument("token_id", metavar="id")

    def handle(self, *args, **options):
        action = options["action"]
        if action == "create":
            self._create(options)
        elif action == "list":
            for token in IntegrationToken.objects.order_by("pk"):
                state = "active" if token.active else "revoked"
                used = token.last_used_at.isoformat() if token.last_used_at else "never used"
                scopes = ",".join(token.scope_list)
                self.stdout.write(f"{token.pk}\t{token.prefix}…\t{token.name}\t{scopes}\t{state}\t{used}")
        else:
            raw_id = options["token_id"]
            if not raw_id.isdigit():
                raise CommandError(f"Revoke takes a key's id (the first column of 'list'), not {raw_id!r}.")
            try:
                token = integration_token_revoke(token_id=int(raw_id))
            except IntegrationToken.DoesNotExist:
                raise CommandError(f"No key with id {raw_id}.") from None
            self.stdout.write(f"Revoked key {token.pk} ({token.name}, {token.prefix}…).")

    def _create(self, options) -> None:
        positional, named = options["positional_name"], options["option_name"]
        if positional and named and positional != named:
            raise CommandError("Give the name once: either positional or --name.")
        name = named or positional
        if not name:
            raise CommandError("Name the key: integration_token create --name crm")
        try:
            token, raw = integration_token_create(
                name=name, scopes=options["scopes"] or [IntegrationScope.INGEST]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(
            f"Key {token.pk} '{token.name}' with scopes {','.join(token.scope_list)} (shown once):"
        )
        self.stdout.write(raw)
