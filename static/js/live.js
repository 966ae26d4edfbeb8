// Shared helpers for the live pages: a reconnecting websocket with per-conversation catch-up,
// sentiment badges (icon + label + trend arrow, never colour alone) and transcript rendering.
// Every piece of customer or staff text goes through textContent, never innerHTML.

export const LEVEL_ICONS = {
  very_negative: "▼▼▼", negative: "▼▼", slightly_negative: "▼", neutral: "●",
  slightly_positive: "▲", positive: "▲▲", very_positive: "▲▲▲", not_scored: "○",
};
export const LEVEL_LABELS = {
  very_negative: "Very negative", negative: "Negative", slightly_negative: "Slightly negative",
  neutral: "Neutral", slightly_positive: "Slightly positive", positive: "Positive",
  very_positive: "Very positive", not_scored: "Not scored",
};
const SLUG_BY_VALUE = {"-3": "very_negative", "-2": "negative", "-1": "slightly_negative", "0": "neutral",
  "1": "slightly_positive", "2": "positive", "3": "very_positive"};
export const TREND_ARROWS = {rising: "↗", steady: "→", falling: "↘"};
const TREND_LABELS = {rising: "Rising", steady: "Steady", falling: "Falling"};

export function slugForValue(value) {
  if (value === null || value === undefined || value === "") return "not_scored";
  return SLUG_BY_VALUE[String(value)] || "not_scored";
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Fill (or build) a .sentiment badge. `trend` may be omitted for per-message badges. */
export function renderSentiment(target, {slug, label, value, trend}) {
  slug = slug || slugForValue(value);
  const badge = target || el("span", {class: "sentiment"});
  badge.dataset.level = slug;
  badge.dataset.levelValue = value === null || value === undefined ? "" : String(value);
  badge.replaceChildren(
    el("span", {class: "s-icon", "aria-hidden": "true", text: LEVEL_ICONS[slug] || "○"}),
    el("span", {class: "s-label", text: label || LEVEL_LABELS[slug] || slug}),
  );
  if (trend) {
    badge.append(el("span", {class: "s-trend", "data-trend": trend, title: `Trend: ${TREND_LABELS[trend] || trend}`},
      el("span", {"aria-hidden": "true", text: TREND_ARROWS[trend] || "→"}),
      el("span", {class: "visually-hidden", text: `, trend ${TREND_LABELS[trend] || trend}`})));
  }
  return badge;
}

export function timeText(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "–";
  return d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false});
}

/** A time of today as "14:03:07"; of another day with its date ("2 Dec 14:03"), so an item of
 * an earlier day is not passed off as today's. */
export function whenText(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "–";
  if (d.toDateString() === new Date().toDateString()) return timeText(iso);
  return `${d.toLocaleDateString("en-GB", {day: "numeric", month: "short"})} ${d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", hour12: false})}`;
}

export function durationText(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  seconds = Math.max(0, Math.floor(seconds));
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60), s = seconds % 60;
  if (m < 60) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** The customer messages that drove a drop: negative and lower than the previous scored one
 * (the first scored message drove none: nothing came before it). Same rule as display.py. */
export function markDropDrivers(list) {
  let previous = null;
  for (const item of list.querySelectorAll("li.msg[data-sender='customer']")) {
    const raw = item.dataset.levelValue;
    item.classList.remove("drove-drop");
    const flag = item.querySelector(".drop-flag");
    if (flag) flag.hidden = true;
    if (raw === undefined || raw === "") continue;
    const level = Number(raw);
    if (level < 0 && previous !== null && level < previous) {
      item.classList.add("drove-drop");
      if (flag) flag.hidden = false;
    }
    previous = level;
  }
}

const SENDER_NAMES = {customer: "Customer", representative: "Representative", bot: "Bot", system: "System"};

/**
 * Append one message frame to a transcript <ol>, unless that seq is already there.
 * options: {showSentiment, correctUrl(seq), customerName, levelOptions}
 */
export function appendMessage(list, frame, options = {}) {
  const seq = Number(frame.seq);
  if (list.querySelector(`li.msg[data-seq="${seq}"]`)) return null;
  const who = frame.sender === "customer" ? (options.customerName || "Customer")
    : (frame.author || SENDER_NAMES[frame.sender] || frame.sender);
  const item = el("li", {class: `msg msg-${frame.sender}`, dataset: {seq: String(seq), sender: frame.sender, levelValue: ""}},
    el("div", {class: "msg-meta"},
      el("span", {class: "msg-author", text: who}), " ",
      el("time", {datetime: frame.created_at || "", text: timeText(frame.created_at)})),
    el("p", {class: "msg-text", text: frame.text ?? ""}));
  if (options.showSentiment && frame.sender === "customer") {
    const badge = el("span", {class: "sentiment small", "data-level": "not_scored"});
    renderSentiment(badge, {slug: "not_scored", label: "Scoring…"});
    item.append(el("div", {class: "msg-sentiment"}, badge,
      el("span", {class: "drop-flag", hidden: true, text: "Drove the drop"})));
    if (options.correctTemplate) item.append(correctionForm(options.correctTemplate, frame.conversation, seq, options.csrf));
  }
  // Keep seq order even when catch-up delivers older messages late.
  const after = [...list.querySelectorAll("li.msg")].find((li) => Number(li.dataset.seq) > seq);
  list.insertBefore(item, after || null);
  return item;
}

