import pytest
from django.contrib.auth import get_user_model

from conversations.models import Customer, Queue, Role, StaffMember
from conversations.selectors import assignable_representatives, conversations_visible_to, user_is_admin
from conversations.services.demo import DEMO_PASSWORD, demo_data_load
from conversations.services.staff import ROLE_GROUPS, staff_create, staff_role_set
from tests.conversations.factories import (
    AdminFactory,
    ConversationFactory,
    QueueFactory,
    RepresentativeFactory,
    SupervisorFactory,
)

pytestmark = pytest.mark.django_db


def test_staff_create_puts_the_user_in_the_role_group():
    staff = staff_create(username="ana", password="pw-123456", role=Role.SUPERVISOR, queues=[QueueFactory()])
    assert list(staff.user.groups.values_list("name", flat=True)) == [ROLE_GROUPS[Role.SUPERVISOR]]
    assert staff.queues.count() == 1


def test_only_the_admin_role_may_change_settings():
    assert user_is_admin(AdminFactory().user)
    assert not user_is_admin(SupervisorFactory().user)
    assert not user_is_admin(RepresentativeFactory().user)


def test_changing_role_moves_the_user_between_groups():
    staff = RepresentativeFactory()
    staff_role_set(staff=staff, role=Role.ADMIN)
    staff.user.refresh_from_db()
    staff.user = get_user_model().objects.get(pk=staff.user.pk)  # drop the permission cache
    assert user_is_admin(staff.user)
    assert staff.user.groups.get().name == ROLE_GROUPS[Role.ADMIN]


def test_representatives_see_only_their_own_conversations():
    rep, other = RepresentativeFactory(), RepresentativeFactory()
    mine = ConversationFactory(representative=rep)
    ConversationFactory(representative=other)
    assert list(conversations_visible_to(rep)) == [mine]


def test_supervisors_see_only_the_queues_they_are_assigned_to():
    billing, tech = QueueFactory(name="Billing"), QueueFactory(name="Tech")
    supervisor = SupervisorFactory(queues=[billing])
    in_queue = ConversationFactory(queue=billing)
    ConversationFactory(queue=tech)
    assert list(conversations_visible_to(supervisor)) == [in_queue]


def test_demo_data_is_idempotent_and_logins_work(client):
    demo_data_load()
    counts = (Queue.objects.count(), StaffMember.objects.count(), Customer.objects.count())
    demo_data_load()
    assert (Queue.objects.count(), StaffMember.objects.count(), Customer.objects.count()) == counts
    assert counts[0] >= 3 and counts[1] >= 5
    assert client.login(username="admin", password=DEMO_PASSWORD)
    assert user_is_admin(get_user_model().objects.get(username="admin"))
    sam = StaffMember.objects.get(user__username="sam")
    assert sam.role == Role.SUPERVISOR and sam.queues.exists()


def test_supervisors_hand_conversations_only_to_representatives_of_their_or_the_target_queue():
    billing, tech, orders = (
        QueueFactory(name="Billing"),
        QueueFactory(name="Tech"),
        QueueFactory(name="Orders"),
    )
    supervisor = SupervisorFactory(queues=[billing])
    own, in_tech, in_orders = (RepresentativeFactory(queues=[q]) for q in (billing, tech, orders))
    assert set(assignable_representatives(supervisor)) == {own}
    assert set(assignable_representatives(supervisor, target_queue=tech)) == {own, in_tech}
    assert set(assignable_representatives(AdminFactory())) == {own, in_tech, in_orders}
