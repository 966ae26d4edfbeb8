"""The endpoints a channel integration calls with its key: create conversations, post and
read messages and replies, list queues, channels and staff."""

from __future__ import annotations

from django.http import JsonResponse

from conversations.api.answers import (
    conversation_created_json,
    conversation_detail_json,
    message_json,
    staff_json,
    stored_message_json,
)
from conversations.api.auth import integration_required, scope_refusal
from conversations.api.errors import BadRequest, handle_errors, json_body, methods
from conversations.api.refs import get_conversation, queue_ref, staff_ref
from conversations.models import Channel, IntegrationScope, Queue, Sender, StaffMember
from conversations.services.ingest import conversation_create, message_ingest, representative_reply
from sentiment_admin.inputs import clean_line, parse_int

MESSAGES_PAGE = 500


@integration_required(IntegrationScope.INGEST)
@methods("POST")
@handle_errors
def conversations_create(request):
    data = json_body(request)
    queue = queue_ref(data.get("queue"))
    if queue is None:
        raise BadRequest("invalid_queue", "'queue' must be an existing queue's id or name.")
    customer = data.get("customer") or {}
    if not isinstance(customer, dict):
        raise BadRequest("invalid", "'customer' must be an object with name, email, external_id.")
    opt_out = data.get("scoring_opt_out", data.get("opt_out", False))
    if not isinstance(opt_out, bool):
        raise BadRequest("invalid", "'scoring_opt_out' must be true or false.")
    # conversation_create offers a new conversation to the queue's next eligible representative
    # (conversations.services.queue_routing), as for the chat page.
    conversation = conversation_create(
        queue=queue,
        customer_name=clean_line(customer.get("name"), "customer.name", max_length=150),
        customer_email=clean_line(customer.get("email"), "customer.email", max_length=254),
        customer_external_id=clean_line(customer.get("external_id"), "customer.external_id", max_length=100),
        customer_phone=clean_line(customer.get("phone"), "customer.phone", max_length=40),
        channel=clean_line(data.get("channel") or "chat", "channel", max_length=20),
        subject=clean_line(data.get("subject"), "subject", max_length=200),
        scoring_opt_out=opt_out,
        external_id=data.get("external_id"),
    )
    return JsonResponse(
        conversation_created_json(request, conversation), status=200 if conversation.replayed else 201
    )


@integration_required(IntegrationScope.READ_SENTIMENT)
@methods("GET")
@handle_errors
def conversation_detail(request, conversation_id: int):
    return JsonResponse(conversation_detail_json(get_conversation(conversation_id)))


@integration_required(IntegrationScope.INGEST, IntegrationScope.READ_SENTIMENT)
@methods("GET", "POST")
@handle_errors
def conversation_messages(request, conversation_id: int):
    conversation = get_conversation(conversation_id)
    if request.method == "GET":
        after_seq = parse_int(request.GET.get("after_seq", "0"), "after_seq", minimum=0)
        messages = list(
            conversation.messages.filter(seq__gt=after_seq)
            .select_related("author__user")
            .order_by("seq")[:MESSAGES_PAGE]
        )
        sentiment = request.integration.has_scope(IntegrationScope.READ_SENTIMENT)
        return JsonResponse(
            {
                "conversation": conversation.pk,
                "messages": [message_json(m, sentiment=sentiment) for m in messages],
                # The cursor for the next call: the last message of this page, or (an empty
                # page) the conversation's last seq, never more than what exists.
                "last_seq": messages[-1].seq if messages else min(after_seq, conversation.last_seq),
                "more": len(messages) == MESSAGES_PAGE,
            }
        )
    refusal = scope_refusal(request.integration, (IntegrationScope.INGEST,))
    if refusal is not None:
        return refusal
    data = json_body(request)
    message = message_ingest(
        conversation=conversation.pk, text=data.get("text"), client_id=data.get("client_id")
    )
    return JsonResponse(stored_message_json(message, conversation), status=200 if message.replayed else 201)


@integration_required(IntegrationScope.INGEST)
@methods("POST")
@handle_errors
def conversation_replies(request, conversation_id: int):
    conversation = get_conversation(conversation_id)
    data = json_body(request)
    sender = data.get("sender") or Sender.REPRESENTATIVE
    if sender not in (Sender.REPRESENTATIVE, Sender.BOT, Sender.SYSTEM):
        raise BadRequest("invalid_sender", "'sender' is representative, bot or system.")
    author = None
    if sender == Sender.REPRESENTATIVE:
        author = conversation.representative
        if data.get("representative") is not None:
            named = staff_ref(data["representative"])
            if named is None or named.pk != conversation.representative_id:
                raise BadRequest(
                    "invalid_representative",
                    "'representative' must be the conversation's assigned representative (assign it first).",
                )
    elif data.get("representative") is not None:
        raise BadRequest("invalid", "'representative' goes with sender 'representative' only.")
    message = representative_reply(
        conversation=conversation.pk,
        text=data.get("text"),
        author=author,
        sender=sender,
        client_id=data.get("client_id"),
    )
    return JsonResponse(
        stored_message_json(message, conversation, reply=True), status=200 if message.replayed else 201
    )


@integration_required(IntegrationScope.INGEST, IntegrationScope.MANAGE)
@methods("GET")
@handle_errors
def queues_list(request):
    return JsonResponse(
        {
            "queues": [
                {"id": q.pk, "name": q.name, "description": q.description}
                for q in Queue.objects.order_by("name")
            ]
        }
    )


@integration_required(IntegrationScope.INGEST, IntegrationScope.MANAGE)
@methods("GET")
@handle_errors
def channels_list(request):
    return JsonResponse(
        {"channels": [{"id": value, "label": str(label)} for value, label in Channel.choices]}
    )


@integration_required(IntegrationScope.MANAGE)
@methods("GET")
@handle_errors
def staff_list(request):
    members = (
        StaffMember.objects.select_related("user").prefetch_related("queues").filter(user__is_active=True)
    )
    return JsonResponse(
        {
            "staff": [
                {
                    **staff_json(m),
                    "role": m.role,
                    "presence": m.presence,
                    "queues": sorted(q.pk for q in m.queues.all()),
                }
                for m in members.order_by("pk")
            ]
        }
    )
