// Representative workspace: one session tab per active conversation; the focused tab's
// communication panel shows the transcript, the reply box and the live customer sentiment.
// A session not in focus shows an alert badge on its tab when the threshold is crossed.
import {
  LiveSocket, appendMessage, applyMessageScore, connectionBadge, el, markDropDrivers,
  renderSentiment, settingsNotice, wireCorrections, wirePresence,
} from "./live.js";
import {announceAlert} from "./alerts.js";

const root = document.getElementById("workspace");
const staffId = root.dataset.staffId;
const tablist = root.querySelector(".session-tabs");
const sessionsBox = root.querySelector(".sessions");
const emptyNote = root.querySelector(".empty-sessions");
const correctUrl = root.dataset.correctUrl;
const csrf = root.dataset.csrf;

const tab = (id) => document.getElementById(`tab-${id}`);
const panel = (id) => document.getElementById(`panel-${id}`);
const focusedId = () => tablist.querySelector("[role=tab][aria-selected=true]")?.dataset.conversation;

function focusSession(id, {moveFocus = false} = {}) {
  for (const t of tablist.querySelectorAll("[role=tab]")) {
    const on = t.dataset.conversation === String(id);
    t.setAttribute("aria-selected", on ? "true" : "false");
    t.tabIndex = on ? 0 : -1;
    panel(t.dataset.conversation).hidden = !on;
    if (on) {
      // The alert that was waiting on the tab now shows in the panel.
      const badge = t.querySelector(".tab-alert");
      if (!badge.hidden) {
        showPanelAlert(id, badge.dataset.text || badge.textContent);
        badge.hidden = true;
        t.classList.remove("has-alert");
      }
      if (moveFocus) t.focus();
      const url = new URL(location.href);
      url.searchParams.set("c", id);
      history.replaceState(null, "", url);
    }
  }
}

tablist.addEventListener("click", (event) => {
  const t = event.target.closest("[role=tab]");
  if (t) focusSession(t.dataset.conversation);
});
tablist.addEventListener("keydown", (event) => {
  const tabs = [...tablist.querySelectorAll("[role=tab]")];
  const index = tabs.indexOf(document.activeElement);
  if (index < 0) return;
  let next = null;
  if (event.key === "ArrowRight" || event.key === "ArrowDown") next = tabs[(index + 1) % tabs.length];
  else if (event.key === "ArrowLeft" || event.key === "ArrowUp") next = tabs[(index - 1 + tabs.length) % tabs.length];
  else if (event.key === "Home") next = tabs[0];
  else if (event.key === "End") next = tabs[tabs.length - 1];
  if (next) {
    event.preventDefault();
    focusSession(next.dataset.conversation, {moveFocus: true});
  }
});

function showPanelAlert(id, text) {
  const box = panel(id)?.querySelector(".panel-alert");
  if (!box) return;
  box.textContent = text;
  box.classList.remove("recovered"); // an alert raised again after a recovery looks like an alert
  box.hidden = false;
}

/** A representative alert that holds: in the panel when its session is in focus, else on its tab. */
function showAlert(id, frame, {announce = true} = {}) {
  const text = `Alert: the customer's sentiment is ${frame.label}`;
  if (announce && document.hidden && !document.title.startsWith("⚠")) document.title = `⚠ ${document.title}`;
  // Read out once, through the page's one assertive announcer, whichever session it is in.
  if (announce) {
    const name = panel(id)?.dataset.customer || "a customer";
    announceAlert(focusedId() === id ? `Alert: ${name}'s sentiment is ${frame.label}.`
      : `Alert in another session: ${name}'s sentiment is ${frame.label}.`);
  }
  if (focusedId() === id) showPanelAlert(id, text);
  else {
    const badge = tab(id).querySelector(".tab-alert");
    badge.hidden = false;
    badge.dataset.text = text;
    badge.textContent = `Alert: ${frame.label}`;
    tab(id).classList.add("has-alert");
  }
}

