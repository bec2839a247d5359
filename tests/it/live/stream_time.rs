//! The event log's stream time comes from a real publisher's media clock: a
//! str0m peer publishes over WHIP, and a pin made while it streams is logged
//! at the RTP time its sender reports map the wall clock to.

use std::time::Duration;

use serde_json::Value;

use super::{pin, product};
use crate::sfu_media::{connect, receive};
use crate::sfu_whip_whep::room;
use crate::support::spawn_app;

#[tokio::test]
async fn a_pin_made_while_streaming_is_logged_at_the_publisher_s_rtp_time() {
    let app = spawn_app().await;
    let (seller, _) = room(&app, "show", "public").await;
    let (product_id, _) = product(&app, &seller, "TEE-1", 2000, 10).await;
    let _publisher = connect(&app, "/whip/show", Some(&seller), true, b"show").await;
    let mut viewer = connect(&app, "/whep/show", None, false, b"").await;
    receive(&mut viewer, 3, 3).await;
    let clock_url = app.url("/api/v1/rooms/show/media-clock");
    let mut clock = Value::Null;
    for _ in 0..100 {
        let res = app.client.get(&clock_url).send().await.unwrap();
        if res.status() == 200 {
            clock = res.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(clock.is_object(), "the publisher's sender reports gave the room a media clock");

    assert_eq!(pin(&app, &seller, &product_id).await.status(), 201);
    let mut pinned = Value::Null;
    for _ in 0..100 {
        let body: Value = app.client.get(app.url("/api/v1/rooms/show/event-log")).send().await.unwrap().json().await.unwrap();
        if let Some(e) = body["items"].as_array().unwrap().iter().find(|e| e["kind"] == "product.pinned") {
            pinned = e.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stream = &pinned["stream"];
    assert_eq!(stream["clock_rate"], clock["clock_rate"], "{pinned}");
    let rate = clock["clock_rate"].as_i64().unwrap();
    let at = pinned["at"].as_i64().unwrap();
    let expected = clock["rtp_timestamp"].as_i64().unwrap() + (at - clock["ntp_unix_ms"].as_i64().unwrap()) * rate / 1000;
    let off_ms = (stream["rtp_timestamp"].as_i64().unwrap() - expected).abs() * 1000 / rate;
    assert!(off_ms < 500, "logged {off_ms} ms away from the publisher's clock: {pinned} vs {clock}");
}
