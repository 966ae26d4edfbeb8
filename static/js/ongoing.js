// Supervisor "Ongoing conversations" report: a live table (no refresh), filters, sort by
// sentiment, toasts and a notification list with acknowledge and snooze.
import {LiveSocket, connectionBadge, durationText, el, renderSentiment, settingsNotice, timeText, whenText, wirePresence} from "./live.js";
import {alertSentence, announceAlert, buildToast, customerLabel, dismissLater, neighbourToastControl, removeKeepingFocus} from "./alerts.js";

const root = document.getElementById("ongoing");
const staffId = root.dataset.staffId;
const tbody = root.querySelector("#report tbody");
const queueFilter = document.getElementById("filter-queue");
const sentimentFilter = document.getElementById("filter-sentiment");
const sortInput = document.getElementById("filter-sort");
const sortButton = document.getElementById("sort-sentiment");
const sortHeader = document.getElementById("sentiment-col");
const notifList = document.getElementById("notification-list");
const toasts = document.getElementById("toasts");
const statusNode = document.getElementById("ongoing-status");
const snoozes = new Map(); // conversation id → ISO time its snooze (by this supervisor) ends
const monitorUrl = (id) => root.dataset.monitorUrl.replace("/0/", `/${id}/`);
const routeUrl = (id) => root.dataset.routeUrl.replace("/0/", `/${id}/`);
const STATUS_LABELS = {open: "Open", active: "Active", waiting: "Waiting", wrap_up: "Wrap-up", closed: "Closed"};
const CHANNEL_LABELS = {chat: "Chat", sms: "SMS", email: "Email", social: "Social", voice: "Voice transcript"};

const row = (id) => tbody.querySelector(`tr[data-conversation="${id}"]`);

function matches(tr) {
  if (queueFilter.value && tr.dataset.queue !== queueFilter.value) return false;
  const raw = tr.dataset.levelValue;
  const level = raw === "" || raw === undefined ? null : Number(raw);
  // The option carries its levels' bounds (conversations.views.SentimentFilter): one rule.
  const option = sentimentFilter.selectedOptions[0];
  if (!option || !option.value) return true;
  const {lowest, highest, unscored} = option.dataset;
  if (unscored === "true" || level === null) return unscored === "true" && level === null;
  return (lowest === "" || level >= Number(lowest)) && (highest === "" || level <= Number(highest));
}

function applyView() {
  const rows = [...tbody.querySelectorAll("tr")];
  let shown = 0;
  for (const tr of rows) {
    tr.hidden = !matches(tr);
    if (!tr.hidden) shown += 1;
  }
  if (sortInput.value === "sentiment") {
    const key = (tr) => {
      const raw = tr.dataset.levelValue;
      return [raw === "" ? 1 : 0, raw === "" ? 0 : Number(raw), Number(tr.dataset.score || 0)];
    };
    rows.sort((a, b) => {
      const ka = key(a), kb = key(b);
      return ka[0] - kb[0] || ka[1] - kb[1] || ka[2] - kb[2];
    });
    for (const tr of rows) tbody.append(tr);
  }
  document.getElementById("row-count").textContent = String(shown);
  root.querySelector(".empty-report").hidden = shown > 0;
  const url = new URL(location.href);
  for (const [name, value] of [["queue", queueFilter.value], ["sentiment", sentimentFilter.value], ["sort", sortInput.value]]) {
    if (value) url.searchParams.set(name, value); else url.searchParams.delete(name);
  }
  history.replaceState(null, "", url);
}

queueFilter.addEventListener("change", applyView);
sentimentFilter.addEventListener("change", applyView);
sortButton.addEventListener("click", () => {
  const on = sortInput.value !== "sentiment";
  sortInput.value = on ? "sentiment" : "";
  sortButton.setAttribute("aria-pressed", on ? "true" : "false");
  sortHeader.setAttribute("aria-sort", on ? "ascending" : "none");
  applyView();
});

