//! Admission control (src/admission): beyond capacity the server answers at
//! once (503 `overloaded` + `Retry-After`, 429 before a WebSocket upgrade,
//! `room_full` for a room's subscription) instead of queueing without bound,
//! while admitted work completes and health stays reachable.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;

use crate::hub::{create_room, room_fixture, WsClient};
use crate::support::{error_code, spawn_app_with, TestApp, PASSWORD};

/// A registration whose body arrives in two halves: the request holds its
/// admission slot (the handler waits for the body) until `finish` is called.
struct HeldRequest {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl HeldRequest {
    async fn start(app: &TestApp, email: &str) -> HeldRequest {
        let body = json!({"email": email, "password": PASSWORD, "display_name": "Held"}).to_string().into_bytes();
        let addr = app.address.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /api/v1/auth/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let half = body.len() / 2;
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body[..half]).await.unwrap();
        HeldRequest { stream, rest: body[half..].to_vec() }
    }

    /// Sends the rest of the body; returns the response's status line.
    async fn finish(mut self) -> String {
        self.stream.write_all(&self.rest).await.unwrap();
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), self.stream.read_to_end(&mut response)).await.expect("an answer").unwrap();
        String::from_utf8_lossy(&response).lines().next().unwrap_or_default().to_string()
    }
}

/// Waits (bounded) until the server's admission counters reach a state.
async fn until(app: &TestApp, what: &str, reached: impl Fn(&streamcart::admission::Admission) -> bool) {
    let admission = app.admission.as_ref().expect("an in-process server");
    for _ in 0..1000 {
        if reached(admission) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server never reached: {what}");
}

fn one_slot(max_queued: usize) -> impl FnOnce(&mut streamcart::Settings) {
    move |s| {
        s.admission.max_in_flight = 1;
        s.admission.max_queued = max_queued;
        s.admission.queue_timeout = Duration::from_secs(60);
        s.admission.retry_after_secs = 3;
    }
}

#[tokio::test]
async fn beyond_capacity_a_request_is_shed_with_503_overloaded_and_retry_after() {
    let app = spawn_app_with(one_slot(0)).await;
    let held = HeldRequest::start(&app, "held@example.com").await;
    until(&app, "one request in flight", |a| a.http_in_flight() == 1).await;

    let shed = app.client.get(app.url("/api/v1/rooms/anything")).send().await.unwrap();
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "3");
    assert_eq!(error_code(shed).await, "overloaded");

    assert_eq!(held.finish().await, "HTTP/1.1 201 Created", "the admitted request still completes");
    let after = app.client.get(app.url("/api/v1/rooms/anything")).send().await.unwrap();
    assert_eq!(after.status(), 404, "with the slot free again the API answers normally");
}

#[tokio::test]
async fn health_and_metrics_answer_while_the_api_is_at_capacity() {
    let app = spawn_app_with(one_slot(0)).await;
    let held = HeldRequest::start(&app, "held@example.com").await;
    until(&app, "one request in flight", |a| a.http_in_flight() == 1).await;
    for path in ["/health/live", "/health/ready", "/metrics"] {
        assert_eq!(app.client.get(app.url(path)).send().await.unwrap().status(), 200, "{path} is exempt from shedding");
    }
    assert_eq!(app.client.get(app.url("/api/v1/rooms/x")).send().await.unwrap().status(), 503);
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("streamcart_http_shed_total"), "shedding is counted: {metrics}");
    drop(held);
}

