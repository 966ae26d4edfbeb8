from __future__ import annotations

import pytest
from django.urls import reverse

from conversations.models import ConversationStatus, Presence, Sender
from insights.levels import SentimentLevel, level_slug
from insights.models import SentimentCorrection
from tests.conversations.factories import (
    AdminFactory,
    ConversationFactory,
    MessageFactory,
    QueueFactory,
    RepresentativeFactory,
    SupervisorFactory,
)

pytestmark = pytest.mark.django_db

XSS = '<script>window.pwned=1</script><img src=x onerror="alert(1)">'


@pytest.fixture
def setup():
    billing, tech = QueueFactory(name="Billing"), QueueFactory(name="Tech")
    rep = RepresentativeFactory(queues=[billing])
    other_rep = RepresentativeFactory(queues=[tech])
    sup = SupervisorFactory(queues=[billing])
    conv = ConversationFactory(
        queue=billing, representative=rep, sentiment_level=-2, sentiment_trend="falling"
    )
    other = ConversationFactory(queue=tech, representative=other_rep)
    return {
        "billing": billing,
        "tech": tech,
        "rep": rep,
        "other_rep": other_rep,
        "sup": sup,
        "conv": conv,
        "other": other,
    }


def test_workspace_shows_a_session_tab_per_assigned_ongoing_conversation(login, setup):
    second = ConversationFactory(queue=setup["billing"], representative=setup["rep"])
    ConversationFactory(queue=setup["billing"], representative=setup["rep"], status=ConversationStatus.CLOSED)
    body = login(setup["rep"]).get(reverse("conversations:workspace")).content.decode()
    assert body.count('role="tab"') == 2
    assert f'id="tab-{setup["conv"].pk}"' in body and f'id="tab-{second.pk}"' in body
    assert f'id="tab-{setup["other"].pk}"' not in body
    # The focused panel shows the sentiment with icon, label and trend, not colour alone.
    assert 'data-level="negative"' in body and "Negative" in body and "trend Falling" in body
    assert 'id="presence-select"' in body


def test_workspace_focus_follows_the_query_parameter(login, setup):
    second = ConversationFactory(queue=setup["billing"], representative=setup["rep"])
    body = login(setup["rep"]).get(reverse("conversations:workspace") + f"?c={second.pk}").content.decode()
    assert (
        f'id="tab-{second.pk}" data-conversation="{second.pk}"\n              aria-controls="panel-{second.pk}" aria-selected="true"'
        in body
    )


def test_customer_text_is_escaped_everywhere(login, setup):
    MessageFactory(conversation=setup["conv"], seq=1, text=XSS, sender=Sender.CUSTOMER)
    setup["conv"].customer.name = XSS
    setup["conv"].customer.save()
    pages = [
        (setup["rep"], reverse("conversations:workspace")),
        (setup["sup"], reverse("conversations:ongoing")),
        (setup["sup"], reverse("conversations:monitor", args=[setup["conv"].pk])),
    ]
    for staff, url in pages:
        body = login(staff).get(url).content.decode()
        assert "<script>window.pwned" not in body, url
        assert "&lt;script&gt;" in body, url


def test_ongoing_report_lists_only_the_supervisors_queues(login, setup):
    body = login(setup["sup"]).get(reverse("conversations:ongoing")).content.decode()
    assert f'data-conversation="{setup["conv"].pk}"' in body
    assert f'data-conversation="{setup["other"].pk}"' not in body


def test_admin_sees_every_queue_in_the_ongoing_report(login, setup):
    body = login(AdminFactory()).get(reverse("conversations:ongoing")).content.decode()
    assert f'<tr data-conversation="{setup["conv"].pk}"' in body
    assert f'<tr data-conversation="{setup["other"].pk}"' in body


def test_ongoing_filters_by_sentiment_and_sorts_most_negative_first(login, setup):
    calm = ConversationFactory(queue=setup["billing"], sentiment_level=1)
    worst = ConversationFactory(queue=setup["billing"], sentiment_level=-3)
    client = login(setup["sup"])
    body = client.get(reverse("conversations:ongoing") + "?sentiment=slightly_negative").content.decode()
    assert f'<tr data-conversation="{calm.pk}"' not in body
    assert f'<tr data-conversation="{worst.pk}"' in body
    body = client.get(reverse("conversations:ongoing") + "?sort=sentiment").content.decode()
    assert (
        body.index(f'<tr data-conversation="{worst.pk}"')
        < body.index(f'<tr data-conversation="{setup["conv"].pk}"')
        < body.index(f'<tr data-conversation="{calm.pk}"')
    )