/** A per-message sentiment result (conversation.scored) onto its transcript line. */
export function applyMessageScore(list, frame) {
  const item = list.querySelector(`li.msg[data-seq="${Number(frame.seq)}"]`);
  if (!item) return;
  item.dataset.levelValue = frame.supported === false || frame.level_value === null || frame.level_value === undefined
    ? "" : String(frame.level_value);
  const badge = item.querySelector(".msg-sentiment .sentiment");
  if (badge) {
    if (frame.supported === false) {
      const failed = frame.scoring_status === "failed";
      renderSentiment(badge, {slug: "not_scored",
        label: failed ? "Not scored (the scorer failed on this message)" : "Not scored (language)"});
      badge.title = frame.reason || "";
    } else {
      renderSentiment(badge, {slug: frame.level, label: frame.label, value: frame.level_value});
      badge.removeAttribute("title");
    }
    if (frame.supported !== false && typeof frame.confidence === "number") {
      let note = item.querySelector(".confidence");
      if (!note) { note = el("span", {class: "confidence hint"}); badge.after(note); }
      note.textContent = `${Math.round(frame.confidence * 100)}% sure${frame.language ? ` · ${frame.language_name || frame.language}` : ""}`;
    }
  }
  // The correction picker starts at what the model said (until the person picks another level).
  const picker = item.querySelector(".correct-form select[name=level]");
  if (picker && !picker.dataset.touched && frame.supported !== false && frame.level_value !== null && frame.level_value !== undefined) {
    picker.value = String(frame.level_value);
  }
  markDropDrivers(list);
}

const LEVEL_OPTIONS = [[-3, "Very negative"], [-2, "Negative"], [-1, "Slightly negative"], [0, "Neutral"],
  [1, "Slightly positive"], [2, "Positive"], [3, "Very positive"]];

/** The correction URL of one message, from a template reversed with zeros
 * (`/conversations/0/messages/0/correct/`). */
export function correctionUrl(urlTemplate, conversation, seq) {
  return urlTemplate.replace(/\/conversations\/\d+\/messages\/\d+\/correct\//,
    `/conversations/${Number(conversation)}/messages/${Number(seq)}/correct/`);
}

/** "Wrong sentiment?" disclosure with a level picker, posted with fetch (form fallback works too).
 * The picker starts at Neutral and moves to the model's level when the message is scored. */
export function correctionForm(urlTemplate, conversation, seq, csrf) {
  const id = `correct-${conversation}-${seq}`;
  const select = el("select", {name: "level", id});
  for (const [value, label] of LEVEL_OPTIONS) select.append(el("option", {value: String(value), text: label}));
  select.value = "0";
  const form = el("form", {class: "correct-form", method: "post", action: correctionUrl(urlTemplate, conversation, seq)},
    el("input", {type: "hidden", name: "csrfmiddlewaretoken", value: csrf || ""}),
    el("label", {for: id, text: "Right sentiment"}), select,
    el("button", {type: "submit", text: "Save correction"}),
    el("span", {class: "correct-status", role: "status"}));
  return el("details", {class: "correct"}, el("summary", {text: "Wrong sentiment?"}), form);
}

export function wireCorrections(root) {
  root.addEventListener("change", (event) => {
    if (event.target.matches(".correct-form select[name=level]")) event.target.dataset.touched = "true";
  });
  root.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.correct-form");
    if (!form) return;
    event.preventDefault();
    const status = form.querySelector(".correct-status");
    let response;
    try {
      response = await fetch(form.action, {method: "POST", body: new FormData(form),
        headers: {Accept: "application/json"}, credentials: "same-origin"});
    } catch (err) {
      status.textContent = "Not saved: the server could not be reached.";
      return;
    }
    let data = null;
    try { data = await response.json(); } catch { data = null; }
    if (response.ok && data && data.ok) status.textContent = `Saved: ${data.label}. Thank you.`;
    else if (data && data.error) status.textContent = `Not saved: ${typeof data.error === "string" ? data.error : data.error.message}`;
    else if (response.status === 404) status.textContent = "Not saved: this message or conversation was not found (404).";
    else if (response.status === 403) status.textContent = "Not saved: you may not correct this message (403). Reload the page and sign in again.";
    else status.textContent = `Not saved: the server answered ${response.status} ${response.statusText}.`.trim();
  });
}

/**
 * A websocket that reconnects with exponential backoff (0.5 s … 10 s, with jitter) and, on every
 * (re)connect, asks for what it missed: `catch_up` with the last seq seen per conversation.
 * Frames are deduplicated by (type, conversation, seq), so a replay never shows twice.
 */
