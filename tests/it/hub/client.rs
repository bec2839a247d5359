//! A small protocol client over tokio-tungstenite, for tests.

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::TestApp;

const WAIT: Duration = Duration::from_secs(10);

pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Frames read while waiting for something else.
    pending: VecDeque<Value>,
    pub connected: Value,
    closed_with: Option<u16>,
}

/// How a connection ended.
#[derive(Debug, PartialEq)]
pub enum Ended {
    Closed(Option<u16>),
    Dropped,
}

impl WsClient {
    pub fn ws_url(app: &TestApp, token: Option<&str>) -> String {
        let base = app.address.replacen("http://", "ws://", 1);
        match token {
            Some(token) => format!("{base}/ws?access_token={token}"),
            None => format!("{base}/ws"),
        }
    }

    pub async fn connect(app: &TestApp, token: Option<&str>) -> WsClient {
        let (ws, _) = tokio_tungstenite::connect_async(Self::ws_url(app, token)).await.expect("websocket connects");
        Self::start(ws).await
    }

    /// Connects with a tiny receive buffer, so a client that stops reading
    /// backs up into the server quickly.
    pub async fn connect_with_small_buffer(app: &TestApp, token: Option<&str>) -> WsClient {
        let addr = app.address.trim_start_matches("http://").parse().unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(Self::ws_url(app, token), MaybeTlsStream::Plain(stream)).await.expect("websocket connects");
        Self::start(ws).await
    }

    async fn start(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> WsClient {
        let mut client = WsClient { ws, next_id: 1, pending: VecDeque::new(), connected: Value::Null, closed_with: None };
        let connected = client.next().await;
        assert_eq!(connected["type"], "connected", "{connected}");
        assert_eq!(connected["v"], 1);
        client.connected = connected;
        client
    }

    pub async fn send(&mut self, frame: Value) {
        self.ws.send(Message::Text(frame.to_string().into())).await.expect("send");
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.expect("send");
    }

    async fn read(&mut self) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next()).await.expect("a frame within 10 s")?;
            match message {
                Ok(Message::Text(text)) => {
                    let value: Value = serde_json::from_str(text.as_str()).expect("server frames are JSON");
                    if value["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await;
                        continue;
                    }
                    return Some(value);
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// The next frame (pings are answered and skipped).
    pub async fn next(&mut self) -> Value {
        if let Some(v) = self.pending.pop_front() {
            return v;
        }
        self.read().await.expect("the connection is open")
    }

    /// The next frame matching `want`; others stay queued in order.
    pub async fn next_where(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&want) {
            return self.pending.remove(i).unwrap();
        }
        loop {
            let v = self.read().await.expect("the connection is open");
            if want(&v) {
                return v;
            }
            self.pending.push_back(v);
        }
    }

    /// The next publication of `kind` (ephemeral aggregates in between are skipped).
    pub async fn next_pub(&mut self, kind: &str) -> Value {
        let kind = kind.to_string();
        self.next_where(move |v| v["type"] == "pub" && v["event"]["kind"] == kind.as_str()).await
    }

    /// Sends a request with a fresh id; returns its `ack` or `error`.
    pub async fn request(&mut self, mut frame: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        frame["id"] = json!(id);
        self.send(frame).await;
        self.next_where(move |v| v["id"] == id && (v["type"] == "ack" || v["type"] == "error")).await
    }

    /// Subscribes and returns (ack, snapshot frame or Null when recovered).
    pub async fn subscribe(&mut self, channel: &str, recover: Option<Value>) -> (Value, Value) {
        let mut frame = json!({"type": "subscribe", "channel": channel});
        if let Some(r) = recover {
            frame["recover"] = r;
        }
        let ack = self.request(frame).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        if ack["result"]["recovered"] == true {
            return (ack, Value::Null);
        }
        let snapshot = self.next_where(|v| v["type"] == "snapshot").await;
        (ack, snapshot)
    }

    pub async fn chat(&mut self, room: &str, text: &str) -> Value {
        self.request(json!({"type": "chat.send", "room": room, "text": text})).await
    }

    pub async fn moderate(&mut self, room: &str, action: Value) -> Value {
        let mut frame = action;
        frame["type"] = json!("moderate");
        frame["room"] = json!(room);
        self.request(frame).await
    }

    /// The next frame, or None once the server ends the connection (its
    /// close code is then in `close_code()`).
    pub async fn next_or_end(&mut self) -> Option<Value> {
        if let Some(v) = self.pending.pop_front() {
            return Some(v);
        }
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(text.as_str()).expect("server frames are JSON")),
                Some(Ok(Message::Close(frame))) => {
                    self.closed_with = frame.map(|f| u16::from(f.code));
                    return None;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub fn close_code(&self) -> Option<u16> {
        self.closed_with
    }

    /// Reads until the server ends the connection; returns how.
    pub async fn until_closed(&mut self) -> Ended {
        loop {
            match tokio::time::timeout(Duration::from_secs(30), self.ws.next()).await.expect("the server ends the connection within 30 s") {
                Some(Ok(Message::Close(frame))) => return Ended::Closed(frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Ended::Dropped,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame { code: CloseCode::Normal, reason: "bye".into() })).await;
    }
}
