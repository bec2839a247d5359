//! Who may publish media into a room over WHIP, as one table: every kind of
//! credential a client can present, and whether it gets past authorization.
//! The offer is deliberately not SDP, so an admitted credential gets 400
//! (nothing is published and the table's rows do not interfere) and a refused
//! one 401 or 403.

use serde_json::{json, Value};

use crate::hub::user;
use crate::rooms::seller_with_shop;
use crate::sfu_whip_whep::{post_sdp, room};
use crate::support::{spawn_app, TestApp};

async fn minted(app: &TestApp, token: &str, room: &str) -> String {
    let res = app.client.post(app.url(&format!("/api/v1/rooms/{room}/token"))).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 200, "minting a LiveKit token for {room}");
    res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn only_the_rooms_seller_its_stream_key_an_admin_or_a_publish_grant_for_the_room_can_publish() {
    let app = spawn_app().await;
    let admin = app.create_admin().await["access_token"].as_str().unwrap().to_string();
    let (seller, key) = room(&app, "spring", "public").await;
    let (_, other_rooms_key) = room(&app, "autumn", "public").await;
    let (moderator, _) = user(&app, "mo@example.com").await;
    let res = app.client.post(app.url("/api/v1/shops/acme/members")).bearer_auth(&seller).json(&json!({"email": "mo@example.com", "role": "moderator"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let (customer, _) = user(&app, "cy@example.com").await;
    let rival = seller_with_shop(&app, "rita@example.com", "rival").await;
    let rival_room = app.client.post(app.url("/api/v1/shops/rival/rooms")).bearer_auth(&rival).json(&json!({"name": "rival-show", "title": "Rival"})).send().await.unwrap();
    assert_eq!(rival_room.status(), 201);
    let rotated = app.client.post(app.url("/api/v1/rooms/autumn/stream-key")).bearer_auth(&seller).send().await.unwrap();
    assert_eq!(rotated.status(), 200);
    let other_rooms_new_key = rotated.json::<Value>().await.unwrap()["stream_key"].as_str().unwrap().to_string();

    let cases: Vec<(&str, Option<String>, bool)> = vec![
        ("the room's seller (access token)", Some(seller.clone()), true),
        ("an admin (access token)", Some(admin.clone()), true),
        ("the room's stream key", Some(key.clone()), true),
        ("a LiveKit token the seller minted for the room", Some(minted(&app, &seller, "spring").await), true),
        ("anonymous", None, false),
        ("a customer (access token)", Some(customer.clone()), false),
        ("the room's moderator (access token)", Some(moderator.clone()), false),
        ("another shop's seller (access token)", Some(rival.clone()), false),
        ("another room's stream key", Some(other_rooms_new_key), false),
        ("another room's old stream key (rotated out)", Some(other_rooms_key), false),
        ("a LiveKit token a customer minted for the room", Some(minted(&app, &customer, "spring").await), false),
        ("a LiveKit token the moderator minted for the room", Some(minted(&app, &moderator, "spring").await), false),
        ("a LiveKit token the seller minted for another room", Some(minted(&app, &seller, "autumn").await), false),
        ("a LiveKit token another shop's seller minted for its own room", Some(minted(&app, &rival, "rival-show").await), false),
        ("a made-up stream key", Some("sk_made-up".into()), false),
    ];
    let mut wrong = Vec::new();
    for (who, token, may) in cases {
        let status = post_sdp(&app, "/whip/spring", token.as_deref(), "not an sdp offer").await.status().as_u16();
        let admitted = !matches!(status, 401 | 403);
        if admitted != may {
            wrong.push(format!("{who}: expected {}, got {status}", if may { "admitted" } else { "refused" }));
        }
    }
    assert!(wrong.is_empty(), "publish rights:\n{}", wrong.join("\n"));
}