def test_ongoing_sentiment_filters_are_named_after_the_level_they_start_at(login, setup):
    slightly = ConversationFactory(queue=setup["billing"], sentiment_level=-1)
    negative = ConversationFactory(queue=setup["billing"], sentiment_level=-2)
    unscored = ConversationFactory(queue=setup["billing"], sentiment_level=None)
    client = login(setup["sup"])

    def shown(key):
        body = client.get(reverse("conversations:ongoing") + f"?sentiment={key}").content.decode()
        return {c for c in (slightly, negative, unscored) if f'<tr data-conversation="{c.pk}"' in body}

    assert shown(level_slug(-2)) == {negative}  # "negative": Negative or lower
    assert shown(level_slug(-1)) == {slightly, negative}
    assert shown(level_slug(None)) == {unscored}
    body = client.get(reverse("conversations:ongoing")).content.decode()
    assert '<option value="negative" data-lowest="" data-highest="-2"' in body
    assert ">Negative or lower</option>" in body


def test_representatives_cannot_open_the_supervisor_pages(login, setup):
    client = login(setup["rep"])
    assert client.get(reverse("conversations:ongoing")).status_code == 403
    assert client.get(reverse("insights:dashboard")).status_code == 403
    assert client.get(reverse("conversations:route", args=[setup["conv"].pk])).status_code == 403


def test_monitor_is_scoped_to_the_viewers_conversations(login, setup):
    client = login(setup["sup"])
    assert client.get(reverse("conversations:monitor", args=[setup["conv"].pk])).status_code == 200
    assert client.get(reverse("conversations:monitor", args=[setup["other"].pk])).status_code == 404


def test_monitor_highlights_the_messages_that_drove_the_drop(login, setup):
    conv = setup["conv"]
    MessageFactory(conversation=conv, seq=1, text="Hi", sentiment_level=0, scoring_status="scored")
    MessageFactory(
        conversation=conv, seq=2, text="Still waiting", sentiment_level=-1, scoring_status="scored"
    )
    MessageFactory(conversation=conv, seq=3, text="Thanks", sender=Sender.REPRESENTATIVE)
    MessageFactory(
        conversation=conv, seq=4, text="This is useless!", sentiment_level=-3, scoring_status="scored"
    )
    body = login(setup["sup"]).get(reverse("conversations:monitor", args=[conv.pk])).content.decode()
    assert 'class="msg msg-customer drove-drop" data-seq="2"' in body
    assert 'class="msg msg-customer drove-drop" data-seq="4"' in body
    assert 'class="msg msg-customer" data-seq="1"' in body


def test_monitor_shows_that_the_customer_opted_out_and_their_messages_were_not_analysed(login, setup):
    conv = ConversationFactory(queue=setup["billing"], representative=setup["rep"], scoring_opt_out=True)
    MessageFactory(conversation=conv, seq=1, text="Please do not analyse me", scoring_status="skipped")
    body = login(setup["sup"]).get(reverse("conversations:monitor", args=[conv.pk])).content.decode()
    assert "The customer opted out of sentiment analysis" in body
    assert "Not analysed" in body


def test_assign_moves_the_conversation_to_the_chosen_representative(login, setup):
    conv = ConversationFactory(queue=setup["billing"], status=ConversationStatus.OPEN)
    rep2 = RepresentativeFactory(queues=[setup["billing"]])
    response = login(setup["sup"]).post(
        reverse("conversations:assign", args=[conv.pk]), {"representative": rep2.pk}
    )
    assert response.status_code == 302
    conv.refresh_from_db()
    assert conv.representative == rep2 and conv.status == ConversationStatus.ACTIVE


def test_assign_refuses_a_representative_outside_the_supervisors_queues(login, setup):
    conv = setup["conv"]
    login(setup["sup"]).post(
        reverse("conversations:assign", args=[conv.pk]), {"representative": setup["other_rep"].pk}
    )
    conv.refresh_from_db()
    assert conv.representative == setup["rep"]