#[tokio::test]
async fn a_queued_request_runs_when_a_slot_frees_and_the_queue_itself_is_bounded() {
    let app = spawn_app_with(one_slot(1)).await;
    let held = HeldRequest::start(&app, "held@example.com").await;
    until(&app, "one request in flight", |a| a.http_in_flight() == 1).await;
    let queued = tokio::spawn({
        let (client, url) = (app.client.clone(), app.url("/api/v1/auth/register"));
        async move { client.post(url).json(&json!({"email": "queued@example.com", "password": PASSWORD, "display_name": "Q"})).send().await.unwrap().status() }
    });
    until(&app, "one request queued", |a| a.http_queued() == 1).await;

    let shed = app.client.get(app.url("/api/v1/rooms/anything")).send().await.unwrap();
    assert_eq!(shed.status(), 503, "the queue is full: shed at once rather than queued");

    assert_eq!(held.finish().await, "HTTP/1.1 201 Created");
    assert_eq!(queued.await.unwrap(), 201, "the queued request was served once a slot freed");
    assert_eq!(app.login("queued@example.com", PASSWORD).await.status(), 200);
}

type Refusal = tungstenite::http::Response<Option<Vec<u8>>>;
type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Connects without the test client's assertions; the HTTP answer when refused.
async fn try_ws(app: &TestApp) -> Result<Socket, Refusal> {
    match tokio_tungstenite::connect_async(WsClient::ws_url(app, None)).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err(*response),
        Err(other) => panic!("unexpected WebSocket failure: {other}"),
    }
}

fn refusal_code(response: &Refusal) -> String {
    let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).expect("a JSON error body");
    body["error"]["code"].as_str().unwrap_or_default().to_string()
}

/// Connects as the client address `forwarded` (the server trusts `X-Forwarded-For`).
async fn ws_from(app: &TestApp, forwarded: &str) -> Result<Socket, Refusal> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = WsClient::ws_url(app, None).into_client_request().unwrap();
    request.headers_mut().insert("x-forwarded-for", forwarded.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err(*response),
        Err(other) => panic!("unexpected WebSocket failure: {other}"),
    }
}

#[tokio::test]
async fn an_address_at_its_websocket_cap_is_refused_429_before_the_upgrade_until_it_closes_one() {
    let app = spawn_app_with(|s| {
        s.trust_forwarded_for = true;
        s.admission.ws_max_per_ip = 2;
        s.admission.retry_after_secs = 5;
    })
    .await;
    let mut first = ws_from(&app, "203.0.113.7").await.expect("first connection");
    let _second = ws_from(&app, "203.0.113.7").await.expect("second connection");
    let response = ws_from(&app, "203.0.113.7").await.err().expect("a third connection from the same address is refused");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(refusal_code(&response), "too_many_connections");
    assert!(ws_from(&app, "198.51.100.9").await.is_ok(), "another address is not affected");

    first.close(None).await.unwrap();
    drop(first);
    let mut admitted = false;
    for _ in 0..200 {
        if ws_from(&app, "203.0.113.7").await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admitted, "closing a connection gives its slot back");
}

#[tokio::test]
async fn a_node_at_its_websocket_cap_refuses_new_connections_with_503_overloaded() {
    let app = spawn_app_with(|s| s.admission.ws_max_connections = 1).await;
    let _only = WsClient::connect(&app, None).await;
    let response = try_ws(&app).await.err().expect("the node is full");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(refusal_code(&response), "overloaded");
}

#[tokio::test]
async fn a_full_room_refuses_a_subscriber_with_room_full_and_other_rooms_still_admit() {
    let app = spawn_app_with(|s| s.admission.ws_max_per_room = 1).await;
    let fixture = room_fixture(&app).await;
    create_room(&app, &fixture.seller, "other", "public").await;
    let mut first = WsClient::connect(&app, None).await;
    first.subscribe("room:show", None).await;

    let mut second = WsClient::connect(&app, None).await;
    let refused = second.request(json!({"type": "subscribe", "channel": "room:show"})).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "room_full");
    assert!(refused["retry_after_ms"].as_u64().unwrap_or(0) >= 1000, "{refused}");
    second.subscribe("room:other", None).await;

    let left = first.request(json!({"type": "unsubscribe", "channel": "room:show"})).await;
    assert_eq!(left["type"], "ack", "{left}");
    second.subscribe("room:show", None).await;
}
