// Polls and giveaways: the viewer card (vote, enter, live tallies, the
// winner with the revealed seed) and the studio controls (start a poll or a
// giveaway, close, draw). Fed by room:{name} events (docs/PROTOCOL.md).

import { api, el, say, session } from "/static/common.js";

const roomPath = (room) => `/api/v1/rooms/${encodeURIComponent(room)}`;

/// Folds a poll.* / giveaway.* event (or the snapshot) into `state`; true if it was one.
export function foldEngage(state, event) {
  const d = event.data || {};
  switch (event.kind) {
    case "snapshot":
      state.poll = (d.polls || [])[0] || null;
      state.giveaway = (d.giveaways || [])[0] || null;
      return true;
    case "poll.started":
    case "poll.closed":
      state.poll = d.poll;
      return true;
    case "poll.tally":
      if (state.poll && state.poll.id === d.poll_id) Object.assign(state.poll, { tallies: d.tallies, votes: d.votes });
      return true;
    case "giveaway.started":
    case "giveaway.drawn":
      state.giveaway = d.giveaway;
      return true;
    case "giveaway.entries":
      if (state.giveaway && state.giveaway.id === d.giveaway_id) state.giveaway.entrants = d.entrants;
      return true;
    default:
      return false;
  }
}

function pollNode(poll, onAnswer) {
  const total = Math.max(1, poll.votes || 0);
  const open = poll.status === "open";
  return el(
    "div",
    { class: "poll", "data-poll-id": poll.id },
    el("div", { class: "product-title", text: poll.question }),
    el(
      "ol",
      { class: "poll-answers" },
      ...poll.answers.map((a, i) => {
        const n = (poll.tallies || [])[i] || 0;
        return el(
          "li",
          {},
          open && onAnswer
            ? el("button", { type: "button", class: "secondary vote", "aria-label": `Vote ${a}`, text: a, onclick: () => onAnswer(poll, i) })
            : el("span", { text: a }),
          el("span", { class: "muted tally", text: ` ${n} (${Math.round((100 * n) / total)}%)` }),
        );
      }),
    ),
    el("div", { class: "muted", text: `${open ? "" : "Closed · "}${poll.votes || 0} vote${poll.votes === 1 ? "" : "s"}` }),
  );
}

function giveawayNode(g, onEnter) {
  const drawn = g.status === "drawn";
  const winner = g.winner ? g.winner.display_name || g.winner.user_id : "nobody (no entries)";
  return el(
    "div",
    { class: "giveaway", "data-giveaway-id": g.id },
    el("div", { class: "product-title", text: `Giveaway: ${g.prize}` }),
    el("div", { class: "muted", text: `${g.entrants || 0} entered${g.eligibility === "buyers" ? " · customers only" : ""}` }),
    drawn
      ? el("div", { class: "giveaway-result", role: "status", text: `Winner: ${winner}` })
      : onEnter
        ? el("button", { type: "button", class: "enter", text: "Enter", onclick: () => onEnter(g) })
        : null,
    el("details", {}, el("summary", { text: "Verify the draw" }),
      el("code", { class: "seed", text: `seed_hash ${g.seed_hash}${drawn ? ` · seed ${g.seed}` : " · seed revealed at the draw"}` })),
  );
}

/// The viewer's card: `box` is a <section>; `send(frame)` sends a hub request.
export class EngageCard {
  constructor(room, box, { send, onNeedSignIn }) {
    this.room = room;
    this.box = box;
    this.send = send;
    this.onNeedSignIn = onNeedSignIn;
    this.state = { poll: null, giveaway: null };
    this.status = el("p", { class: "status", role: "status" });
  }

  onEvent(event) {
    if (foldEngage(this.state, event)) this.render();
  }

  async act(frame, done) {
    if (!session()) return this.onNeedSignIn();
    try {
      await this.send(frame);
      say(this.status, done);
    } catch (err) {
      say(this.status, err.message, "error");
    }
  }

  render() {
    const { poll, giveaway } = this.state;
    this.box.hidden = !poll && !giveaway;
    this.box.replaceChildren(
      el("h2", { text: "Join in" }),
      poll ? pollNode(poll, (p, i) => this.act({ type: "poll.vote", room: this.room, poll_id: p.id, answer: i }, "Vote counted.")) : null,
      giveaway ? giveawayNode(giveaway, (g) => this.act({ type: "giveaway.enter", room: this.room, giveaway_id: g.id }, "You are in the draw.")) : null,
      this.status,
    );
  }
}

/// The studio's controls: poll and giveaway forms, Close and Draw.
export class EngageControls {
  constructor(box, status) {
    this.box = box;
    this.status = status;
    this.room = null;
    this.state = { poll: null, giveaway: null };
    box.querySelector("#poll-form").addEventListener("submit", (e) => this.startPoll(e));
    box.querySelector("#giveaway-form").addEventListener("submit", (e) => this.startGiveaway(e));
  }

  setRoom(room) {
    this.room = room;
    this.state = { poll: null, giveaway: null };
    this.render();
  }

  onEvent(event) {
    if (foldEngage(this.state, event)) this.render();
  }

  async call(path, body, done) {
    try {
      await api("POST", `${roomPath(this.room)}${path}`, body);
      say(this.status, done);
    } catch (err) {
      say(this.status, err.message, "error");
    }
  }

  startPoll(e) {
    e.preventDefault();
    const data = new FormData(e.target);
    const answers = ["a1", "a2", "a3", "a4"].map((k) => String(data.get(k) || "").trim()).filter(Boolean);
    const secs = Number(data.get("duration"));
    this.call("/polls", { question: data.get("question"), answers, duration_secs: secs > 0 ? secs : null }, "Poll started.");
  }

  startGiveaway(e) {
    e.preventDefault();
    const data = new FormData(e.target);
    const body = { prize: data.get("prize"), duration_secs: Number(data.get("duration")), eligibility: data.get("buyers") ? "buyers" : "everyone" };
    this.call("/giveaways", body, "Giveaway started.");
  }

  render() {
    const { poll, giveaway } = this.state;
    const list = this.box.querySelector("#engage-now");
    list.replaceChildren(
      ...(poll ? [el("li", {}, pollNode(poll, null), poll.status === "open" ? el("button", { type: "button", class: "secondary", text: "Close poll", onclick: () => this.call(`/polls/${encodeURIComponent(poll.id)}/close`, undefined, "Poll closed.") }) : null)] : []),
      ...(giveaway ? [el("li", {}, giveawayNode(giveaway, null), giveaway.status === "open" ? el("button", { type: "button", class: "secondary", text: "Draw now", onclick: () => this.call(`/giveaways/${encodeURIComponent(giveaway.id)}/draw`, undefined, "Drawn.") }) : null)] : []),
    );
  }
}
