//! Polls and giveaways: one vote per viewer with live tallies, closed by
//! staff or by the deadline; giveaways with an entry window, a buyers-only
//! option and a draw anyone can verify from the revealed seed.

use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{live_room, product, viewer};
use crate::commerce::{add_to_cart, buyer, checkout, get, post, same_store, GOOD_CARD};
use crate::hub::WsClient;
use crate::support::{spawn_app, TestApp};

async fn start_poll(app: &TestApp, seller: &str, duration_secs: Option<i64>) -> Value {
    let res = post(app, seller, "/api/v1/rooms/show/polls", json!({"question": "Which colour next?", "answers": ["Red", "Blue", "Green"], "duration_secs": duration_secs})).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn vote(app: &TestApp, token: &str, poll: &str, answer: i64) -> reqwest::Response {
    post(app, token, &format!("/api/v1/rooms/show/polls/{poll}/votes"), json!({"answer": answer})).await
}

async fn event_log_kinds(app: &TestApp, kinds: &[&str]) -> Vec<Value> {
    for _ in 0..100 {
        let body: Value = app.client.get(app.url("/api/v1/rooms/show/event-log")).send().await.unwrap().json().await.unwrap();
        let items = body["items"].as_array().unwrap().clone();
        if kinds.iter().all(|k| items.iter().any(|e| e["kind"] == *k)) {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the event log never held all of {kinds:?}");
}

#[tokio::test]
async fn a_poll_s_votes_are_tallied_live_and_each_viewer_votes_once() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (mut room, _) = viewer(&app).await;
    let poll = start_poll(&app, &seller, None).await;
    let id = poll["id"].as_str().unwrap().to_string();
    assert_eq!(poll["tallies"], json!([0, 0, 0]));
    room.next_where(|v| v["event"]["kind"] == "poll.started").await;

    let ana = buyer(&app, "ana@example.com").await;
    let bo = buyer(&app, "bo@example.com").await;
    assert_eq!(vote(&app, &ana, &id, 1).await.status(), 200);
    let res = vote(&app, &ana, &id, 2).await;
    assert_eq!(res.status(), 409);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "already_voted");
    let mut ws = WsClient::connect(&app, Some(&bo)).await;
    let ack = ws.request(json!({"type": "poll.vote", "room": "show", "poll_id": id, "answer": 1})).await;
    assert_eq!(ack["type"], "ack", "{ack}");

    let tally = room.next_where(|v| v["event"]["kind"] == "poll.tally" && v["event"]["data"]["votes"] == 2).await;
    assert_eq!(tally["event"]["data"]["tallies"], json!([0, 2, 0]));
    let (_late, snapshot) = viewer(&app).await;
    assert_eq!(snapshot["polls"][0]["tallies"], json!([0, 2, 0]), "a late joiner sees the open poll with its tallies");

    let res = post(&app, &seller, &format!("/api/v1/rooms/show/polls/{id}/close"), json!({})).await;
    assert_eq!(res.status(), 200);
    let closed = room.next_where(|v| v["event"]["kind"] == "poll.closed").await;
    assert_eq!(closed["event"]["data"]["poll"]["tallies"], json!([0, 2, 0]));
    assert_eq!(closed["event"]["data"]["poll"]["close_reason"], "staff");
    let carl = buyer(&app, "carl@example.com").await;
    assert_eq!(vote(&app, &carl, &id, 0).await.status(), 409, "closed");

    let polls = get(&app, &carl, "/api/v1/rooms/show/polls").await;
    assert_eq!(polls[0]["status"], "closed");
    assert_eq!(polls[0]["votes"], 2);
    event_log_kinds(&app, &["poll.started", "poll.closed"]).await;
}

#[tokio::test]
async fn a_vote_for_an_answer_the_poll_does_not_have_is_refused() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let id = start_poll(&app, &seller, Some(60)).await["id"].as_str().unwrap().to_string();
    let ana = buyer(&app, "ana@example.com").await;
    let res = vote(&app, &ana, &id, 3).await;
    assert_eq!(res.status(), 422);
    assert_eq!(vote(&app, &ana, &id, 2).await.status(), 200, "the refused vote did not use up the viewer's vote");
}

#[tokio::test]
async fn a_room_has_one_open_poll_at_a_time_with_two_to_four_answers() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let res = post(&app, &seller, "/api/v1/rooms/show/polls", json!({"question": "Q?", "answers": ["a", "b", "c", "d", "e"]})).await;
    assert_eq!(res.status(), 422);
    start_poll(&app, &seller, None).await;
    let res = post(&app, &seller, "/api/v1/rooms/show/polls", json!({"question": "Q?", "answers": ["a", "b"]})).await;
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn a_poll_closes_by_itself_at_its_deadline() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (mut room, _) = viewer(&app).await;
    let store = same_store(&app).await;
    let row = store.room_by_name("show").await.unwrap().unwrap();
    let seller_id = get(&app, &seller, "/api/v1/me").await["user"]["id"].as_str().unwrap().to_string();
    let poll = streamcart::live::poll::NewPoll { question: "Quick?".into(), answers: vec!["Yes".into(), "No".into()], duration_ms: Some(300) };
    let created = store.create_poll(&row.id, &seller_id, &poll, streamcart::store::now_ms()).await.unwrap();
    let closed = room.next_where(|v| v["event"]["kind"] == "poll.closed").await;
    assert_eq!(closed["event"]["data"]["poll"]["id"], created.id.as_str());
    assert_eq!(closed["event"]["data"]["poll"]["close_reason"], "deadline");
}

