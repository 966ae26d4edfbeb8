"""REST endpoints: plain JSON Django views. The contract is ``docs/events.md``.

Two ways in, and every answer is JSON (never Django's HTML error pages):

- **Integrations** send ``Authorization: Bearer <key>`` (an ``IntegrationToken``; only its hash
  is stored). No cookies are involved, so no CSRF token either. Each endpoint names the scope
  it needs (``ingest``, ``manage``, ``read_sentiment``); a key without it gets
  ``403 insufficient_scope``.
- **Staff** use their signed-in session. CSRF is checked here (not by the middleware) so that
  a refusal is the documented ``403 csrf_failed`` JSON; not signed in is ``401``.

Close, assign and transfer take either: a request with ``Authorization: Bearer …`` is an
integration's (``manage``), any other a staff member's.
Every error is ``{"error": {"code": ..., "message": ...}}`` with a matching HTTP status.

The modules, outermost first:

- ``integrations``: the endpoints a channel integration calls with its key;
- ``staff``: the session endpoints (presence, notifications, snooze) and routing (assign,
  transfer, close), which integrations with ``manage`` may call too;
- ``auth``: who is calling (key and scope, or the staff gate of ``conversations.web``);
- ``refs``: reading the request (queues, staff and conversations named in it);
- ``answers``: the JSON each endpoint answers;
- ``errors``: the JSON error, the exceptions views raise for it, the method gate.
"""