def test_transfer_to_a_queue_leaves_the_conversation_waiting_there_when_nobody_is_available(login, setup):
    sup = SupervisorFactory(queues=[setup["billing"], setup["tech"]])
    setup["other_rep"].presence = Presence.AWAY
    setup["other_rep"].save()
    conv = setup["conv"]
    response = login(sup).post(reverse("conversations:transfer", args=[conv.pk]), {"queue": setup["tech"].pk})
    assert response.status_code == 302
    conv.refresh_from_db()
    assert conv.queue == setup["tech"] and conv.representative is None


def test_transfer_to_a_queue_offers_the_conversation_to_its_available_representative(login, setup):
    sup = SupervisorFactory(queues=[setup["billing"], setup["tech"]])
    conv = setup["conv"]
    login(sup).post(reverse("conversations:transfer", args=[conv.pk]), {"queue": setup["tech"].pk})
    conv.refresh_from_db()
    assert conv.queue == setup["tech"] and conv.representative == setup["other_rep"]


def test_transfer_to_a_representative(login, setup):
    rep2 = RepresentativeFactory(queues=[setup["billing"]])
    conv = setup["conv"]
    login(setup["sup"]).post(reverse("conversations:transfer", args=[conv.pk]), {"representative": rep2.pk})
    conv.refresh_from_db()
    assert conv.representative == rep2


def test_a_representative_corrects_a_message_in_their_conversation(login, setup):
    msg = MessageFactory(
        conversation=setup["conv"],
        seq=1,
        text="Great, thanks a lot!!",
        sentiment_level=-2,
        scoring_status="scored",
    )
    response = login(setup["rep"]).post(
        reverse("insights:correct", args=[setup["conv"].pk, 1]),
        {"level": "2"},
        HTTP_ACCEPT="application/json",
    )
    assert response.json()["ok"] is True
    correction = SentimentCorrection.objects.get()
    assert (correction.message, correction.model_level, correction.corrected_level) == (msg, -2, 2)


def test_corrections_of_someone_elses_conversation_are_refused(login, setup):
    MessageFactory(conversation=setup["other"], seq=1, sentiment_level=0)
    response = login(setup["rep"]).post(
        reverse("insights:correct", args=[setup["other"].pk, 1]), {"level": "2"}
    )
    assert response.status_code == 404
    assert not SentimentCorrection.objects.exists()


def test_corrections_list_is_for_admins(login, setup):
    msg = MessageFactory(conversation=setup["conv"], seq=1, text="meh", sentiment_level=0)
    SentimentCorrection.objects.create(message=msg, staff=setup["rep"], model_level=0, corrected_level=-1)
    assert login(setup["sup"]).get(reverse("insights:corrections")).status_code == 403
    client = login(AdminFactory())
    assert "meh" in client.get(reverse("insights:corrections")).content.decode()
    csv_body = client.get(reverse("insights:corrections") + "?format=csv").content.decode()
    assert csv_body.splitlines() == ["text,label", "meh,0"]


def test_presence_form_fallback(login, setup):
    login(setup["sup"]).post(
        reverse("conversations:presence"), {"presence": Presence.AWAY, "next": "/ongoing/"}
    )
    setup["sup"].refresh_from_db()
    assert setup["sup"].presence == Presence.AWAY


def test_chat_start_opens_a_conversation_and_the_chat_page(client, setup):
    response = client.post(
        reverse("conversations:chat_start"), {"name": "Lucía", "queue": setup["billing"].pk}
    )
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200 and "Lucía" in page.content.decode()
    # The customer never sees sentiment.
    assert "sentiment" not in page.content.decode().split('id="chat"')[1].split("</section>")[0].replace(
        "analysed", ""
    )


