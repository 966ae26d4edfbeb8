import re

import pytest
from django.urls import reverse

from insights.models import SettingsAuditEntry
from insights.selectors import effective_thresholds, sentiment_settings_get
from tests.conversations.factories import AdminFactory, QueueFactory, RepresentativeFactory, SupervisorFactory

pytestmark = pytest.mark.django_db

PAGES = ["insights:home", "insights:sentiment", "insights:integrations"]


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_users_are_sent_to_the_login_page(client, page):
    response = client.get(reverse(page))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("factory", [RepresentativeFactory, SupervisorFactory])
def test_representatives_and_supervisors_are_refused(login, page, factory):
    assert login(factory()).get(reverse(page)).status_code == 403


def test_non_admins_cannot_post_settings_either(login):
    client = login(SupervisorFactory())
    response = client.post(reverse("insights:sentiment"), {"representative_threshold": "0"})
    assert response.status_code == 403
    assert sentiment_settings_get().representative_threshold == -1


def test_insights_page_shows_the_sentiment_analysis_section_with_manage(login):
    response = login(AdminFactory()).get(reverse("insights:home"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Sentiment analysis" in body
    assert reverse("insights:sentiment") in body and ">Manage<" in body


def test_settings_page_offers_the_spec_options(login):
    body = login(AdminFactory()).get(reverse("insights:sentiment")).content.decode()
    for text in [
        "Monitor real-time customer sentiment",
        "Show alerts when a customer&#x27;s sentiment decreases to or below",
        "Send notifications when a customer&#x27;s sentiment decreases to or below",
        "Don&#x27;t show alerts",
        "Don&#x27;t send notifications",
        "Slightly negative",
        "Very negative",
        ">Save<",
    ]:
        assert text in body, text


def _form(**overrides):
    data = {
        "monitoring_enabled": "on",
        "multilingual_enabled": "on",
        "base_language": "en",
        "representative_threshold": "-1",
        "supervisor_threshold": "-2",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_admin_saves_thresholds_sees_confirmation_and_audit(login):
    admin = AdminFactory()
    client = login(admin)
    response = client.post(
        reverse("insights:sentiment"),
        _form(representative_threshold="-3", monitoring_enabled=None),
        follow=True,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Sentiment analysis settings saved" in body
    saved = sentiment_settings_get()
    assert saved.representative_threshold == -3 and saved.monitoring_enabled is False
    assert SettingsAuditEntry.objects.count() == 2
    assert admin.user.username in body and "Very negative" in body  # the audit log is on the page


def test_invalid_threshold_shows_an_error_in_place_and_saves_nothing(login):
    response = login(AdminFactory()).post(reverse("insights:sentiment"), _form(representative_threshold="7"))
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert sentiment_settings_get().representative_threshold == -1
    assert not SettingsAuditEntry.objects.exists()


def test_admin_sets_a_queue_override_and_clears_it_back_to_inherit(login):
    client = login(AdminFactory())
    queue = QueueFactory()
    client.post(
        reverse("insights:queue_override"),
        {"queue": queue.pk, "representative_threshold": "-3", "supervisor_threshold": ""},
    )
    assert effective_thresholds(queue_id=queue.pk).representative == -3
    client.post(
        reverse("insights:queue_override"),
        {"queue": queue.pk, "representative_threshold": "", "supervisor_threshold": ""},
    )
    assert effective_thresholds(queue_id=queue.pk).representative_inherited


def test_queue_override_with_an_unknown_queue_is_refused_cleanly(login):
    response = login(AdminFactory()).post(
        reverse("insights:queue_override"), {"queue": 999999, "representative_threshold": "-1"}, follow=True
    )
    assert "Queue override not saved" in response.content.decode()


def test_base_language_is_one_of_the_supported_languages(login):
    client = login(AdminFactory())
    response = client.post(reverse("insights:sentiment"), _form(base_language="klingon"))
    assert response.status_code == 400
    assert sentiment_settings_get().base_language == "en"
    client.post(reverse("insights:sentiment"), _form(base_language="es", multilingual_enabled=None))
    saved = sentiment_settings_get()
    assert (saved.base_language, saved.multilingual_enabled) == ("es", False)


def test_settings_page_shows_what_each_threshold_catches_as_the_model_measured_it(login):
    from django.template.defaultfilters import floatformat

    from insights.scoring.weights_meta import read_head_meta

    reach = read_head_meta()["intensity_holdout"]["threshold_reach"]
    body = login(AdminFactory()).get(reverse("insights:sentiment")).content.decode()
    assert "What each threshold catches" in body and 'id="threshold-reach"' in body
    table = body[body.index('id="threshold-reach"') :]
    for label, threshold in (
        ("Slightly negative or lower", "-1"),
        ("Negative or lower", "-2"),
        ("Very negative<", "-3"),
    ):
        row = table[table.index(label) :].split("</tr>")[0]
        expected = [f"{floatformat(reach[threshold][grade], 0)}%" for grade in ("-3", "-2", "-1", "0")]
        assert re.findall(r"<td>([^<]*)</td>", row) == expected, (label, row)


def test_no_threshold_figures_for_another_model_or_weights_without_them(login, settings, monkeypatch):
    import insights.scoring.weights_meta as weights_meta

    client = login(AdminFactory())
    settings.SENTIMENT_MODEL = "cardiffnlp/twitter-xlm-roberta-base-sentiment"
    assert "What each threshold catches" not in client.get(reverse("insights:sentiment")).content.decode()
    settings.SENTIMENT_MODEL = "bundled"
    monkeypatch.setattr(weights_meta, "read_head_meta", lambda: {"temperature": 1.8})
    assert "What each threshold catches" not in client.get(reverse("insights:sentiment")).content.decode()


def test_the_integrations_page_lists_keys_with_their_scopes_never_the_key(login):
    from conversations.services.ingest import integration_token_create

    token, raw = integration_token_create(name="Helpdesk", scopes=["ingest", "read_sentiment"])
    body = login(AdminFactory()).get(reverse("insights:integrations")).content.decode()
    assert "Helpdesk" in body and "ingest, read_sentiment" in body and token.prefix in body
    assert raw not in body
    assert "/ws/integrations/events/" in body


def test_the_webhook_is_set_on_the_integrations_page_with_a_write_only_secret(login):
    client = login(AdminFactory())
    url = reverse("insights:integrations")
    saved = client.post(
        url,
        {
            "webhook_url": "https://hooks.example.com/sentiment",
            "new_secret": "whsec-1",
            "webhook_scored_messages": "on",
        },
    )
    assert saved.status_code == 302
    org = sentiment_settings_get()
    assert (org.webhook_url, org.webhook_secret, org.webhook_scored_messages) == (
        "https://hooks.example.com/sentiment",
        "whsec-1",
        True,
    )
    assert "whsec-1" not in client.get(url).content.decode()
    client.post(url, {"webhook_url": "https://hooks.example.com/v2", "new_secret": ""})
    org = sentiment_settings_get()
    assert (org.webhook_url, org.webhook_secret, org.webhook_scored_messages) == (
        "https://hooks.example.com/v2",
        "whsec-1",
        False,
    )
    audit = {e.field: e.new_value for e in SettingsAuditEntry.objects.all()}
    assert audit["Webhook signing secret"] == "(set)"
    refused = client.post(url, {"webhook_url": "https://hooks.example.com/v2", "clear_secret": "on"})
    assert refused.status_code == 400 and "needs a signing secret" in refused.content.decode()
    assert sentiment_settings_get().webhook_secret == "whsec-1"
    client.post(url, {"webhook_url": "", "clear_secret": "on"})
    assert (sentiment_settings_get().webhook_url, sentiment_settings_get().webhook_secret) == ("", "")
    bad = client.post(url, {"webhook_url": "not a url"})
    assert bad.status_code == 400


def test_a_test_event_is_sent_signed_and_its_delivery_shown(login):
    from tests.insights.webhook_receiver import SECRET, Receiver, configure_webhook

    receiver = Receiver()
    try:
        configure_webhook(receiver.url)
        client = login(AdminFactory())
        response = client.post(reverse("insights:webhook_test"), follow=True)
        body = response.content.decode()
        assert "Test event delivered: HTTP 204" in body and "sentiment.test" in body
        headers, raw = receiver.requests[0]
        from insights.services.webhooks import webhook_verify

        assert webhook_verify(secret=SECRET, header=headers["X-Sentiment-Signature"], body=raw)
    finally:
        receiver.close()


def test_the_integrations_page_links_to_each_installed_helpdesk_adapters_setup(login):
    body = login(AdminFactory()).get(reverse("insights:integrations")).content.decode()
    assert f'href="{reverse("chatwoot:setup")}"' in body


def test_the_settings_page_gives_every_field_a_unique_id(client):
    import re
    from collections import Counter

    from tests.conversations.factories import AdminFactory, QueueFactory

    QueueFactory(name="Billing")
    client.force_login(AdminFactory().user)
    body = client.get(reverse("insights:sentiment")).content.decode()
    ids = Counter(re.findall(r'\bid="([^"]+)"', body))
    assert not [i for i, n in ids.items() if n > 1]
    assert (
        'for="id_queue_representative_threshold"' in body and 'id="id_queue_representative_threshold"' in body
    )
