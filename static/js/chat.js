// Customer chat page: sends messages over the customer's socket, shows them as pending until
// the server acknowledges them with their sequence number, and shows the representative's replies.
// chat.updated says where the chat stands: waiting (place in the queue), with an agent, or
// ended; once ended, the page refuses input and stops reconnecting.
// The customer never sees sentiment. All text is set with textContent.
import {LiveSocket, connectionBadge, el, timeText} from "./live.js";

const root = document.getElementById("chat");
const list = root.querySelector(".transcript");
const form = document.getElementById("chat-form");
const box = document.getElementById("chat-text");
const status = document.getElementById("chat-status");
const pending = new Map();
const conversation = root.dataset.conversation;
const stateLine = document.getElementById("chat-state");
const connStatus = document.getElementById("conn-status");
const ENDED_TEXT = "This conversation has ended. Thank you for contacting us.";

function chatStateText({state, position, agent}) {
  if (state === "ended") return ENDED_TEXT;
  if (state === "with_agent") return `You are chatting with ${agent || "an agent"}.`;
  return position ? `Waiting for an agent. You are number ${position} in the queue.` : "Waiting for an agent.";
}

function showState(frame) {
  const text = chatStateText(frame);
  if (stateLine.textContent !== text) stateLine.textContent = text;
  stateLine.dataset.state = frame.state;
  root.dataset.state = frame.state;
  if (frame.state === "ended") endChat();
}

function endChat() {
  root.dataset.state = "ended";
  stateLine.dataset.state = "ended";
  if (stateLine.textContent !== ENDED_TEXT) stateLine.textContent = ENDED_TEXT;
  box.disabled = true;
  form.querySelector("button[type=submit]").disabled = true;
  form.hidden = true;
  for (const item of list.querySelectorAll("li.pending")) markNotSent(item, "Not sent: the conversation had ended.");
  pending.clear();
  socket.close();
  if (connStatus) { connStatus.dataset.state = "ended"; connStatus.textContent = "Ended"; }
}

function markNotSent(item, text) {
  item.classList.remove("pending");
  item.classList.add("not-sent");
  const time = item.querySelector("time");
  if (time) time.textContent = text;
}

function addLine({seq, sender, text, created_at, author, clientId}) {
  if (seq !== undefined && list.querySelector(`li[data-seq="${seq}"]`)) return null;
  const who = sender === "customer" ? "You" : (author || "Agent");
  const item = el("li", {class: `msg msg-${sender}`, dataset: {sender}},
    el("div", {class: "msg-meta"}, el("span", {class: "msg-author", text: who}), " ",
      el("time", {datetime: created_at || "", text: created_at ? timeText(created_at) : "sending…"})),
    el("p", {class: "msg-text", text}));
  if (seq !== undefined) item.dataset.seq = String(seq);
  if (clientId) { item.dataset.clientId = clientId; item.classList.add("pending"); }
  const after = seq === undefined ? null : [...list.querySelectorAll("li[data-seq]")].find((li) => Number(li.dataset.seq) > seq);
  list.insertBefore(item, after);
  item.scrollIntoView({block: "nearest"});
  return item;
}

function onFrame(frame) {
  switch (frame.type) {
    case "message.ack": {
      const item = list.querySelector(`li[data-client-id="${CSS.escape(String(frame.client_id))}"]`);
      pending.delete(String(frame.client_id));
      socket.track(conversation, frame.seq);
      if (item) {
        item.dataset.seq = String(frame.seq);
        item.classList.remove("pending");
        const time = item.querySelector("time");
        time.textContent = timeText(frame.created_at || new Date().toISOString());
      }
      break;
    }
    case "message.created":
      if (frame.sender === "customer" && frame.client_id && list.querySelector(`li[data-client-id="${CSS.escape(String(frame.client_id))}"]`)) return;
      addLine(frame);
      break;
    case "chat.updated":
      showState(frame);
      break;
    case "error": {
      const item = frame.client_id
        ? list.querySelector(`li[data-client-id="${CSS.escape(String(frame.client_id))}"]`) : null;
      if (frame.code === "conversation_closed") { endChat(); break; }
      if (item && frame.code !== "rate_limited") { pending.delete(String(frame.client_id)); markNotSent(item, "Not sent"); }
      status.textContent = frame.message || "Something went wrong.";
      break;
    }
    default:
  }
}

const badge = connectionBadge(connStatus);
const socket = new LiveSocket(`/ws/chat/${root.dataset.token}/`, {
  onFrame, onStatus: (state) => { if (root.dataset.state !== "ended") badge(state); },
  catchUpFrame: (_conversation, afterSeq) => ({type: "catch_up", after_seq: afterSeq}),
  // 4404: the server refuses the socket of a conversation that has ended.
  onClose: (code) => { if (code === 4404) { endChat(); return false; } return true; },
});
socket.track(conversation, Number(root.dataset.lastSeq));
if (root.dataset.state === "ended") endChat();

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = box.value.trim();
  if (!text || root.dataset.state === "ended") return;
  const clientId = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now() + Math.random()));
  pending.set(clientId, text);
  addLine({sender: "customer", text, clientId});
  socket.send({type: "message.send", text, client_id: clientId});  // queued while reconnecting
  box.value = "";
  status.textContent = "";
});
box.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    form.requestSubmit();
  }
});