function buildRow(frame) {
  const id = String(frame.conversation);
  const tr = el("tr", {dataset: {conversation: id, queue: String(frame.queue ?? ""), levelValue: "", score: "",
    status: frame.status || "", created: frame.created_at || new Date().toISOString(), accepted: frame.accepted_at || ""}},
  el("td", {class: "col-customer", "data-label": "Customer"}, el("span", {class: "customer-name"}),
    el("span", {class: "row-snoozed hint", hidden: true}, " · snoozed until ", el("time"))), el("td", {class: "col-queue", "data-label": "Queue"}), el("td", {class: "col-rep", "data-label": "Representative"}),
  el("td", {class: "col-status", "data-label": "Status"}), el("td", {class: "col-channel", "data-label": "Channel"}), el("td", {class: "col-language", "data-label": "Language"}),
  el("td", {class: "col-wait", "data-label": "Wait time"}), el("td", {class: "col-handle", "data-label": "Handle time"}),
  el("td", {class: "col-sentiment", "data-label": "Sentiment"}, renderSentiment(null, {slug: "not_scored", trend: "steady"})),
  el("td", {class: "col-last", "data-label": "Last message"}, el("time", {text: "–"})),
  el("td", {class: "col-actions", "data-label": "Actions"},
    el("a", {class: "button small", href: monitorUrl(id)}, "Monitor", el("span", {class: "visually-hidden", text: ` ${frame.customer || ""}`})), " ",
    el("a", {class: "button small", href: routeUrl(id)}, "Assign / Transfer", el("span", {class: "visually-hidden", text: ` ${frame.customer || ""}`}))));
  tbody.append(tr);
  return tr;
}

function setSentiment(tr, {slug, value, label, trend, score}) {
  if (value === undefined && slug === undefined) return;
  tr.dataset.levelValue = value === null || value === undefined ? "" : String(value);
  if (score !== undefined && score !== null) tr.dataset.score = String(score);
  renderSentiment(tr.querySelector(".col-sentiment .sentiment"), {slug, value, label, trend: trend || "steady"});
}

/** Whether the conversation's latest customer message got no sentiment, and why (hover). */
function noteNotScored(tr, frame) {
  const seq = Number(frame.seq);
  if (seq < Number(tr.dataset.scoredSeq || 0)) return;  // an older message announced late
  tr.dataset.scoredSeq = String(seq);
  const cell = tr.querySelector(".col-sentiment");
  let note = cell.querySelector(".not-scored-note");
  if (frame.supported !== false) { if (note) note.remove(); return; }
  if (!note) { note = el("span", {class: "not-scored-note hint"}); cell.append(" ", note); }
  note.textContent = frame.scoring_status === "failed"
    ? "Last message not scored (the scorer failed on it)" : "Last message not scored (language)";
  note.title = frame.reason || "";
}

function setRepresentative(tr, name, id) {
  const cell = tr.querySelector(".col-rep");
  if (id === null || id === "" || (id === undefined && !name)) cell.replaceChildren(el("span", {class: "hint", text: "Unassigned"}));
  else if (name) cell.textContent = name;
}

function onUpdated(frame) {
  const id = String(frame.conversation);
  if (frame.status === "closed") return removeRow(id);
  let tr = row(id);
  if (!tr) {
    if (queueFilterAllows(frame) === false) return;
    tr = buildRow(frame);
  }
  if (frame.queue !== undefined) tr.dataset.queue = String(frame.queue);
  if (frame.customer) tr.querySelector(".col-customer .customer-name").textContent = frame.customer;
  if (frame.queue_name) tr.querySelector(".col-queue").textContent = frame.queue_name;
  if ("representative" in frame) setRepresentative(tr, frame.representative_name, frame.representative);
  if (frame.status) {
    if (frame.status === "active" && !tr.dataset.accepted) tr.dataset.accepted = frame.accepted_at || new Date().toISOString();
    tr.dataset.status = frame.status;
    tr.querySelector(".col-status").textContent = STATUS_LABELS[frame.status] || frame.status;
  }
  if (frame.accepted_at) tr.dataset.accepted = frame.accepted_at;
  if (frame.channel) tr.querySelector(".col-channel").textContent = CHANNEL_LABELS[frame.channel] || frame.channel;
  if (frame.language !== undefined) tr.querySelector(".col-language").textContent = frame.language_name || frame.language || "–";
  setSentiment(tr, {slug: frame.conversation_level ?? frame.sentiment_level, value: frame.conversation_level_value ?? frame.sentiment_level_value,
    label: frame.conversation_label ?? frame.sentiment_label, trend: frame.trend ?? frame.sentiment_trend, score: frame.conversation_score ?? frame.sentiment_score});
  if (frame.last_message_at) setLast(tr, frame.last_message_at);
  tick();
  applyView();
}

function queueFilterAllows() { return true; }

function setLast(tr, iso) {
  const time = tr.querySelector(".col-last time");
  time.setAttribute("datetime", iso);
  time.textContent = timeText(iso);
}

function removeRow(id) {
  row(id)?.remove();
  applyView();
}

// ------------------------------------------------------------------ notifications

function say(text) {
  statusNode.textContent = "";
  setTimeout(() => { statusNode.textContent = text; }, 50);
}