def test_chat_page_says_waiting_with_the_place_in_the_queue_then_the_agent_then_the_end(client, setup):
    from conversations.services.assignment import conversation_assign, conversation_close
    from conversations.services.ingest import conversation_create

    setup["rep"].presence = Presence.AWAY
    setup["rep"].save()
    conversation_create(queue=setup["billing"], customer_name="Ahead")
    conv = conversation_create(queue=setup["billing"], customer_name="Lucía")
    url = reverse("conversations:chat", args=[conv.customer_token])
    assert "Waiting for an agent. You are number 2 in the queue." in client.get(url).content.decode()

    setup["rep"].user.first_name = "Rita"
    setup["rep"].user.save()
    conversation_assign(conversation=conv, representative=setup["rep"])
    assert "You are chatting with Rita." in client.get(url).content.decode()

    conversation_close(conversation=conv)
    body = client.get(url).content.decode()
    assert "This conversation has ended." in body
    assert 'id="chat-text" name="text" rows="2" maxlength="4000" required disabled' in body


def test_take_next_gives_the_representative_the_oldest_waiting_conversation(login, setup):
    from conversations.models import Conversation

    setup["rep"].presence = Presence.AWAY
    setup["rep"].save()
    waiting = ConversationFactory(queue=setup["billing"], representative=None, status=ConversationStatus.OPEN)
    response = login(setup["rep"]).post(reverse("conversations:take_next"))
    assert response.status_code == 302 and response["Location"].endswith(f"?c={waiting.pk}")
    assert Conversation.objects.get(pk=waiting.pk).representative == setup["rep"]
    again = login(setup["rep"]).post(reverse("conversations:take_next"), follow=True)
    assert "No conversation is waiting in your queues." in again.content.decode()


def test_chat_page_with_a_bad_token_is_404(client):
    assert client.get(reverse("conversations:chat", args=["nope"])).status_code == 404


def test_dashboard_renders_with_caveat_and_export(login, setup):
    setup["conv"].status = ConversationStatus.CLOSED
    setup["conv"].start_sentiment_level = SentimentLevel.NEUTRAL
    setup["conv"].save()
    client = login(setup["sup"])
    body = client.get(reverse("insights:dashboard")).content.decode()
    assert "Not for decisions about employment" in body
    assert "chart.umd.min.js" in body and 'id="chart-data"' in body
    export = client.get(reverse("insights:dashboard_export"))
    assert export["Content-Type"].startswith("text/csv")
    assert str(setup["conv"].pk) in export.content.decode()
    assert str(setup["other"].pk) not in [line.split(",")[0] for line in export.content.decode().splitlines()]


def test_home_sends_each_role_to_its_screen(login, setup):
    assert login(setup["rep"]).get("/")["Location"] == reverse("conversations:workspace")
    assert login(setup["sup"]).get("/")["Location"] == reverse("conversations:ongoing")


def test_transfer_refuses_a_representative_outside_the_supervisors_and_target_queues(login, setup):
    outsider_queue = QueueFactory(name="Elsewhere")
    outsider = RepresentativeFactory(queues=[outsider_queue])
    conv = setup["conv"]
    login(setup["sup"]).post(
        reverse("conversations:transfer", args=[conv.pk]), {"representative": outsider.pk}
    )
    conv.refresh_from_db()
    assert conv.representative == setup["rep"]


def test_a_supervisor_can_transfer_to_another_departments_queue(login, setup):
    conv = setup["conv"]
    client = login(setup["sup"])
    client.post(reverse("conversations:transfer", args=[conv.pk]), {"queue": setup["tech"].pk})
    conv.refresh_from_db()
    assert conv.queue == setup["tech"] and conv.representative == setup["other_rep"]
    # It has left the supervisor's queues, so it is no longer theirs to monitor.
    assert client.get(reverse("conversations:monitor", args=[conv.pk])).status_code == 404


