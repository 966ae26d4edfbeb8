// Customer chat page: sends messages over the customer's socket, shows them as pending until
// the server acknowledges them with their sequence number, and shows the representative's replies.
// The customer never sees sentiment. All text is set with textContent.
import {LiveSocket, connectionBadge, el, timeText} from "./live.js";

const root = document.getElementById("chat");
const list = root.querySelector(".transcript");
const form = document.getElementById("chat-form");
const box = document.getElementById("chat-text");
const status = document.getElementById("chat-status");
const pending = new Map();
const conversation = root.dataset.conversation;

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
    case "error":
      status.textContent = frame.message || "Something went wrong.";
      break;
    default:
  }
}

const socket = new LiveSocket(`/ws/chat/${root.dataset.token}/`, {
  onFrame, onStatus: connectionBadge(document.getElementById("conn-status")),
  catchUpFrame: (_conversation, afterSeq) => ({type: "catch_up", after_seq: afterSeq}),
});
socket.track(conversation, Number(root.dataset.lastSeq));

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = box.value.trim();
  if (!text) return;
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
