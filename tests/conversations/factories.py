from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from conversations.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    Presence,
    Queue,
    Role,
    Sender,
    StaffMember,
)
from conversations.services.staff import staff_role_set

PASSWORD = "test-pass-123"


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Queue {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffFactory(factory.django.DjangoModelFactory):
    """A staff member whose Django groups match the role, like the real staff_create."""

    class Meta:
        model = StaffMember
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    role = Role.REPRESENTATIVE
    presence = Presence.AVAILABLE

    @factory.post_generation
    def queues(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.queues.set(extracted)

    @factory.post_generation
    def groups(obj, create, extracted, **kwargs):
        if create:
            staff_role_set(staff=obj, role=obj.role)


class RepresentativeFactory(StaffFactory):
    role = Role.REPRESENTATIVE


class SupervisorFactory(StaffFactory):
    role = Role.SUPERVISOR


class AdminFactory(StaffFactory):
    role = Role.ADMIN


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Faker("name")
    email = factory.Faker("email")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    queue = factory.SubFactory(QueueFactory)
    customer = factory.SubFactory(CustomerFactory)
    channel = Channel.CHAT
    status = ConversationStatus.ACTIVE


class MessageFactory(factory.django.DjangoModelFactory):
    """Builds a stored message directly; the ingest service is what assigns real sequence numbers."""

    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    seq = factory.Sequence(lambda n: n + 1)
    sender = Sender.CUSTOMER
    text = "Hello"