function actionsFor(frame) {
  const who = customerLabel(frame);
  const selectId = `snooze-${frame.notification}-${Math.random().toString(36).slice(2, 6)}`;
  const select = el("select", {id: selectId, class: "snooze-minutes"},
    el("option", {value: "15", text: "15 min"}), el("option", {value: "30", text: "30 min"}), el("option", {value: "60", text: "1 hour"}));
  return el("div", {class: "notification-actions"},
    el("button", {type: "button", class: "ack-button"}, "Acknowledge", el("span", {class: "visually-hidden", text: ` the alert about ${who}`})),
    el("label", {for: selectId, class: "visually-hidden", text: `Snooze alerts about ${who} for`}), select,
    el("button", {type: "button", class: "snooze-button"}, "Snooze", el("span", {class: "visually-hidden", text: ` alerts about ${who}`})),
    el("a", {href: monitorUrl(frame.conversation)}, "Monitor", el("span", {class: "visually-hidden", text: ` ${who}`})));
}

/** Where a conversation's snooze shows: its notifications and its row. */
function showSnooze(conversation) {
  const until = snoozes.get(String(conversation)) || null;
  const marks = [...root.querySelectorAll(`[data-notification][data-conversation="${conversation}"] .snoozed`),
    ...root.querySelectorAll(`tr[data-conversation="${conversation}"] .row-snoozed`)];
  for (const mark of marks) {
    mark.hidden = !until;
    const time = mark.querySelector("time");
    if (until && time) { time.setAttribute("datetime", until); time.textContent = whenText(until); }
  }
}

function addNotification(frame) {
  if (notifList.querySelector(`[data-notification="${frame.notification}"]`)) return;
  const who = customerLabel(frame);
  const item = el("li", {class: "notification", dataset: {notification: String(frame.notification), conversation: String(frame.conversation), customer: who}},
    el("p", {}, el("strong", {text: frame.customer || "Customer"}), " ",
      frame.customer_ref ? el("span", {class: "customer-ref", text: `(ref ${frame.customer_ref})`}) : "",
      ` in ${frame.queue_name || ""}: sentiment ${frame.label}`),
    el("p", {class: "hint"}, el("time", {datetime: frame.created_at || "", text: whenText(frame.created_at)}),
      frame.representative ? ` · ${frame.representative}` : ""),
    el("p", {class: "snoozed", hidden: true}, "Snoozed until ", el("time")),
    actionsFor(frame));
  notifList.prepend(item);
  showSnooze(frame.conversation);
  root.querySelector(".no-notifications").hidden = true;

  announceAlert(alertSentence(frame));
  const toast = buildToast(frame, actionsFor(frame));
  toasts.append(toast);
  dismissLater(toast, () => neighbourToastControl(toast) || nextNotificationControl(null));
}

/** After an item's actions are used, the focus goes to the next waiting notification's
 * Acknowledge button (else the previous one's, else the list's heading), never to the page top. */
function nextNotificationControl(item) {
  const waiting = [...notifList.querySelectorAll(".notification:not(.acknowledged)")].filter((n) => n !== item);
  const after = item ? waiting.find((n) => item.compareDocumentPosition(n) & Node.DOCUMENT_POSITION_FOLLOWING) : null;
  const target = after || waiting[waiting.length - 1];
  return target?.querySelector(".ack-button") || document.getElementById("notif-heading");
}

function markAcknowledged(frame) {
  for (const node of root.querySelectorAll(`[data-notification="${frame.notification}"]`)) {
    if (node.classList.contains("toast")) { removeKeepingFocus(node, () => neighbourToastControl(node) || nextNotificationControl(null)); continue; }
    node.classList.add("acknowledged");
    const until = snoozes.get(String(frame.conversation));
    const done = frame.resolved === "closed" ? "Resolved: the conversation has ended"
      : frame.resolved === "moved" ? "Resolved: the conversation moved to another queue"
        : until && frame.by === Number(staffId) ? `Snoozed until ${whenText(until)}`
          : `Acknowledged${frame.by_name ? ` by ${frame.by_name}` : ""}`;
    const actions = node.querySelector(".notification-actions");
    if (actions?.contains(document.activeElement)) nextNotificationControl(node)?.focus();
    actions?.replaceChildren(el("span", {class: "hint", text: done}));
    setTimeout(() => {
      if (node.contains(document.activeElement)) nextNotificationControl(node)?.focus();
      node.remove();
      root.querySelector(".no-notifications").hidden = notifList.children.length > 0;
    }, 4000);
  }
}

function onSnoozed(frame) {
  const id = String(frame.conversation);
  if (frame.until) snoozes.set(id, frame.until); else snoozes.delete(id);
  showSnooze(id);
  const name = root.querySelector(`.notification[data-conversation="${id}"]`)?.dataset.customer
    || row(id)?.querySelector(".customer-name")?.textContent || "the customer";
  say(frame.until ? `Alerts about ${name} snoozed until ${whenText(frame.until)}.` : `Alerts about ${name} no longer snoozed.`);
}

