"""Demo organisation: queues, staff with known passwords, customers. Idempotent."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from conversations.models import Customer, Presence, Queue, Role, StaffMember
from conversations.services.staff import role_groups_ensure, staff_create, staff_role_set
from insights import for_conversations

DEMO_PASSWORD = "demo1234"

DEMO_QUEUES = [
    ("Billing", "Invoices, refunds and payment problems"),
    ("Technical support", "Devices, connectivity and account access"),
    ("Orders & delivery", "Order status, shipping and returns"),
]

# username, first, last, role, queues (by name), presence
DEMO_STAFF = [
    ("admin", "Ada", "Admin", Role.ADMIN, [], Presence.AVAILABLE),
    ("sam", "Sam", "Supervisor", Role.SUPERVISOR, ["Billing", "Technical support"], Presence.AVAILABLE),
    ("sofia", "Sofia", "Serrano", Role.SUPERVISOR, ["Orders & delivery", "Billing"], Presence.AVAILABLE),
    ("rita", "Rita", "Rep", Role.REPRESENTATIVE, ["Billing"], Presence.AVAILABLE),
    ("raj", "Raj", "Patel", Role.REPRESENTATIVE, ["Technical support"], Presence.AVAILABLE),
    ("lena", "Lena", "Vogel", Role.REPRESENTATIVE, ["Orders & delivery"], Presence.AVAILABLE),
    (
        "marco",
        "Marco",
        "Rossi",
        Role.REPRESENTATIVE,
        ["Orders & delivery", "Technical support"],
        Presence.AVAILABLE,
    ),
]

DEMO_CUSTOMERS = [
    ("María García", "maria@example.com"),
    ("John Smith", "john@example.com"),
    ("Chloé Martin", "chloe@example.com"),
    ("Jonas Weber", "jonas@example.com"),
    ("Giulia Bianchi", "giulia@example.com"),
    ("Ana Souza", "ana@example.com"),
    ("Aarav Sharma", "aarav@example.com"),
    ("Layla Haddad", "layla@example.com"),
]


@transaction.atomic
def demo_data_load() -> dict[str, int]:
    role_groups_ensure()
    for_conversations.sentiment_settings_get()
    queues = {}
    for name, description in DEMO_QUEUES:
        queues[name], _ = Queue.objects.get_or_create(name=name, defaults={"description": description})
    User = get_user_model()
    created_staff = 0
    for username, first, last, role, queue_names, presence in DEMO_STAFF:
        member = StaffMember.objects.filter(user__username=username).first()
        if member is None:
            if User.objects.filter(username=username).exists():
                user = User.objects.get(username=username)
                member = StaffMember.objects.create(user=user, role=role, presence=presence)
                staff_role_set(staff=member, role=role)
            else:
                member = staff_create(
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    first_name=first,
                    last_name=last,
                    email=f"{username}@example.com",
                    presence=presence,
                )
            created_staff += 1
        member.queues.set([queues[q] for q in queue_names])
    created_customers = 0
    for name, email in DEMO_CUSTOMERS:
        _, created = Customer.objects.get_or_create(email=email, defaults={"name": name})
        created_customers += created
    return {"queues": len(queues), "staff_created": created_staff, "customers_created": created_customers}