async fn start_giveaway(app: &TestApp, seller: &str, eligibility: &str) -> Value {
    let res = post(app, seller, "/api/v1/rooms/show/giveaways", json!({"prize": "A signed hat", "duration_secs": 60, "eligibility": eligibility})).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn enter(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    post(app, token, &format!("/api/v1/rooms/show/giveaways/{id}/entries"), json!({})).await
}

#[tokio::test]
async fn a_giveaway_s_winner_can_be_verified_from_the_revealed_seed_and_the_entrants() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (mut room, _) = viewer(&app).await;
    let giveaway = start_giveaway(&app, &seller, "everyone").await;
    let id = giveaway["id"].as_str().unwrap().to_string();
    let seed_hash = giveaway["seed_hash"].as_str().unwrap().to_string();
    assert!(giveaway["seed"].is_null(), "the seed stays secret until the draw");
    room.next_where(|v| v["event"]["kind"] == "giveaway.started" && v["event"]["data"]["giveaway"]["seed"].is_null()).await;

    let mut tokens = Vec::new();
    for name in ["ana", "bo", "carl"] {
        tokens.push(buyer(&app, &format!("{name}@example.com")).await);
    }
    assert_eq!(enter(&app, &tokens[0], &id).await.status(), 200);
    assert_eq!(enter(&app, &tokens[1], &id).await.status(), 200);
    let mut ws = WsClient::connect(&app, Some(&tokens[2])).await;
    let ack = ws.request(json!({"type": "giveaway.enter", "room": "show", "giveaway_id": id})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(enter(&app, &tokens[0], &id).await.status(), 409, "one entry each");
    assert_eq!(enter(&app, &seller, &id).await.status(), 403, "the seller cannot enter");
    room.next_where(|v| v["event"]["kind"] == "giveaway.entries" && v["event"]["data"]["entrants"] == 3).await;

    let res = post(&app, &seller, &format!("/api/v1/rooms/show/giveaways/{id}/draw"), json!({})).await;
    assert_eq!(res.status(), 200);
    let drawn: Value = res.json().await.unwrap();
    let seed = drawn["seed"].as_str().unwrap();
    assert_eq!(hex::encode(Sha256::digest(seed.as_bytes())), seed_hash, "the revealed seed is the one committed to");
    assert_eq!(drawn["entrants"], 3);

    let proof = get(&app, &tokens[0], &format!("/api/v1/rooms/show/giveaways/{id}/entrants")).await;
    let entrants: Vec<String> = proof["entrants"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect();
    let mut sorted = entrants.clone();
    sorted.sort();
    assert_eq!(entrants, sorted, "published in draw order");
    let digest = Sha256::digest(format!("{seed}\n{}", entrants.join("\n")).as_bytes());
    let index = (u128::from_be_bytes(digest[..16].try_into().unwrap()) % entrants.len() as u128) as usize;
    assert_eq!(drawn["winner"]["user_id"], entrants[index].as_str(), "anyone can recompute the winner");

    let announced = room.next_where(|v| v["event"]["kind"] == "giveaway.drawn").await;
    assert_eq!(announced["event"]["data"]["giveaway"]["winner"], drawn["winner"]);
    let late = buyer(&app, "dee@example.com").await;
    assert_eq!(enter(&app, &late, &id).await.status(), 409, "entries closed with the draw");
    event_log_kinds(&app, &["giveaway.started", "giveaway.drawn"]).await;
}

#[tokio::test]
async fn a_buyers_only_giveaway_admits_only_customers_with_a_paid_order() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let id = start_giveaway(&app, &seller, "buyers").await["id"].as_str().unwrap().to_string();
    let ana = buyer(&app, "ana@example.com").await;
    let res = enter(&app, &ana, &id).await;
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "buyers_only");
    add_to_cart(&app, &ana, &variant, 1).await;
    assert_eq!(checkout(&app, &ana, "k-1", Some(GOOD_CARD)).await.status(), 201);
    assert_eq!(enter(&app, &ana, &id).await.status(), 200);
}

#[tokio::test]
async fn a_giveaway_is_drawn_when_its_entry_window_ends() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (mut room, _) = viewer(&app).await;
    let store = same_store(&app).await;
    let row = store.room_by_name("show").await.unwrap().unwrap();
    let seller_id = get(&app, &seller, "/api/v1/me").await["user"]["id"].as_str().unwrap().to_string();
    let g = streamcart::live::giveaway::NewGiveaway { prize: "Socks".into(), window_ms: 3_000, eligibility: streamcart::live::giveaway::Eligibility::Everyone };
    let created = store.create_giveaway(&row.id, &seller_id, &g, "a-known-seed", streamcart::store::now_ms()).await.unwrap();
    let ana = buyer(&app, "ana@example.com").await;
    let ana_id = get(&app, &ana, "/api/v1/me").await["user"]["id"].as_str().unwrap().to_string();
    let mut inbox = WsClient::connect(&app, Some(&ana)).await;
    inbox.subscribe(&format!("user:{ana_id}"), None).await;
    assert_eq!(enter(&app, &ana, &created.id).await.status(), 200);
    let drawn = room.next_where(|v| v["event"]["kind"] == "giveaway.drawn").await;
    assert_eq!(drawn["event"]["data"]["giveaway"]["seed"], "a-known-seed");
    assert_eq!(drawn["event"]["data"]["giveaway"]["winner"]["user_id"], ana_id.as_str(), "the only entrant wins");
    let won = inbox.next_where(|v| v["event"]["kind"] == "giveaway.won").await;
    assert_eq!(won["event"]["data"]["prize"], "Socks");
}
