// The moderator panel, /moderate/{room}: chat with one-click delete, timeout,
// ban and shadow-ban; slow mode; the moderation log; viewer counts.

import { $, api, el, lastPathSegment, mountSignIn, say } from "/static/common.js";
import { Hub } from "/static/hub.js";
import { AnalyticsPanel } from "/static/analytics.js";
import { PinPicker } from "/static/studio_commerce.js";
import { EngageControls } from "/static/engage.js";

const room = lastPathSegment();
let hub = null;
let analytics = null;
const pins = new PinPicker($("#pick-list"), $("#action-status"));
const engage = new EngageControls($("#engage-controls"), $("#engage-status"));
engage.setRoom(room);
const chatters = new Map(); // user_id -> {name, count}

function noteChatter(m) {
  const c = chatters.get(m.user_id) || { name: m.author, count: 0 };
  c.count += 1;
  chatters.set(m.user_id, c);
  const list = $("#chatters");
  list.replaceChildren(
    ...[...chatters.values()].sort((a, b) => b.count - a.count).slice(0, 40).map((c) => el("li", { text: `${c.name} · ${c.count}` })),
  );
}

async function loadHeld() {
  try {
    const r = await hub.request({ type: "moderation.held", room });
    $("#held").replaceChildren(
      ...(r.messages.length ? r.messages : [null]).map((m) =>
        m
          ? el("li", { "data-message-id": m.id }, el("strong", { text: m.author + " " }), el("span", { text: m.text + " " }),
              el("button", { type: "button", class: "secondary", "aria-label": `Approve message from ${m.author}`, text: "Approve",
                onclick: () => moderate("approve_message", { message_id: m.id }, `Approved a message from ${m.author}.`).then(loadHeld) }),
              el("button", { type: "button", class: "danger", "aria-label": `Reject message from ${m.author}`, text: "Reject",
                onclick: () => moderate("delete_message", { message_id: m.id }, `Rejected a message from ${m.author}.`).then(loadHeld) }))
          : el("li", { class: "muted", text: "Nothing waiting." }),
      ),
    );
  } catch (err) {
    say($("#action-status"), err.message, "error");
  }
}

async function moderate(action, extra, what) {
  try {
    await hub.request({ type: "moderate", room, action, ...extra });
    say($("#action-status"), what);
    await loadLog();
  } catch (err) {
    say($("#action-status"), err.message, "error");
  }
}

function addChat(m) {
  if (document.querySelector(`#chat [data-message-id="${CSS.escape(m.id)}"]`)) return;
  noteChatter(m);
  const who = m.author;
  $("#chat").append(
    el(
      "li",
      { "data-message-id": m.id, "data-user-id": m.user_id },
      el("div", {}, el("strong", { text: who + " " }), el("span", { class: "text", text: m.text })),
      el(
        "div",
        { class: "actions", role: "group", "aria-label": `Actions for ${who}'s message` },
        el("button", { type: "button", class: "delete", "aria-label": `Delete message from ${who}`, text: "Delete",
          onclick: () => moderate("delete_message", { message_id: m.id }, `Deleted a message from ${who}.`) }),
        el("button", { type: "button", class: "timeout", "aria-label": `Time out ${who} for 5 minutes`, text: "Timeout 5m",
          onclick: () => moderate("timeout", { user_id: m.user_id, seconds: 300 }, `${who} is timed out for 5 minutes.`) }),
        el("button", { type: "button", class: "ban", "aria-label": `Ban ${who}`, text: "Ban",
          onclick: () => moderate("ban", { user_id: m.user_id }, `${who} is banned.`) }),
        el("button", { type: "button", class: "shadow", "aria-label": `Shadow-ban ${who}`, text: "Shadow-ban",
          onclick: () => moderate("shadow_ban", { user_id: m.user_id }, `${who} is shadow-banned.`) }),
      ),
    ),
  );
  $("#chat").scrollTop = $("#chat").scrollHeight;
}

function setSlow(seconds) {
  $("#slow-on").checked = seconds > 0;
  if (seconds > 0) $("#slow-seconds").value = seconds;
  $("#slow-state").textContent = seconds > 0 ? `Slow mode is on: ${seconds} s.` : "Slow mode is off.";
}

function setPresence(p) {
  $("#viewer-count").textContent = String(p.viewers);
  $("#viewer-peak").textContent = String(p.peak);
  $("#viewer-unique").textContent = String(p.unique);
}

function onRoomEvent(event) {
  const d = event.data;
  pins.onEvent(event);
  engage.onEvent(event);
  switch (event.kind) {
    case "snapshot":
      $("#chat").replaceChildren();
      if (d.room) $("#room-title").textContent = `Moderating: ${d.room.title}`;
      setSlow(d.slow_mode_secs || 0);
      if (d.presence) setPresence(d.presence);
      for (const m of d.chat || []) addChat(m);
      break;
    case "chat.message":
      addChat(d);
      break;
    case "chat.deleted": {
      const node = document.querySelector(`#chat [data-message-id="${CSS.escape(d.id)}"]`);
      if (node) node.remove();
      break;
    }
    case "chat.slow_mode":
      setSlow(d.seconds);
      break;
    case "presence":
      setPresence(d);
      break;
    case "subscribe_failed":
      say($("#action-status"), d.message, "error");
      break;
  }
}

async function loadLog() {
  try {
    const log = await api("GET", `/api/v1/rooms/${encodeURIComponent(room)}/moderation-log`);
    $("#log").replaceChildren(
      ...(log.entries.length ? log.entries : [null]).map((e) =>
        e
          ? el("li", {}, el("time", { datetime: new Date(e.at).toISOString(), text: new Date(e.at).toLocaleTimeString() + " " }),
              el("span", { text: `${e.action.replace("_", " ")}${e.detail ? " (" + e.detail + ")" : ""}${e.target_user_id ? " · user " + e.target_user_id.slice(-6) : ""}` }))
          : el("li", { class: "muted", text: "Nothing yet." }),
      ),
    );
  } catch (err) {
    say($("#action-status"), err.message, "error");
  }
}

function onSession(s) {
  $("#workspace").hidden = !s;
  if (hub) hub.close();
  hub = null;
  if (!s) return;
  hub = new Hub(s.token);
  hub.subscribe(`room:${room}`, onRoomEvent);
  hub.subscribe(`user:${s.user.id}`, (e) => e.kind === "analytics.minute" && analytics && analytics.onPush(e.data));
  loadLog();
  loadHeld();
  if (analytics) analytics.stop();
  analytics = new AnalyticsPanel($("#analytics"), room);
  analytics.start();
  api("GET", `/api/v1/rooms/${encodeURIComponent(room)}/shop`)
    .then((shop) => pins.load(room, shop.slug))
    .catch((err) => say($("#action-status"), err.message, "error"));
}

function main() {
  $("#slow-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const seconds = $("#slow-on").checked ? Number($("#slow-seconds").value) : 0;
    moderate("slow_mode", { seconds }, seconds ? `Slow mode on: ${seconds} s.` : "Slow mode off.");
  });
  $("#log-refresh").addEventListener("click", loadLog);
  $("#words-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const words = $("#words").value.split(",").map((w) => w.trim()).filter(Boolean);
    const mode = $("#words-mode").value;
    moderate("blocked_words", { words, mode }, words.length ? `Filtering ${words.length} word(s): ${mode === "hold" ? "held for review" : "refused"}.` : "Keyword filter cleared.");
  });
  mountSignIn(onSession);
}

main();
