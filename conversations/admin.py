from django.contrib import admin

from conversations.models import Conversation, Customer, Message, Queue, StaffMember


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]


@admin.register(StaffMember)
class StaffMemberAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "role",
        "presence",
        "capacity",
        "external_id",
        "presence_changed_at",
        "last_routed_at",
    ]
    list_filter = ["role", "presence", "queues"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "user__email", "external_id"]
    filter_horizontal = ["queues"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "phone", "external_id", "created_at"]
    search_fields = ["name", "email", "external_id"]


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = [
        "seq",
        "sender",
        "text",
        "scoring_status",
        "language",
        "sentiment_level",
        "confidence",
        "created_at",
    ]
    readonly_fields = fields
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "customer",
        "queue",
        "channel",
        "representative",
        "status",
        "language",
        "sentiment_level",
        "sentiment_trend",
        "last_message_at",
    ]
    list_filter = ["status", "channel", "queue", "sentiment_level", "language", "scoring_opt_out"]
    search_fields = ["customer__name", "subject"]
    date_hierarchy = "created_at"
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "conversation",
        "seq",
        "sender",
        "scoring_status",
        "language",
        "sentiment_level",
        "confidence",
        "model_version",
        "created_at",
    ]
    list_filter = ["sender", "scoring_status", "sentiment_level", "language"]
    search_fields = ["text"]
