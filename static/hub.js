// A client of the signaling hub (docs/PROTOCOL.md): one WebSocket, requests with
// ids answered by ack/error, channel subscriptions with recovery on reconnect.

export class Hub {
  constructor(token, { onStatus = () => {} } = {}) {
    this.token = token;
    this.onStatus = onStatus;
    this.nextId = 1;
    this.pending = new Map();
    this.channels = new Map(); // channel -> { handler, offset, epoch }
    this.closed = false;
    this.backoff = 500;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = this.token ? `?access_token=${encodeURIComponent(this.token)}` : "";
    const ws = new WebSocket(`${scheme}://${location.host}/ws${query}`);
    this.ws = ws;
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
    ws.onopen = () => {
      this.backoff = 500;
      this.onStatus("connected");
      this.resolveReady();
      for (const [channel, sub] of this.channels) this.sendSubscribe(channel, sub);
    };
    ws.onmessage = (m) => this.receive(JSON.parse(m.data));
    ws.onclose = (e) => {
      for (const { reject } of this.pending.values()) reject(new Error("connection closed"));
      this.pending.clear();
      if (this.closed || (e.code >= 3500 && e.code < 4000)) {
        this.onStatus("closed");
        return;
      }
      this.onStatus("reconnecting");
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  }

  receive(frame) {
    if (frame.type === "ping") return this.ws.send(JSON.stringify({ type: "pong" }));
    if ((frame.type === "ack" || frame.type === "error") && frame.id && this.pending.has(frame.id)) {
      const { resolve, reject } = this.pending.get(frame.id);
      this.pending.delete(frame.id);
      if (frame.type === "ack") resolve(frame.result);
      else reject(Object.assign(new Error(frame.message), { code: frame.code, retryAfterMs: frame.retry_after_ms }));
      return;
    }
    const sub = frame.channel && this.channels.get(frame.channel);
    if (!sub) return;
    if (frame.type === "snapshot") {
      sub.offset = frame.offset;
      sub.epoch = frame.epoch;
      sub.handler({ kind: "snapshot", data: frame.state });
    } else if (frame.type === "pub") {
      if (!frame.ephemeral) {
        sub.offset = frame.offset;
        sub.epoch = frame.epoch;
      }
      sub.handler(frame.event);
    } else if (frame.type === "unsubscribed") {
      this.channels.delete(frame.channel);
      sub.handler({ kind: "unsubscribed", data: frame });
    }
  }

  async request(frame) {
    await this.ready;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  /// Calls handler(event) for the snapshot ({kind:"snapshot"}) and every publication.
  subscribe(channel, handler) {
    const sub = { handler, offset: null, epoch: null };
    this.channels.set(channel, sub);
    if (this.ws.readyState === WebSocket.OPEN) return this.sendSubscribe(channel, sub);
    return this.ready;
  }

  sendSubscribe(channel, sub) {
    const frame = { type: "subscribe", channel };
    if (sub.offset !== null) frame.recover = { offset: sub.offset, epoch: sub.epoch };
    return this.request(frame).catch((err) => sub.handler({ kind: "subscribe_failed", data: err }));
  }

  unsubscribe(channel) {
    if (!this.channels.delete(channel)) return Promise.resolve();
    return this.request({ type: "unsubscribe", channel }).catch(() => {});
  }

  close() {
    this.closed = true;
    this.ws.close();
  }
}
