"""Creating staff and keeping their Django groups in line with their role."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from conversations.models import Presence, Queue, Role, StaffMember

ROLE_GROUPS = {
    Role.REPRESENTATIVE: "Service representatives",
    Role.SUPERVISOR: "Supervisors",
    Role.ADMIN: "Administrators",
}
# app_label.codename granted to each role's group.
ROLE_PERMISSIONS = {
    Role.REPRESENTATIVE: ["conversations.view_conversation", "insights.add_sentimentcorrection"],
    Role.SUPERVISOR: [
        "conversations.view_conversation",
        "conversations.change_conversation",
        "insights.add_sentimentcorrection",
        "insights.view_sentimentalert",
    ],
    Role.ADMIN: [
        "conversations.view_conversation",
        "insights.view_sentimentsettings",
        "insights.change_sentimentsettings",
        "insights.view_settingsauditentry",
        "insights.view_sentimentcorrection",
        "insights.view_sentimentalert",
    ],
}


def role_groups_ensure() -> dict[str, Group]:
    """Create the role groups with their permissions (idempotent)."""
    groups = {}
    for role, name in ROLE_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = []
        for dotted in ROLE_PERMISSIONS[role]:
            app_label, codename = dotted.split(".")
            perms.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(perms)
        groups[role] = group
    return groups


@transaction.atomic
def staff_create(
    *,
    username: str,
    password: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    queues: Iterable[Queue] = (),
    presence: str = Presence.OFFLINE,
) -> StaffMember:
    User = get_user_model()
    user = User.objects.create_user(
        username=username, password=password, first_name=first_name, last_name=last_name, email=email
    )
    # A presence given at creation is also the one they chose (restored after the center's Offline).
    chosen = {"chosen_presence": presence} if presence != Presence.OFFLINE else {}
    staff = StaffMember.objects.create(user=user, role=role, presence=presence, **chosen)
    staff.queues.set(list(queues))
    staff_role_set(staff=staff, role=role)
    return staff


@transaction.atomic
def staff_role_set(*, staff: StaffMember, role: str) -> StaffMember:
    groups = role_groups_ensure()
    staff.role = role
    staff.save(update_fields=["role"])
    staff.user.groups.remove(*groups.values())
    staff.user.groups.add(groups[Role(role)])
    # Admins also manage the Django admin site.
    staff.user.is_staff = role == Role.ADMIN
    staff.user.save(update_fields=["is_staff"])
    return staff