/** No representative alert holds: nothing on the tab, no alert in the panel. */
function clearAlert(id) {
  tab(id).querySelector(".tab-alert").hidden = true;
  tab(id).classList.remove("has-alert");
  const box = panel(id).querySelector(".panel-alert");
  if (!box.classList.contains("recovered")) box.hidden = true;
}

/** The polite message log: a new customer message in any session is read out once (not the
 * history a catch-up replays: only messages of the last minute). */
function logMessage(name, frame) {
  const log = document.getElementById("message-log");
  const at = Date.parse(frame.created_at || "");
  if (!log || (!Number.isNaN(at) && Date.now() - at > 60000)) return;
  log.append(el("p", {text: `${name}: ${frame.text ?? ""}`}));
  while (log.children.length > 5) log.firstElementChild.remove();
}

function panelMeta(info) {
  return [info.queue_name, info.channel_label || info.channel, info.language_name || info.language,
    info.status_label || info.status].filter(Boolean).join(" · ");
}

/** While an alert shows, its words follow the conversation's live level. */
function alertFollowsLevel(id, frame) {
  const label = frame.conversation_label;
  if (!label || frame.conversation_level_value === null || frame.conversation_level_value === undefined) return;
  const box = panel(id)?.querySelector(".panel-alert");
  if (box && !box.hidden && !box.classList.contains("recovered")) box.textContent = `Alert: the customer's sentiment is ${label}`;
  const badge = tab(id)?.querySelector(".tab-alert");
  if (badge && !badge.hidden) {
    badge.dataset.text = `Alert: the customer's sentiment is ${label}`;
    badge.textContent = `Alert: ${label}`;
  }
}

function buildSession(info) {
  const id = String(info.conversation);
  const name = info.customer || `Customer #${id}`;
  // The same words as a page-rendered session: channel and status labels, the language's name.
  const meta = [info.queue_name, info.channel_label || info.channel].filter(Boolean).join(" · ");
  const tabButton = el("button", {type: "button", role: "tab", class: "session-tab", id: `tab-${id}`,
    "aria-controls": `panel-${id}`, "aria-selected": "false", tabindex: "-1", dataset: {conversation: id}},
  el("span", {class: "tab-name", text: name}), el("span", {class: "tab-meta", text: meta}),
  renderSentiment(el("span", {class: "sentiment small"}), {slug: "not_scored"}),
  el("span", {class: "tab-alert", hidden: true, text: "Alert"}));
  tablist.append(tabButton);
  const commSentiment = renderSentiment(el("span", {class: "sentiment"}), {slug: "not_scored", trend: "steady"});
  const section = el("section", {class: "session-panel", role: "tabpanel", id: `panel-${id}`, "aria-labelledby": `tab-${id}`,
    hidden: true, dataset: {conversation: id, lastSeq: "0", customer: name}},
  el("div", {class: "comm-panel"},
    el("header", {class: "comm-header"},
      el("div", {}, el("h2", {class: "comm-customer", text: name}), el("p", {class: "hint comm-meta", text: panelMeta(info)})),
      el("div", {class: "comm-sentiment", "aria-live": "polite"},
        el("span", {class: "comm-sentiment-title", text: "Customer sentiment"}), commSentiment),
      el("button", {type: "button", class: "end-button", "aria-expanded": "false", dataset: {conversation: id}}, "End conversation",
        el("span", {class: "visually-hidden", text: ` with ${name}`}))),
    el("div", {class: "panel-alert", hidden: true}),
    el("ol", {class: "transcript", "aria-label": `Transcript with ${name}`}),
    el("form", {class: "reply-form", dataset: {conversation: id}},
      el("label", {for: `reply-${id}`, text: `Reply to ${name}`}),
      el("div", {class: "reply-row"},
        el("textarea", {id: `reply-${id}`, name: "text", rows: "2", maxlength: "4000", required: true}),
        el("button", {type: "submit", class: "primary", text: "Send"})),
      el("p", {class: "reply-status hint", role: "status"}))));
  sessionsBox.append(section);
  emptyNote.hidden = true;
  socket.track(id, 0);
  socket.send({type: "catch_up", conversation: Number(id), after_seq: 0}, {queue: false});
  if (!focusedId()) focusSession(id);
  return section;
}