root.addEventListener("click", (event) => {
  const holder = event.target.closest("[data-notification]");
  if (!holder) return;
  const notification = Number(holder.dataset.notification);
  const isToast = holder.classList.contains("toast");
  const item = isToast ? notifList.querySelector(`[data-notification="${notification}"]`) : holder;
  const next = () => (isToast ? neighbourToastControl(holder) : null) || nextNotificationControl(item);
  if (event.target.closest(".ack-button")) {
    socket.send({type: "notification.ack", notification});
    say(`Acknowledged the alert about ${item?.dataset.customer || "the customer"}.`);
    removeOrMoveOn(holder, isToast, next);
  } else if (event.target.closest(".snooze-button")) {
    const minutes = Number(holder.querySelector(".snooze-minutes").value);
    socket.send({type: "conversation.snooze", conversation: Number(holder.dataset.conversation), minutes});
    socket.send({type: "notification.ack", notification});
    removeOrMoveOn(holder, isToast, next);
  } else if (event.target.closest(".toast-close")) {
    removeKeepingFocus(holder, next);
  }
});

function removeOrMoveOn(holder, isToast, next) {
  if (isToast) removeKeepingFocus(holder, next);
  else next()?.focus();
}

// ------------------------------------------------------------------ time cells

function tick() {
  const now = Date.now();
  for (const [id, until] of snoozes) {
    if (Date.parse(until) <= now) { snoozes.delete(id); showSnooze(id); }
  }
  for (const tr of tbody.querySelectorAll("tr")) {
    const created = Date.parse(tr.dataset.created);
    const accepted = tr.dataset.accepted ? Date.parse(tr.dataset.accepted) : null;
    const wait = Number.isNaN(created) ? null : ((accepted ?? now) - created) / 1000;
    tr.querySelector(".col-wait").textContent = durationText(wait);
    tr.querySelector(".col-handle").textContent = accepted ? durationText((now - accepted) / 1000) : "–";
  }
}
setInterval(tick, 1000);

// ------------------------------------------------------------------ socket

function onFrame(frame) {
  const id = frame.conversation !== undefined ? String(frame.conversation) : null;
  switch (frame.type) {
    case "conversation.updated":
      onUpdated(frame);
      break;
    case "conversation.assigned": {
      const tr = row(id);
      if (tr) setRepresentative(tr, frame.representative_name, frame.representative);
      break;
    }
    case "conversation.scored": {
      let tr = row(id);
      if (!tr) tr = buildRow(frame);
      setSentiment(tr, {slug: frame.conversation_level, value: frame.conversation_level_value, label: frame.conversation_label,
        trend: frame.trend, score: frame.conversation_score});
      if (frame.language) tr.querySelector(".col-language").textContent = frame.language_name || frame.language;
      noteNotScored(tr, frame);
      applyView();
      break;
    }
    case "message.created": {
      const tr = row(id);
      if (tr) setLast(tr, frame.created_at);
      break;
    }
    case "conversation.removed":
      removeRow(id);
      break;
    case "notification.created":
      addNotification(frame);
      break;
    case "notification.acknowledged":
      markAcknowledged(frame);
      break;
    case "conversation.snoozed":
      onSnoozed(frame);
      break;
    default:
      if (!settingsNotice(frame)) presence(frame);
  }
}

// After a reconnect, anything may have changed while we were away: reload the rows and the
// notification list from the server (same filters), then carry on with live frames.
const badge = connectionBadge(document.getElementById("conn-status"));
let wasDown = false;
async function resync() {
  try {
    const response = await fetch(location.href, {credentials: "same-origin"});
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const rows = doc.querySelector("#report tbody");
    const notes = doc.getElementById("notification-list");
    if (rows) tbody.replaceChildren(...rows.children);
    if (notes) notifList.replaceChildren(...notes.children);
    for (const id of snoozes.keys()) showSnooze(id);
    root.querySelector(".no-notifications").hidden = notifList.children.length > 0;
    tick();
    applyView();
  } catch (err) { /* the next reconnect tries again */ }
}
function onStatus(state) {
  badge(state);
  if (state === "reconnecting") wasDown = true;
  if (state === "live" && wasDown) { wasDown = false; resync(); }
}
// Snoozes the page was rendered with (the server knows them; the socket only tells of new ones).
for (const time of root.querySelectorAll(".snoozed:not([hidden]) time, .row-snoozed:not([hidden]) time")) {
  snoozes.set(time.closest("[data-conversation]").dataset.conversation, time.getAttribute("datetime"));
}
const socket = new LiveSocket("/ws/staff/", {onFrame, catchUp: false, onStatus});
const presence = wirePresence(socket, staffId);
tick();
applyView();
