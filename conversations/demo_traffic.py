"""Demo traffic: realistic multilingual customer conversations played in several queues, with
representatives replying, so every view moves within seconds of starting the center.

Two drivers play the same scripts:

- :class:`HttpDriver` talks to a running server over its REST API (an integration key for the
  customer side and the replies, a signed-in admin session for assign/close). This is what
  ``./run.sh`` uses: with the embedded in-memory channel layer only the serving process can
  push events, so the traffic must enter through it.
- :class:`DirectDriver` calls the ingest/assignment services in this process (tests, or any
  setup whose channel layer is shared, i.e. Redis).
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from dataclasses import dataclass, field

from conversations.models import ONGOING_STATUSES, Queue, Role, Sender, StaffMember

logger = logging.getLogger(__name__)

C, R = Sender.CUSTOMER, Sender.REPRESENTATIVE


@dataclass(frozen=True)
class Script:
    language: str
    queue: str
    customer: str
    channel: str
    turns: tuple[tuple[str, str], ...]


SCRIPTS: tuple[Script, ...] = (
    Script(
        "es",
        "Billing",
        "María García",
        "chat",
        (
            (C, "Hola, me han cobrado dos veces la factura de este mes."),
            (R, "Hola María, lo siento mucho. Déjame revisar tu cuenta."),
            (C, "Llevo tres días esperando una respuesta y nadie me ayuda. Es una vergüenza."),
            (C, "¡Estoy harta! Quiero mi dinero de vuelta ahora mismo o me doy de baja."),
            (R, "Entiendo tu enfado. Ya he solicitado el reembolso del cargo duplicado."),
            (C, "Vale, gracias. Espero que esta vez sea verdad."),
            (C, "Perfecto, ya veo el reembolso. Muchas gracias por tu ayuda."),
        ),
    ),
    Script(
        "en",
        "Technical support",
        "John Smith",
        "chat",
        (
            (C, "Hi, my router keeps dropping the connection every few minutes."),
            (R, "Sorry to hear that! Could you restart it and tell me what the lights show?"),
            (C, "I've restarted it five times already. This is ridiculous."),
            (C, "I work from home and I've lost two meetings today because of your terrible service!"),
            (R, "I understand, that's really frustrating. I'm sending a replacement router today."),
            (C, "OK, that would help. Thank you."),
        ),
    ),
    Script(
        "fr",
        "Orders & delivery",
        "Chloé Martin",
        "chat",
        (
            (C, "Bonjour, ma commande devait arriver hier mais je n'ai rien reçu."),
            (R, "Bonjour Chloé, je vérifie le suivi tout de suite."),
            (C, "C'est la deuxième fois que ça arrive. Je suis vraiment déçue."),
            (R, "Le colis est au dépôt, il sera livré demain matin. Je vous offre la livraison."),
            (C, "Super, merci beaucoup, c'est très gentil !"),
        ),
    ),
    Script(
        "de",
        "Technical support",
        "Jonas Weber",
        "email",
        (
            (C, "Guten Tag, ich kann mich seit gestern nicht mehr in mein Konto einloggen."),
            (R, "Hallo Jonas, ich setze Ihr Passwort zurück und schicke Ihnen einen Link."),
            (C, "Der Link funktioniert nicht. Das ist wirklich ärgerlich."),
            (C, "Unmöglich! Ich warte seit Stunden und nichts funktioniert. Ganz schlechter Service."),
            (
                R,
                "Entschuldigung! Ich habe die Sperre manuell aufgehoben, bitte versuchen Sie es noch einmal.",
            ),
            (C, "Jetzt geht es. Danke schön."),
        ),
    ),
    Script(
        "it",
        "Orders & delivery",
        "Giulia Bianchi",
        "social",
        (
            (C, "Ciao, vorrei sapere quando arriva il mio ordine."),
            (R, "Ciao Giulia! Il tuo ordine è partito oggi e arriverà giovedì."),
            (C, "Perfetto, grazie mille! Siete sempre gentilissimi."),
            (C, "Posso anche cambiare l'indirizzo di consegna?"),
            (R, "Certo, l'ho aggiornato adesso."),
            (C, "Fantastico, grazie ancora!"),
        ),
    ),
    Script(
        "pt",
        "Billing",
        "Ana Souza",
        "chat",
        (
            (C, "Olá, a minha fatura veio com um valor errado."),
            (R, "Olá Ana, pode me dizer o número da fatura?"),
            (C, "Já enviei três vezes! Vocês não leem as mensagens? Estou muito irritada."),
            (C, "Isto é um absurdo, péssimo atendimento. Vou cancelar o contrato."),
            (R, "Peço desculpa. Corrigi a fatura e apliquei um desconto no próximo mês."),
            (C, "Obrigada, finalmente."),
        ),
    ),
    Script(
        "hi",
        "Technical support",
        "Aarav Sharma",
        "chat",
        (
            (C, "नमस्ते, मेरा इंटरनेट कल से काम नहीं कर रहा है।"),
            (R, "नमस्ते आरव, मैं आपकी लाइन की जांच कर रहा हूँ।"),
            (C, "यह बहुत बुरी सेवा है, मैं बहुत परेशान हूँ।"),
            (R, "असुविधा के लिए खेद है। तकनीशियन आज शाम आएगा।"),
            (C, "ठीक है, धन्यवाद। आपकी मदद के लिए शुक्रिया।"),
        ),
    ),
    Script(
        "ar",
        "Billing",
        "Layla Haddad",
        "sms",
        (
            (C, "مرحبا، تم خصم مبلغ من حسابي بدون سبب."),
            (R, "مرحبا ليلى، سأتحقق من ذلك الآن."),
            (C, "هذا غير مقبول أبدا، أنا غاضبة جدا من هذه الخدمة السيئة."),
            (R, "أعتذر عن ذلك. تم إلغاء الخصم وسيعود المبلغ خلال يومين."),
            (C, "شكرا جزيلا، أنا ممتنة لمساعدتك."),
        ),
    ),
    Script(
        "en",
        "Orders & delivery",
        "Emma Johnson",
        "chat",
        (
            (C, "Hello! Just wanted to say the package arrived early. Great job!"),
            (R, "That's wonderful to hear, Emma! Anything else I can help with?"),
            (C, "Yes, could I order the same item in blue?"),
            (R, "Of course, I've added it to your account with free shipping."),
            (C, "Amazing, thank you so much! Best customer service ever."),
        ),
    ),
    Script(
        "es",
        "Orders & delivery",
        "Carlos López",
        "social",
        (
            (C, "Buenas, el paquete llegó roto."),
            (R, "Lo siento mucho, Carlos. ¿Puedes enviarme una foto?"),
            (C, "Ya la envié. Es la tercera vez que pasa, estoy muy enfadado. ¡Qué desastre!"),
            (C, "No vuelvo a comprar aquí nunca más. Pésimo servicio."),
            (R, "Te enviamos uno nuevo hoy mismo y te devolvemos el envío."),
            (C, "Bueno, gracias."),
        ),
    ),
    Script(
        "fr",
        "Billing",
        "Lucas Bernard",
        "email",
        (
            (C, "Bonjour, je voudrais une copie de ma facture de mars."),
            (R, "Bonjour Lucas, je vous l'envoie par e-mail."),
            (C, "Merci, je l'ai bien reçue. Excellent service !"),
        ),
    ),
    Script(
        "de",
        "Orders & delivery",
        "Sophie Müller",
        "chat",
        (
            (C, "Hallo, wo ist meine Bestellung? Sie ist seit einer Woche überfällig."),
            (R, "Hallo Sophie, ich prüfe das sofort."),
            (C, "Das ist eine Frechheit. Ich bin extrem enttäuscht und wütend."),
            (R, "Es tut mir leid. Die Lieferung kommt morgen, und Sie bekommen einen Gutschein."),
            (C, "Na gut, vielen Dank."),
        ),
    ),
    Script(
        "it",
        "Technical support",
        "Marco Ferrari",
        "chat",
        (
            (C, "Buongiorno, l'app si blocca ogni volta che la apro."),
            (R, "Buongiorno Marco, quale versione del telefono usa?"),
            (C, "Non funziona niente, è una vergogna! Sono furioso, pago per un servizio inutile."),
            (R, "Mi dispiace. C'è un aggiornamento che risolve il problema: lo installi dallo store."),
            (C, "Adesso funziona, grazie."),
        ),
    ),
    Script(
        "pt",
        "Orders & delivery",
        "Pedro Alves",
        "chat",
        (
            (C, "Oi, recebi o produto hoje. Muito obrigado, chegou tudo perfeito!"),
            (R, "Que ótimo, Pedro! Obrigado pelo retorno."),
            (C, "Vocês são excelentes, recomendo a todos."),
        ),
    ),
)

CHANNEL_QUEUE_FALLBACK = "Billing"


# --------------------------------------------------------------------------- drivers


class DirectDriver:
    """Calls the pipeline's services in this process."""

    def create(self, *, queue: Queue, customer: str, channel: str) -> int:
        from conversations.services.ingest import conversation_create

        return conversation_create(queue=queue, customer_name=customer, channel=channel).pk

    def customer(self, conversation: int, text: str) -> None:
        from conversations.services.ingest import message_ingest

        message_ingest(conversation=conversation, text=text)

    def reply(self, conversation: int, rep: StaffMember | None, text: str) -> None:
        from conversations.services.ingest import representative_reply

        representative_reply(conversation=conversation, text=text, author=rep)

    def close(self, conversation: int) -> None:
        from conversations.services.assignment import conversation_close

        conversation_close(conversation=conversation)


