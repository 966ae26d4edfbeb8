from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from conversations.models import Sender
from insights.models import SentimentCorrection
from insights.scoring.training import load_csv, load_split
from insights.services.corrections import (
    corrections_csv,
    corrections_export,
    corrections_list,
    level_to_training_label,
    sentiment_correction_create,
)
from tests.conversations.factories import (
    ConversationFactory,
    MessageFactory,
    QueueFactory,
    RepresentativeFactory,
    SupervisorFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def conv():
    queue = QueueFactory(name="Billing")
    rep = RepresentativeFactory(queues=[queue])
    return ConversationFactory(queue=queue, representative=rep)


def test_a_correction_stores_what_the_model_said(conv):
    msg = MessageFactory(
        conversation=conv, seq=1, text="Gracias, todo perfecto", sentiment_level=-1, language="es"
    )
    c = sentiment_correction_create(
        message=msg, staff=conv.representative, corrected_level=3, note="sarcasm? no"
    )
    assert (c.model_level, c.corrected_level, c.staff) == (-1, 3, conv.representative)


def test_only_customer_messages_and_valid_levels(conv):
    reply = MessageFactory(conversation=conv, seq=1, sender=Sender.REPRESENTATIVE)
    with pytest.raises(ValidationError):
        sentiment_correction_create(message=reply, staff=conv.representative, corrected_level=0)
    msg = MessageFactory(conversation=conv, seq=2)
    with pytest.raises(ValidationError):
        sentiment_correction_create(message=msg, staff=conv.representative, corrected_level=7)


def test_staff_who_cannot_see_the_conversation_cannot_correct_it(conv):
    msg = MessageFactory(conversation=conv, seq=1)
    with pytest.raises(PermissionDenied):
        sentiment_correction_create(
            message=msg, staff=SupervisorFactory(queues=[QueueFactory(name="Other")]), corrected_level=0
        )


def _corrected(conv):
    rep = conv.representative
    m1 = MessageFactory(
        conversation=conv, seq=1, text="¡Es una vergüenza!\nNadie responde", language="es", sentiment_level=0
    )
    m2 = MessageFactory(conversation=conv, seq=2, text="ok fine", language="en", sentiment_level=-2)
    m3 = MessageFactory(conversation=conv, seq=3, text="Super, merci", language="fr", sentiment_level=0)
    sentiment_correction_create(message=m1, staff=rep, corrected_level=-3)
    sentiment_correction_create(message=m2, staff=rep, corrected_level=1)
    sentiment_correction_create(message=m2, staff=rep, corrected_level=0)  # the latest wins
    sentiment_correction_create(message=m3, staff=rep, corrected_level=2)


def test_export_in_the_umsab_layout_reads_back_with_sentiment_train_loader(conv, tmp_path):
    _corrected(conv)
    assert corrections_export(out=tmp_path) == 3
    data = load_split(tmp_path, "train")
    assert {lang: [(e.text, e.label) for e in examples] for lang, examples in data.items()} == {
        "es": [("¡Es una vergüenza! Nadie responde", 0)],
        "en": [("ok fine", 1)],
        "fr": [("Super, merci", 2)],
    }


def test_export_as_csv_reads_back_with_sentiment_train_loader(conv, tmp_path):
    _corrected(conv)
    out = tmp_path / "corrections.csv"
    call_command("sentiment_corrections_export", "--out", str(out), "--format", "csv")
    assert sorted((e.text, e.label) for e in load_csv(out)) == [
        ("Super, merci", 2),
        ("ok fine", 1),
        ("¡Es una vergüenza! Nadie responde", 0),
    ]


def test_export_masks_personal_data_like_the_text_the_model_is_served(conv, tmp_path):
    rep = conv.representative
    message = MessageFactory(
        conversation=conv,
        seq=1,
        sender=Sender.CUSTOMER,
        language="en",
        text="My card 4111 1111 1111 1111 was charged twice, mail ana@example.com",
    )
    sentiment_correction_create(message=message, staff=rep, corrected_level=-2)
    out = tmp_path / "corrections.csv"
    call_command("sentiment_corrections_export", "--out", str(out), "--format", "csv")
    assert [(e.text, e.label) for e in load_csv(out)] == [
        ("My card [card] was charged twice, mail [email]", 0)
    ]


def test_an_opted_out_conversations_messages_cannot_be_corrected(conv):
    conv.scoring_opt_out = True
    conv.save(update_fields=["scoring_opt_out"])
    msg = MessageFactory(
        conversation=conv, seq=1, text="private words", scoring_status="skipped", sentiment_level=None
    )
    with pytest.raises(ValidationError, match="opted out"):
        sentiment_correction_create(message=msg, staff=conv.representative, corrected_level=-2)
    assert not SentimentCorrection.objects.exists()


def test_a_customer_who_opts_out_later_leaves_every_training_export(conv, tmp_path):
    _corrected(conv)
    other = ConversationFactory(queue=conv.queue, representative=conv.representative)
    kept = MessageFactory(conversation=other, seq=1, text="still here", language="en", sentiment_level=0)
    sentiment_correction_create(message=kept, staff=other.representative, corrected_level=1)
    type(conv).objects.filter(pk=conv.pk).update(scoring_opt_out=True)
    assert corrections_export(out=tmp_path) == 1
    assert {lang: [e.text for e in ex] for lang, ex in load_split(tmp_path, "train").items()} == {
        "en": ["still here"]
    }
    assert corrections_csv() == "text,label\nstill here,2\n"
    assert [c.message.text for c in corrections_list()] == ["still here"]


def test_training_labels_from_levels():
    assert [level_to_training_label(l) for l in (-3, -1, 0, 1, 3)] == [0, 0, 1, 2, 2]
