// The live analytics panel shared by the studio and the moderator panel:
// viewers, card clicks, add-to-cart, orders and GMV per minute as small
// hand-drawn SVG charts, with the stream's totals (distinct viewers, average
// watch time, card impressions, clicks and CTR, add-to-cart, conversion). Loaded from GET /api/v1/rooms/{room}/analytics,
// then kept current by `analytics.minute` pushes on the user's own channel.

import { $, api, el, money } from "/static/common.js";

const SVG = "http://www.w3.org/2000/svg";
const SERIES = [
  { key: "viewers", label: "Viewers", kind: "line", color: "#8fb8ff" },
  { key: "clicks", label: "Card clicks", kind: "bar", color: "#ffb547" },
  { key: "add_to_cart", label: "Add to cart", kind: "bar", color: "#b48cff" },
  { key: "orders", label: "Orders", kind: "bar", color: "#35c28b" },
  { key: "gmv", label: "GMV", kind: "bar", color: "#ff3d71" },
];
const SHOWN_MINUTES = 30;

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

const pct = (r) => (typeof r === "number" ? `${(r * 100).toFixed(1)}%` : "–");

function duration(ms) {
  if (typeof ms !== "number") return "–";
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

function hhmm(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/// One series over the last minutes: a line (viewers) or bars, with the peak labelled.
function chart(minutes, series, format) {
  const w = 300, h = 70, pad = 14;
  const values = minutes.map((m) => m[series.key] || 0);
  const max = Math.max(1, ...values);
  const step = (w - 2) / Math.max(minutes.length, 15);
  const y = (v) => h - pad - (v / max) * (h - 2 * pad);
  const root = svg("svg", { viewBox: `0 0 ${w} ${h}`, class: "chart", role: "img", "aria-label": `${series.label} per minute, peak ${format(max)}` });
  root.append(svg("line", { x1: 0, y1: h - pad, x2: w, y2: h - pad, stroke: "#2a2f3a" }));
  if (series.kind === "line" && minutes.length) {
    const points = values.map((v, i) => `${(i + 0.5) * step},${y(v)}`).join(" ");
    root.append(svg("polyline", { points, fill: "none", stroke: series.color, "stroke-width": 2, "stroke-linejoin": "round" }));
    values.forEach((v, i) => root.append(svg("circle", { cx: (i + 0.5) * step, cy: y(v), r: 2.2, fill: series.color })));
  } else {
    values.forEach((v, i) => {
      const top = y(v);
      root.append(svg("rect", { x: i * step + step * 0.15, y: top, width: Math.max(step * 0.7, 1), height: h - pad - top, fill: series.color, rx: 1.5 }));
    });
  }
  const label = svg("text", { x: 2, y: 10, fill: "#9aa3b2", "font-size": 10 });
  label.textContent = `${series.label} · peak ${format(max)}`;
  root.append(label);
  if (minutes.length) {
    const first = svg("text", { x: 2, y: h - 2, fill: "#9aa3b2", "font-size": 9 });
    first.textContent = hhmm(minutes[0].minute);
    const last = svg("text", { x: w - 2, y: h - 2, fill: "#9aa3b2", "font-size": 9, "text-anchor": "end" });
    last.textContent = hhmm(minutes[minutes.length - 1].minute);
    root.append(first, last);
  }
  return root;
}

export class AnalyticsPanel {
  /// `box` is an element with children #an-totals and #an-charts (or it gets them).
  constructor(box, room) {
    this.box = box;
    this.room = room;
    this.minutes = [];
    this.currency = "USD";
    this.totals = null;
    this.timer = null;
  }

  async load() {
    try {
      const body = await api("GET", `/api/v1/rooms/${encodeURIComponent(this.room)}/analytics`);
      this.currency = body.currency;
      this.minutes = body.minutes;
      this.unique = body.unique_viewers;
      this.box.hidden = false;
      this.render();
    } catch (err) {
      if (err.status === 403 || err.status === 404) this.box.hidden = true;
    }
  }

  /// Starts periodic reloads (pushes keep it current in between).
  start() {
    this.load();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.load(), 30_000);
  }

  stop() {
    clearInterval(this.timer);
  }

  /// An `analytics.minute` push: replace or append that minute.
  onPush(data) {
    if (!data || data.room !== this.room || !data.minute) return;
    this.currency = data.currency || this.currency;
    const m = data.minute;
    const i = this.minutes.findIndex((x) => x.minute === m.minute);
    if (i >= 0) this.minutes[i] = m;
    else this.minutes.push(m);
    this.minutes.sort((a, b) => a.minute - b.minute);
    this.render();
  }

  render() {
    const minutes = this.minutes.slice(-SHOWN_MINUTES);
    const fmtMoney = (v) => money(v, this.currency);
    const sum = (k) => this.minutes.reduce((a, m) => a + (m[k] || 0), 0);
    const peak = Math.max(0, ...this.minutes.map((m) => m.peak_viewers));
    const unique = Math.max(this.unique || 0, ...this.minutes.map((m) => m.unique_viewers || 0));
    const ratio = (n, d) => (d > 0 ? n / d : null);
    const totals = $(".an-totals", this.box);
    totals.replaceChildren(
      ...[
        ["Peak viewers", String(peak)],
        ["Unique viewers", String(unique)],
        ["Avg watch", duration(unique > 0 ? sum("watch_ms") / unique : null)],
        ["Impressions", String(sum("impressions"))],
        ["Clicks", String(sum("clicks"))],
        ["CTR", pct(ratio(sum("clicks"), sum("impressions")))],
        ["Add to cart", String(sum("add_to_cart"))],
        ["Orders", String(sum("orders"))],
        ["Conversion", pct(ratio(sum("orders"), unique))],
        ["GMV", fmtMoney(sum("gmv"))],
        ["Reservations", String(sum("reservations"))],
      ].flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { class: `an-${k.toLowerCase().replaceAll(" ", "-")}`, text: v })]),
    );
    const charts = $(".an-charts", this.box);
    if (!minutes.length) {
      charts.replaceChildren(el("p", { class: "muted", text: "Figures appear here once the stream is on air." }));
      return;
    }
    charts.replaceChildren(...SERIES.map((s) => chart(minutes, s, s.key === "gmv" ? fmtMoney : String)));
  }
}