function removeSession(id) {
  const wasFocused = focusedId() === String(id);
  tab(id)?.remove();
  panel(id)?.remove();
  socket.forget(id);
  if (wasFocused) {
    const first = tablist.querySelector("[role=tab]");
    if (first) focusSession(first.dataset.conversation);
  }
  emptyNote.hidden = Boolean(tablist.querySelector("[role=tab]"));
}

function updateConversationSentiment(id, frame) {
  const value = frame.conversation_level_value;
  const slug = frame.conversation_level;
  if (slug === undefined && value === undefined) return;
  const data = {slug, value, label: frame.conversation_label};
  const small = tab(id)?.querySelector(".sentiment");
  if (small) renderSentiment(small, data);
  const big = panel(id)?.querySelector(".comm-sentiment .sentiment");
  if (big) renderSentiment(big, {...data, trend: frame.trend || frame.sentiment_trend || "steady"});
}

function onFrame(frame) {
  const id = frame.conversation !== undefined ? String(frame.conversation) : null;
  const section = id ? panel(id) : null;
  switch (frame.type) {
    case "message.created": {
      if (!section) return;
      const added = appendMessage(section.querySelector(".transcript"), frame,
        {showSentiment: true, customerName: section.dataset.customer, correctTemplate: correctUrl, csrf});
      if (added && frame.sender === "customer") logMessage(section.dataset.customer, frame);
      section.dataset.lastSeq = String(Math.max(Number(section.dataset.lastSeq), Number(frame.seq)));
      const list = section.querySelector(".transcript");
      list.scrollTop = list.scrollHeight;
      break;
    }
    case "conversation.scored":
      if (!section) return;
      applyMessageScore(section.querySelector(".transcript"), frame);
      updateConversationSentiment(id, frame);
      alertFollowsLevel(id, frame);
      break;
    case "alert.raised":
      if (!section || (frame.audience && frame.audience !== "representative")) return;
      showAlert(id, frame);
      break;
    case "alert.state": {
      // Catch-up (on load and on every reconnect): the alerts that still hold, nothing else.
      if (!section) return;
      const holding = (frame.alerts || []).find((a) => a.audience === "representative");
      if (holding) showAlert(id, holding, {announce: false});
      else clearAlert(id);
      break;
    }
    case "alert.recovered": {
      if (!section || (frame.audience && frame.audience !== "representative")) return;
      tab(id).querySelector(".tab-alert").hidden = true;
      tab(id).classList.remove("has-alert");
      const box = section.querySelector(".panel-alert");
      box.textContent = `Recovered: the customer's sentiment is back to ${frame.label}`;
      box.hidden = false;
      box.classList.add("recovered");
      break;
    }
    case "conversation.assigned":
      // The full row follows as conversation.updated; here only notice a conversation moving away.
      if (section && String(frame.representative ?? "") !== String(staffId)) removeSession(id);
      break;
    case "conversation.updated": {
      const mine = String(frame.representative ?? "") === String(staffId);
      const closed = frame.status === "closed";
      if (mine && !closed && !section) buildSession(frame);
      else if (section && (closed || !mine)) removeSession(id);
      else if (section) {
        updateConversationSentiment(id, frame);
        const meta = section.querySelector(".comm-meta");
        if (meta && frame.queue_name) meta.textContent = panelMeta(frame);
      }
      break;
    }
    case "conversation.removed":
      if (section) removeSession(id);
      break;
    default:
      if (!settingsNotice(frame)) presence(frame);
  }
}

const socket = new LiveSocket("/ws/staff/", {onFrame, onStatus: connectionBadge(document.getElementById("conn-status"))});
for (const section of root.querySelectorAll(".session-panel")) {
  socket.track(section.dataset.conversation, Number(section.dataset.lastSeq));
  markDropDrivers(section.querySelector(".transcript"));
}
const presence = wirePresence(socket, staffId);