export class LiveSocket {
  constructor(path, {onFrame, onStatus, onClose, catchUp = true, catchUpFrame} = {}) {
    this.path = path;
    this.onFrame = onFrame || (() => {});
    this.onClose = onClose || (() => true);  // return false to stop reconnecting
    this.onStatus = onStatus || (() => {});
    this.catchUp = catchUp;
    this.catchUpFrame = catchUpFrame || ((conversation, afterSeq) => ({type: "catch_up", conversation, after_seq: afterSeq}));
    this.lastSeq = new Map();
    this.seen = new Set();
    this.attempt = 0;
    this.queue = [];
    this.closedByUs = false;
    this.connect();
    setInterval(() => this.send({type: "ping"}, {queue: false}), 25000);
  }

  track(conversation, seq) {
    const key = String(conversation);
    const current = this.lastSeq.get(key) ?? 0;
    if (seq !== undefined && seq !== null && Number(seq) > current) this.lastSeq.set(key, Number(seq));
    else if (!this.lastSeq.has(key)) this.lastSeq.set(key, current);
  }

  forget(conversation) { this.lastSeq.delete(String(conversation)); }

  /** Close for good: no reconnect. */
  close() {
    this.closedByUs = true;
    if (this.ws) this.ws.close();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}${this.path}`;
  }

  connect() {
    this.onStatus("connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.onStatus("live");
      if (this.catchUp) {
        for (const [conversation, seq] of this.lastSeq) ws.send(JSON.stringify(this.catchUpFrame(conversation, seq)));
      }
      const pending = this.queue.splice(0);
      for (const frame of pending) ws.send(JSON.stringify(frame));
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      if (this.isDuplicate(frame)) return;
      if (frame.type === "message.created" && frame.conversation !== undefined) this.track(frame.conversation, frame.seq);
      this.onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.closedByUs) return;
      if (this.onClose(event.code) === false) { this.closedByUs = true; return; }
      this.onStatus("reconnecting");
      const delay = Math.min(10000, 500 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
      this.attempt += 1;
      setTimeout(() => this.connect(), delay);
    });
  }

  isDuplicate(frame) {
    if (frame.seq === undefined || frame.seq === null) return false;
    if (!["message.created", "conversation.scored"].includes(frame.type)) return false;
    const key = `${frame.type}:${frame.conversation ?? ""}:${frame.seq}`;
    if (this.seen.has(key)) return true;
    this.seen.add(key);
    return false;
  }

  /** Send now, or (queue: true) hold it until the socket is open again. Returns true if sent. */
  send(frame, {queue = true} = {}) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    if (queue) this.queue.push(frame);
    return false;
  }
}

export function connectionBadge(node) {
  const texts = {connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…"};
  return (state) => {
    if (!node) return;
    node.dataset.state = state;
    node.textContent = texts[state] || state;
  };
}

/** Presence selector in the header: its Set button sends presence.set over the staff socket
 * (the form posts it without one); changing the select alone commits nothing. */
export function wirePresence(socket, staffId) {
  const select = document.getElementById("presence-select");
  if (!select) return () => {};
  const form = select.closest("form");
  if (form) form.addEventListener("submit", (event) => {
    if (socket.send({type: "presence.set", presence: select.value}, {queue: false})) event.preventDefault();
  });
  // A choice not yet committed is marked, so nobody takes it for their presence.
  let current = select.value;
  const mark = () => form?.classList.toggle("uncommitted", select.value !== current);
  select.addEventListener("change", mark);
  return (frame) => {
    if (frame.type === "presence.changed" && String(frame.staff) === String(staffId)) {
      current = frame.presence;
      select.value = frame.presence;
      document.body.dataset.presence = frame.presence;
      mark();
    }
  };
}

export function readJSON(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

/** While monitoring is off the page says so (for as long as it is off) and marks levels stale. */
export function monitoringState(enabled) {
  document.body.dataset.monitoring = enabled ? "on" : "off";
  const banner = document.getElementById("monitoring-off");
  if (banner) banner.hidden = enabled;
}

const THRESHOLD_LABELS = {"0": "off", "-1": "Slightly negative", "-2": "Negative", "-3": "Very negative"};

/** settings.changed: say on the page that the admin's new thresholds apply from the next message. */
export function settingsNotice(frame) {
  if (frame.type !== "settings.changed") return false;
  monitoringState(frame.monitoring_enabled !== false);
  let node = document.getElementById("settings-notice");
  if (!node) {
    node = el("p", {id: "settings-notice", class: "settings-notice", role: "status"});
    document.querySelector("main h1")?.after(node);
  }
  const parts = frame.monitoring_enabled === false
    ? ["Sentiment monitoring was turned off: new messages are not scored."]
    : [`Sentiment settings changed: representative alerts at ${THRESHOLD_LABELS[String(frame.representative_threshold)] || frame.representative_threshold},`
       + ` supervisor notifications at ${THRESHOLD_LABELS[String(frame.supervisor_threshold)] || frame.supervisor_threshold}, from the next message.`];
  node.textContent = parts.join(" ");
  node.hidden = false;
  clearTimeout(node._timer);
  node._timer = setTimeout(() => { node.hidden = true; }, 20000);
  return true;
}