def test_next_never_redirects_off_site(login, setup):
    response = login(setup["sup"]).post(
        reverse("conversations:presence"), {"presence": Presence.BUSY, "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("conversations:ongoing")
    response = login(setup["sup"]).post(
        reverse("conversations:presence"), {"presence": Presence.BUSY, "next": "/ongoing/?queue=1"}
    )
    assert response["Location"] == "/ongoing/?queue=1"


@pytest.mark.parametrize(
    "who, page",
    [
        ("sup", "insights:dashboard"),
        ("sup", "monitor"),
        ("sup", "route"),
        ("admin", "insights:home"),
        ("admin", "insights:corrections"),
        ("rep", "monitor"),
    ],
)
def test_every_staff_page_keeps_the_staff_connection_with_presence_and_toasts(login, setup, who, page):
    staff = AdminFactory() if who == "admin" else setup[who]
    staff.presence = Presence.BUSY
    staff.save()
    if page in ("monitor", "route"):
        url = reverse(f"conversations:{page}", args=[setup["conv"].pk])
    else:
        url = reverse(page)
    body = login(staff).get(url).content.decode()
    assert 'id="staff-bar"' in body and 'src="/static/js/staff.js"' in body
    assert 'id="presence-select"' in body and '<option value="busy" selected>' in body
    assert 'id="staff-conn"' in body and 'id="staff-toasts"' in body


@pytest.mark.parametrize("who, page", [("rep", "conversations:workspace"), ("sup", "conversations:ongoing")])
def test_the_live_pages_run_their_own_staff_connection_only(login, setup, who, page):
    body = login(setup[who]).get(reverse(page)).content.decode()
    assert "js/staff.js" not in body and 'id="staff-bar"' not in body
    assert body.count('id="presence-select"') == 1


def test_the_customer_chat_page_opens_no_staff_connection_even_for_signed_in_staff(login, setup):
    body = (
        login(setup["sup"])
        .get(reverse("conversations:chat", args=[setup["conv"].customer_token]))
        .content.decode()
    )
    assert "js/staff.js" not in body and 'id="presence-select"' not in body


def test_the_pages_name_languages_instead_of_showing_codes(login, setup):
    setup["conv"].language = "sr-Latn"
    setup["conv"].save()
    MessageFactory(
        conversation=setup["conv"],
        seq=1,
        sender=Sender.CUSTOMER,
        language="pt",
        confidence=0.9,
        sentiment_level=1,
        scoring_status="scored",
    )
    report = login(setup["sup"]).get(reverse("conversations:ongoing")).content.decode()
    assert '<td class="col-language" data-label="Language">Serbian (Latin)</td>' in report
    monitor = (
        login(setup["sup"]).get(reverse("conversations:monitor", args=[setup["conv"].pk])).content.decode()
    )
    assert "· Serbian (Latin)" in monitor and "· Portuguese" in monitor


@pytest.mark.parametrize(
    "who, page",
    [
        ("rep", "conversations:workspace"),
        ("sup", "conversations:ongoing"),
        ("sup", "insights:dashboard"),
        ("sup", "monitor"),
    ],
)
def test_while_monitoring_is_off_every_staff_page_says_so_and_marks_levels_stale(login, setup, who, page):
    from insights.selectors import sentiment_settings_get

    url = reverse("conversations:monitor", args=[setup["conv"].pk]) if page == "monitor" else reverse(page)
    body = login(setup[who]).get(url).content.decode()
    assert (
        'data-monitoring="on"' in body
        and 'id="monitoring-off" class="monitoring-off" role="status" hidden' in body
    )
    org = sentiment_settings_get()
    org.monitoring_enabled = False
    org.save()
    body = login(setup[who]).get(url).content.decode()
    assert 'data-monitoring="off"' in body
    assert (
        'id="monitoring-off" class="monitoring-off" role="status"><strong>Sentiment monitoring is off.'
        in body
    )


def test_the_ongoing_report_shows_the_unacknowledged_notifications_on_load(login, setup):
    from django.utils import timezone

    from insights.models import AlertAudience, AlertKind, NotificationRecipient, SentimentAlert

    waiting, done = (
        SentimentAlert.objects.create(
            conversation=c,
            audience=AlertAudience.SUPERVISOR,
            kind=AlertKind.THRESHOLD,
            level=-2,
            threshold=-1,
        )
        for c in (setup["conv"], ConversationFactory(queue=setup["billing"]))
    )
    unacknowledged = NotificationRecipient.objects.create(alert=waiting, staff=setup["sup"])
    acknowledged = NotificationRecipient.objects.create(
        alert=done, staff=setup["sup"], acknowledged_at=timezone.now()
    )
    body = login(setup["sup"]).get(reverse("conversations:ongoing")).content.decode()
    assert f'data-notification="{unacknowledged.pk}"' in body
    assert f'data-notification="{acknowledged.pk}"' not in body
    assert '<p class="hint no-notifications" hidden>' in body


def test_a_403_page_has_the_site_layout_and_a_way_back(login, setup):
    response = login(setup["rep"]).get(reverse("conversations:ongoing"))
    body = response.content.decode()
    assert response.status_code == 403
    assert 'class="topbar"' in body and "This page is not part of your role" in body
    assert f'href="{reverse("home")}"' in body


def _notify(conversation, staff, *, created_at=None):
    from insights.models import AlertAudience, AlertKind, NotificationRecipient, SentimentAlert

    alert = SentimentAlert.objects.create(
        conversation=conversation,
        audience=AlertAudience.SUPERVISOR,
        kind=AlertKind.THRESHOLD,
        level=-2,
        threshold=-1,
    )
    if created_at is not None:
        SentimentAlert.objects.filter(pk=alert.pk).update(created_at=created_at)
    return NotificationRecipient.objects.create(alert=alert, staff=staff)


def test_a_notification_of_an_earlier_day_shows_its_date_and_one_of_today_its_time(login, setup):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.localtime()
    yesterday = now - timedelta(days=1)
    _notify(setup["conv"], setup["sup"], created_at=yesterday)
    _notify(ConversationFactory(queue=setup["billing"]), setup["sup"], created_at=now)
    body = login(setup["sup"]).get(reverse("conversations:ongoing")).content.decode()
    assert f">{yesterday:%-d %b %H:%M}</time>" in body
    assert f">{now:%H:%M:%S}</time>" in body


def test_a_snoozed_conversation_says_until_when_in_its_notification_and_its_row(login, setup):
    from datetime import timedelta

    from django.utils import timezone

    from insights.models import ConversationSnooze

    until = timezone.localtime() + timedelta(minutes=30)
    _notify(setup["conv"], setup["sup"])
    ConversationSnooze.objects.create(conversation=setup["conv"], staff=setup["sup"], until=until)
    body = login(setup["sup"]).get(reverse("conversations:ongoing")).content.decode()
    assert f'<p class="snoozed">Snoozed until <time datetime="{until:%Y-%m-%dT%H:%M:%S}' in body
    assert f'snoozed until <time datetime="{until:%Y-%m-%dT%H:%M:%S}' in body


def test_a_snooze_that_has_run_out_is_not_shown(login, setup):
    from datetime import timedelta

    from django.utils import timezone

    from insights.models import ConversationSnooze

    _notify(setup["conv"], setup["sup"])
    ConversationSnooze.objects.create(
        conversation=setup["conv"], staff=setup["sup"], until=timezone.now() - timedelta(minutes=1)
    )
    body = login(setup["sup"]).get(reverse("conversations:ongoing")).content.decode()
    assert '<p class="snoozed">' not in body


def test_customers_of_the_same_name_are_told_apart_by_their_reference(login, setup):
    from conversations.models import Customer

    first = Customer.objects.create(name="Ana Silva", external_id="CRM-00014821")
    second = Customer.objects.create(name="Ana Silva")
    for customer in (first, second):
        _notify(ConversationFactory(queue=setup["billing"], customer=customer), setup["sup"])
    body = login(setup["sup"]).get(reverse("conversations:ongoing")).content.decode()
    assert '<strong>Ana Silva</strong> <span class="customer-ref">(ref 4821)</span>' in body
    assert f'<strong>Ana Silva</strong> <span class="customer-ref">(ref {second.pk})</span>' in body
    assert 'Acknowledge<span class="visually-hidden"> the alert about Ana Silva (ref 4821)</span>' in body


@pytest.mark.parametrize("page", ["workspace", "monitor"])
def test_the_panel_explains_the_confidence_figure_in_plain_words(login, setup, page):
    MessageFactory(
        conversation=setup["conv"],
        sender=Sender.CUSTOMER,
        sentiment_level=-2,
        confidence=0.53,
        scoring_status="scored",
    )
    url = (
        reverse("conversations:workspace")
        if page == "workspace"
        else reverse("conversations:monitor", args=[setup["conv"].pk])
    )
    body = login(setup["rep"]).get(url).content.decode()
    assert '<span class="confidence hint">53% sure' in body
    assert "how sure</strong> the model was of its tone" in body