root.addEventListener("submit", (event) => {
  const form = event.target.closest("form.reply-form");
  if (!form) return;
  event.preventDefault();
  const box = form.querySelector("textarea");
  const status = form.querySelector(".reply-status");
  const text = box.value.trim();
  if (!text) return;
  if (socket.send({type: "message.send", conversation: Number(form.dataset.conversation), text}, {queue: false})) {
    box.value = "";
    status.textContent = "";
  } else {
    status.textContent = "Not sent: reconnecting… your reply is kept.";
  }
});
root.addEventListener("keydown", (event) => {
  // Enter sends, Shift+Enter adds a line.
  if (event.target.matches(".reply-form textarea") && event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    event.target.form.requestSubmit();
  }
});
wireCorrections(root);

// The browser tab's title carries a ⚠ while an alert arrived unseen; it clears on return.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && document.title.startsWith("⚠ ")) document.title = document.title.slice(2);
});

// End conversation: asks to confirm first (an inline question, Escape or "Keep it open" cancels),
// then the REST close endpoint; conversation.updated (closed) removes the session. Focus moves
// to the next session's tab (or the Take next button) and the result is announced.
function askToEnd(button) {
  const id = button.dataset.conversation;
  const name = panel(id)?.dataset.customer || "the customer";
  let box = panel(id)?.querySelector(".end-confirm");
  if (!box) {
    box = el("div", {class: "end-confirm", role: "group", "aria-labelledby": `end-question-${id}`},
      el("p", {id: `end-question-${id}`, text: `End the conversation with ${name}? They are told at once and cannot write any more.`}),
      el("button", {type: "button", class: "end-yes danger", dataset: {conversation: id}, text: "Yes, end it"}),
      el("button", {type: "button", class: "end-no", dataset: {conversation: id}, text: "Keep it open"}));
    button.closest(".comm-header").after(box);
  }
  box.hidden = false;
  button.setAttribute("aria-expanded", "true");
  box.querySelector(".end-no").focus();
}

function cancelEnd(id) {
  const box = panel(id)?.querySelector(".end-confirm");
  if (box) box.hidden = true;
  const button = panel(id)?.querySelector(".end-button");
  if (button) { button.setAttribute("aria-expanded", "false"); button.focus(); }
}

function focusAfterRemoval() {
  const selected = tablist.querySelector("[role=tab][aria-selected=true]");
  (selected || root.querySelector(".take-next button"))?.focus();
}

async function endConversation(id) {
  const yes = panel(id)?.querySelector(".end-yes");
  const name = panel(id)?.dataset.customer || "the customer";
  if (yes) yes.disabled = true;
  const url = root.dataset.closeUrl.replace("/0/", `/${id}/`);
  try {
    const response = await fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"X-CSRFToken": csrf, "Content-Type": "application/json"}, body: "{}"});
    if (!response.ok) throw new Error(String(response.status));
    removeSession(id);
    announce(`Conversation with ${name} ended.`);
    focusAfterRemoval();
  } catch (err) {
    if (yes) yes.disabled = false;
    const status = panel(id)?.querySelector(".reply-status");
    if (status) status.textContent = "Could not end the conversation; try again.";
  }
}

function announce(text) {
  const node = document.getElementById("workspace-status");
  if (!node) return;
  node.textContent = "";
  setTimeout(() => { node.textContent = text; }, 50);
}

root.addEventListener("click", (event) => {
  const end = event.target.closest(".end-button");
  if (end) { askToEnd(end); return; }
  const yes = event.target.closest(".end-yes");
  if (yes) { endConversation(yes.dataset.conversation); return; }
  const no = event.target.closest(".end-no");
  if (no) cancelEnd(no.dataset.conversation);
});
root.addEventListener("keydown", (event) => {
  const box = event.target.closest?.(".end-confirm");
  if (box && event.key === "Escape") {
    event.preventDefault();
    cancelEnd(box.querySelector(".end-no").dataset.conversation);
  }
});