class HttpDriver:
    """Plays through a running server's REST API (so its own process pushes the events)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        import httpx
        from django.conf import settings
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.sessions.backends.db import SessionStore

        from conversations.services.ingest import integration_token_create

        _token, key = integration_token_create(name=f"demo traffic {time.strftime('%Y-%m-%d %H:%M:%S')}")
        admin = StaffMember.objects.filter(role=Role.ADMIN).select_related("user").first()
        if admin is None:
            raise RuntimeError("demo traffic needs an admin staff member (run seed_demo)")
        session = SessionStore()
        session[SESSION_KEY] = str(admin.user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = admin.user.get_session_auth_hash()
        session.create()
        csrf = secrets.token_hex(16)  # an unmasked 32-character secret, same in cookie and header
        self.base = base_url.rstrip("/")
        self.warmed = False
        self.integration = httpx.Client(
            base_url=self.base, timeout=timeout, headers={"Authorization": f"Bearer {key}"}
        )
        self.staff = httpx.Client(
            base_url=self.base,
            timeout=timeout,
            cookies={settings.SESSION_COOKIE_NAME: session.session_key, settings.CSRF_COOKIE_NAME: csrf},
            headers={"X-CSRFToken": csrf, "Referer": self.base + "/"},
        )

    @staticmethod
    def _ok(response):
        if response.status_code >= 400:
            raise RuntimeError(
                f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:200]}"
            )
        return response.json()

    def create(self, *, queue: Queue, customer: str, channel: str) -> int:
        data = self._ok(
            self.integration.post(
                "/api/conversations/",
                json={"queue": queue.pk, "customer": {"name": customer}, "channel": channel},
            )
        )
        if not self.warmed:
            self._warm_up(data["chat_ws_path"])
        return int(data["id"])

    def _warm_up(self, path: str) -> None:
        """Open (and close) one customer socket first, so the server starts its scoring runtime
        from a consumer on its event loop before the first REST message arrives."""
        from websockets.sync.client import connect

        ws_base = "ws" + self.base[len("http") :]
        try:
            with connect(ws_base + path, origin=self.base, open_timeout=10):
                pass
            self.warmed = True
        except Exception as exc:  # scoring still starts with the first staff page
            logger.warning("demo traffic: could not open the chat socket %s: %s", path, exc)
            self.warmed = True

    def customer(self, conversation: int, text: str) -> None:
        self._ok(self.integration.post(f"/api/conversations/{conversation}/messages/", json={"text": text}))

    def reply(self, conversation: int, rep: StaffMember | None, text: str) -> None:
        body = {"text": text}
        if rep is not None:
            body["representative"] = rep.pk
        self._ok(self.integration.post(f"/api/conversations/{conversation}/replies/", json=body))

    def close(self, conversation: int) -> None:
        self._ok(self.staff.post(f"/api/conversations/{conversation}/close/", json={}))


# --------------------------------------------------------------------------- player


@dataclass
class Playing:
    script: Script
    conversation: int
    rep: StaffMember | None
    step: int = 0
    next_at: float = 0.0
    closing_at: float | None = None


@dataclass
class DemoTraffic:
    """Keeps ``concurrent`` conversations going; one action per ``1/rate`` seconds overall."""

    driver: object
    concurrent: int = 6
    rate: float = 1.5
    seed: int | None = None
    clock: object = time.monotonic
    sleep: object = time.sleep
    playing: list[Playing] = field(default_factory=list)
    stats: dict = field(
        default_factory=lambda: {"conversations": 0, "customer": 0, "replies": 0, "closed": 0, "errors": 0}
    )

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)
        self.deck: list[Script] = []

    def _next_script(self) -> Script:
        if not self.deck:
            self.deck = list(SCRIPTS)
            self.random.shuffle(self.deck)
        return self.deck.pop()

    def start_one(self, now: float) -> Playing | None:
        script = self._next_script()
        queue = Queue.objects.filter(name=script.queue).first() or Queue.objects.first()
        if queue is None:
            raise RuntimeError("no queues: run seed_demo first")
        conversation = self.driver.create(queue=queue, customer=script.customer, channel=script.channel)
        self.stats["conversations"] += 1
        # Queue routing gives it to a representative of the queue, now or when one has room.
        play = Playing(script, conversation, None, next_at=now)
        self.playing.append(play)
        return play

    def _act(self, play: Playing, now: float) -> None:
        if play.rep is None:
            play.rep = (
                StaffMember.objects.filter(conversations__pk=play.conversation).select_related("user").first()
            )
        if play.step >= len(play.script.turns):
            if play.closing_at is None:
                play.closing_at = now + self.random.uniform(2, 6)
            elif now >= play.closing_at:
                self.driver.close(play.conversation)
                self.stats["closed"] += 1
                self.playing.remove(play)
            return
        sender, text = play.script.turns[play.step]
        if sender == R and play.rep is None:
            play.next_at = now + 1.0  # waiting for a representative
            return
        if sender == C:
            self.driver.customer(play.conversation, text)
            self.stats["customer"] += 1
        else:
            self.driver.reply(play.conversation, play.rep, text)
            self.stats["replies"] += 1
        play.step += 1
        play.next_at = now + self.random.uniform(1.5, 5.0)

    def tick(self) -> None:
        now = self.clock()
        while len(self.playing) < self.concurrent:
            self.start_one(now)
        due = [p for p in self.playing if p.next_at <= now]
        if not due:
            return
        play = min(due, key=lambda p: p.next_at)
        try:
            self._act(play, now)
        except Exception as exc:  # keep playing: a closed or transferred conversation is normal
            self.stats["errors"] += 1
            logger.warning("demo traffic: %s; dropping conversation %s", exc, play.conversation)
            if play in self.playing:
                self.playing.remove(play)

    def close_leftovers(self, *, idle_seconds: float = 120.0) -> int:
        """Close demo conversations a previous run left open (same customer names, idle for a
        while), so a restart does not pile up sessions nobody plays any more."""
        import datetime as dt

        from django.db.models import Q as _Q
        from django.utils import timezone

        from conversations.models import Conversation

        cutoff = timezone.now() - dt.timedelta(seconds=idle_seconds)
        names = {script.customer for script in SCRIPTS}
        stale = Conversation.objects.filter(status__in=ONGOING_STATUSES, customer__name__in=names).filter(
            _Q(last_message_at__lt=cutoff) | _Q(last_message_at__isnull=True, created_at__lt=cutoff)
        )
        closed = 0
        for pk in stale.values_list("pk", flat=True):
            try:
                self.driver.close(pk)
                closed += 1
            except Exception as exc:  # already closed elsewhere, or not ours to close
                logger.warning("demo traffic: could not close leftover conversation %s: %s", pk, exc)
        return closed

    def run(self, *, duration: float = 0.0) -> dict:
        end = self.clock() + duration if duration else None
        interval = 1.0 / max(self.rate, 0.01)
        while end is None or self.clock() < end:
            self.tick()
            self.sleep(interval)
        return self.stats
