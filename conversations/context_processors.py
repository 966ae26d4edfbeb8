from conversations.models import Presence
from conversations.selectors import staff_for_user, user_is_admin
from insights import for_conversations


def staff(request):
    user = getattr(request, "user", None)
    member = staff_for_user(user) if user is not None else None
    return {
        "staff_member": member,
        "is_insights_admin": user_is_admin(user) if user else False,
        "presence_choices": Presence.choices,  # the presence selector every staff page shows
        # Every staff page says when monitoring is off, and marks the levels it shows as stale.
        "monitoring_enabled": for_conversations.sentiment_settings_get().monitoring_enabled
        if member
        else True,
    }
