from django.contrib import admin

from insights.chatwoot.models import ChatwootCall, ChatwootConnection, ChatwootDelivery, ChatwootUnknownAgent


@admin.register(ChatwootConnection)
class ChatwootConnectionAdmin(admin.ModelAdmin):
    list_display = ["name", "base_url", "account_id", "default_queue", "active"]
    readonly_fields = ["endpoint_secret"]


@admin.register(ChatwootUnknownAgent)
class ChatwootUnknownAgentAdmin(admin.ModelAdmin):
    list_display = ["connection", "agent_id", "email", "name", "last_seen"]


@admin.register(ChatwootCall)
class ChatwootCallAdmin(admin.ModelAdmin):
    list_display = [
        "connection",
        "chatwoot_conversation",
        "kind",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
    ]
    list_filter = ["status", "kind"]


@admin.register(ChatwootDelivery)
class ChatwootDeliveryAdmin(admin.ModelAdmin):
    list_display = ["connection", "event", "outcome", "received_at"]
