//! Live auctions end to end: bids judged by the store in arrival order,
//! proxy bids, anti-sniping and sudden death, the close at the persisted
//! deadline, the winner's order and the runner-up's second chance.

use serde_json::{json, Value};

use super::{live_room, product, viewer};
use crate::commerce::{get, post, same_store, stock};
use crate::support::{error_code, spawn_app, spawn_app_sharing, TestApp, PASSWORD};

const WINDOW_MS: i64 = 15 * 60_000;

/// A signed-in viewer with a display name of their own; returns (token, user id).
async fn bidder(app: &TestApp, email: &str, name: &str) -> (String, String) {
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": email, "password": PASSWORD, "display_name": name}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["user"]["id"].as_str().unwrap().to_string(),
    )
}

async fn start(app: &TestApp, seller: &str, body: Value) -> Value {
    let res = post(app, seller, "/api/v1/rooms/show/auctions", body).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// An auction of one unit of a fresh variant starting at 10.00 for 60 s.
async fn auction(app: &TestApp, seller: &str, extra: Value) -> (Value, String) {
    let (_, variant) = product(app, seller, "LOT-1", 5000, 3).await;
    let mut body = json!({"variant_id": variant, "starting_price": 1000, "duration_secs": 60});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    (start(app, seller, body).await, variant)
}

async fn bid(
    app: &TestApp,
    token: &str,
    auction: &Value,
    amount: i64,
    max: Option<i64>,
) -> reqwest::Response {
    let path = format!(
        "/api/v1/rooms/show/auctions/{}/bids",
        auction["id"].as_str().unwrap()
    );
    let mut body = json!({"amount": amount});
    if let Some(max) = max {
        body["max_amount"] = json!(max);
    }
    post(app, token, &path, body).await
}

async fn listed(app: &TestApp, token: &str) -> Value {
    get(app, token, "/api/v1/rooms/show/auctions").await["items"][0].clone()
}

/// Closes the auction as the room task would at `at` (instead of waiting for the deadline).
async fn close_at(app: &TestApp, auction: &Value, at: i64) {
    let store = same_store(app).await;
    let closing = store
        .close_auction(auction["id"].as_str().unwrap(), at, WINDOW_MS)
        .await
        .unwrap();
    assert!(
        matches!(closing, streamcart::live::auction_store::Closing::Closed(_)),
        "{closing:?}"
    );
}

#[tokio::test]
async fn a_started_auction_is_announced_with_its_server_deadline() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (mut ws, _) = viewer(&app).await;
    let (created, _) = auction(&app, &seller, json!({})).await;
    assert_eq!(
        (
            created["status"].as_str(),
            created["current_price"].as_i64(),
            created["min_next_bid"].as_i64()
        ),
        (Some("running"), Some(1000), Some(1000))
    );
    assert_eq!(
        (
            created["leader"].clone(),
            created["bid_count"].as_i64(),
            created["title"].as_str()
        ),
        (Value::Null, Some(0), Some("Item LOT-1"))
    );
    let started = ws.next_pub("auction.started").await;
    assert_eq!(started["event"]["data"]["id"], created["id"]);
    assert_eq!(started["event"]["data"]["ends_at"], created["ends_at"]);
    assert!(started["event"]["data"]["server_now"].as_i64().is_some());
}

#[tokio::test]
async fn a_late_joiner_sees_the_running_auction_in_the_snapshot() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (created, _) = auction(&app, &seller, json!({})).await;
    let (_late, state) = viewer(&app).await;
    assert_eq!(state["auctions"][0]["id"], created["id"]);
    assert_eq!(state["auctions"][0]["ends_at"], created["ends_at"]);
}

#[tokio::test]
async fn a_bid_below_the_minimum_is_refused_with_the_minimum() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (created, _) = auction(&app, &seller, json!({})).await;
    let (ann, _) = bidder(&app, "ann@example.com", "Ann").await;
    let res = bid(&app, &ann, &created, 999, None).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (
            body["error"]["code"].as_str(),
            body["min_next_bid"].as_i64()
        ),
        (Some("bid_too_low"), Some(1000))
    );
    assert_eq!(
        listed(&app, &ann).await["bid_count"],
        0,
        "a refused bid changes nothing"
    );
}

#[tokio::test]
async fn a_proxy_bid_outbids_up_to_its_maximum_by_one_increment() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (created, _) = auction(&app, &seller, json!({})).await;
    let (ann, _) = bidder(&app, "ann@example.com", "Ann").await;
    let (bob, _) = bidder(&app, "bob@example.com", "Bob").await;
    let first: Value = bid(&app, &ann, &created, 1000, Some(3000))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            first["accepted"].as_bool(),
            first["leading"].as_bool(),
            first["auction"]["current_price"].as_i64()
        ),
        (Some(true), Some(true), Some(1000))
    );
    let res = bid(&app, &bob, &created, 1500, None).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    assert_eq!(second["leading"], false, "Ann's proxy answered");
    assert_eq!(
        (
            second["auction"]["current_price"].as_i64(),
            second["auction"]["leader"].as_str()
        ),
        (Some(1600), Some("Ann"))
    );
    assert_eq!(second["auction"]["min_next_bid"], 1700);
}

#[tokio::test]
async fn a_bid_in_the_anti_snipe_window_extends_the_deadline_for_everyone() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    // A 60 s window on a 60 s auction: every bid is in the last 60 s.
    let (created, _) = auction(&app, &seller, json!({"anti_snipe_secs": 60})).await;
    let (mut ws, _) = viewer(&app).await;
    let (ann, _) = bidder(&app, "ann@example.com", "Ann").await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let ack: Value = bid(&app, &ann, &created, 1000, None)
        .await
        .json()
        .await
        .unwrap();
    let extended = ack["auction"]["ends_at"].as_i64().unwrap();
    assert!(extended > created["ends_at"].as_i64().unwrap(), "{ack}");
    let event = ws.next_pub("auction.bid").await;
    assert_eq!(event["event"]["data"]["ends_at"], extended);
    assert_eq!(event["event"]["data"]["leader"], "Ann");
}

#[tokio::test]
async fn a_sudden_death_auction_never_extends() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (created, _) = auction(&app, &seller, json!({"sudden_death": true})).await;
    assert_eq!(created["sudden_death"], true);
    let (ann, _) = bidder(&app, "ann@example.com", "Ann").await;
    let ack: Value = bid(&app, &ann, &created, 1000, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ack["auction"]["ends_at"], created["ends_at"]);
}

#[tokio::test]
async fn concurrent_bids_are_judged_one_at_a_time_and_the_price_never_regresses() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (created, _) = auction(
        &app,
        &seller,
        json!({"increments": [{"from": 0, "step": 10}]}),
    )
    .await;
    let (mut ws, _) = viewer(&app).await;
    let tokens = crate::commerce::buyers(&app, "bidder", 30).await;
    let attempts = tokens.iter().enumerate().map(|(i, token)| {
        let (app, created) = (&app, &created);
        async move {
            let res = bid(app, token, created, 1000 + 10 * i as i64, None).await;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (status, body["leading"] == true)
        }
    });
    let results = futures::future::join_all(attempts).await;
    assert!(
        results.iter().all(|(s, _)| matches!(s, 200 | 409)),
        "{results:?}"
    );
    let accepted = results.iter().filter(|(s, _)| *s == 200).count() as i64;
    assert_eq!(
        results[29],
        (200, true),
        "the highest bid is accepted and leads"
    );
    let last = listed(&app, &seller).await;
    assert_eq!(
        last["bid_count"], accepted,
        "every acknowledged bid counts, and only those"
    );
    let mut prices = Vec::new();
    while prices.last() != Some(&last["current_price"].as_i64().unwrap()) {
        let event = ws.next_pub("auction.bid").await;
        prices.push(event["event"]["data"]["current_price"].as_i64().unwrap());
    }
    assert!(
        prices.windows(2).all(|w| w[0] <= w[1]),
        "announced prices never go down: {prices:?}"
    );
}

#[tokio::test]
async fn the_room_staff_cannot_bid() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (created, _) = auction(&app, &seller, json!({})).await;
    let res = bid(&app, &seller, &created, 5000, None).await;
    assert_eq!(res.status(), 403);
    assert_eq!(error_code(res).await, "seller_cannot_bid");
}

#[tokio::test]
async fn an_auction_closes_at_its_deadline_and_the_winner_gets_an_order_to_pay() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "LOT-1", 5000, 3).await;
    let created = start(&app, &seller, json!({"variant_id": variant, "starting_price": 1000, "duration_secs": 10, "sudden_death": true})).await;
    let (mut ws, _) = viewer(&app).await;
    let (ann, _) = bidder(&app, "ann@example.com", "Ann").await;
    let (bob, _) = bidder(&app, "bob@example.com", "Bob").await;
    assert_eq!(
        bid(&app, &ann, &created, 1000, Some(2000)).await.status(),
        200
    );
    assert_eq!(bid(&app, &bob, &created, 2500, None).await.status(), 200);
    // The viewer's reads give up after 10 s of silence: wait out most of the 10 s auction first.
    let left_ms = created["ends_at"].as_i64().unwrap() - streamcart::store::now_ms();
    tokio::time::sleep(std::time::Duration::from_millis(
        left_ms.saturating_sub(2_000).max(0) as u64,
    ))
    .await;
    let ended = ws.next_pub("auction.ended").await;
    let data = &ended["event"]["data"];
    assert_eq!(
        (
            data["status"].as_str(),
            data["winner"].as_str(),
            data["final_price"].as_i64()
        ),
        (Some("ended"), Some("Bob"), Some(2250))
    );
    assert!(
        data.get("winner_order_id").is_none(),
        "the order id is not broadcast"
    );
    let mine = listed(&app, &bob).await;
    let order_id = mine["winner_order_id"]
        .as_str()
        .expect("the winner sees their order")
        .to_string();
    assert!(
        listed(&app, &ann).await.get("winner_order_id").is_none(),
        "others do not"
    );
    let order = get(&app, &bob, &format!("/api/v1/orders/{order_id}")).await;
    assert_eq!(
        (
            order["status"].as_str(),
            order["items"][0]["unit_price"].as_i64()
        ),
        (Some("pending_payment"), Some(2250))
    );
    assert!(
        order["expires_at"].as_i64().unwrap() > created["ends_at"].as_i64().unwrap(),
        "a payment window after the close"
    );
    assert_eq!(
        stock(&app, &seller, "acme", &variant).await["reserved"],
        1,
        "the order owns the auctioned unit"
    );
}

#[tokio::test]
async fn an_unpaid_winner_lets_the_seller_offer_the_item_to_the_runner_up_at_their_maximum() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (created, variant) = auction(&app, &seller, json!({})).await;
    let (ann, _) = bidder(&app, "ann@example.com", "Ann").await;
    let (bob, _) = bidder(&app, "bob@example.com", "Bob").await;
    bid(&app, &ann, &created, 1000, Some(2000)).await;
    bid(&app, &bob, &created, 3000, None).await;
    let ends_at = listed(&app, &seller).await["ends_at"].as_i64().unwrap();
    close_at(&app, &created, ends_at).await;
    let offer = format!(
        "/api/v1/rooms/show/auctions/{}/offer-runner-up",
        created["id"].as_str().unwrap()
    );
    let res = post(&app, &seller, &offer, json!({})).await;
    assert_eq!(error_code(res).await, "winner_may_still_pay");

    same_store(&app)
        .await
        .expire_unpaid_orders(ends_at + WINDOW_MS)
        .await
        .unwrap();
    let res = post(&app, &seller, &offer, json!({})).await;
    assert_eq!(res.status(), 200);
    let ann_view = listed(&app, &ann).await;
    assert_eq!(
        (
            ann_view["winner"].as_str(),
            ann_view["final_price"].as_i64()
        ),
        (Some("Ann"), Some(2000))
    );
    let order = get(
        &app,
        &ann,
        &format!(
            "/api/v1/orders/{}",
            ann_view["winner_order_id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(order["status"], "pending_payment");
    assert_eq!(order["items"][0]["unit_price"], 2000);
    assert_eq!(stock(&app, &seller, "acme", &variant).await["reserved"], 1);
    assert_eq!(
        error_code(post(&app, &seller, &offer, json!({})).await).await,
        "already_offered"
    );
}

#[tokio::test]
async fn an_unmet_reserve_sells_nothing_and_returns_the_unit_to_stock() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (created, variant) = auction(&app, &seller, json!({"reserve_price": 5000})).await;
    assert_eq!(
        stock(&app, &seller, "acme", &variant).await["reserved"],
        1,
        "the unit is held while it runs"
    );
    let (ann, _) = bidder(&app, "ann@example.com", "Ann").await;
    let ack: Value = bid(&app, &ann, &created, 1000, Some(3000))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ack["auction"]["reserve_met"], false);
    close_at(&app, &created, ack["auction"]["ends_at"].as_i64().unwrap()).await;
    let view = listed(&app, &seller).await;
    assert_eq!(
        (view["status"].as_str(), view["winner"].clone()),
        (Some("ended"), Value::Null)
    );
    assert!(view.get("winner_order_id").is_none());
    assert_eq!(stock(&app, &seller, "acme", &variant).await["reserved"], 0);
}

#[tokio::test]
async fn a_cancelled_auction_refuses_bids_and_returns_its_unit() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (created, variant) = auction(&app, &seller, json!({})).await;
    let (mut ws, _) = viewer(&app).await;
    let res = post(
        &app,
        &seller,
        &format!(
            "/api/v1/rooms/show/auctions/{}/cancel",
            created["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let ended = ws.next_pub("auction.ended").await;
    assert_eq!(ended["event"]["data"]["status"], "cancelled");
    let (ann, _) = bidder(&app, "ann@example.com", "Ann").await;
    assert_eq!(
        error_code(bid(&app, &ann, &created, 1000, None).await).await,
        "auction_ended"
    );
    assert_eq!(stock(&app, &seller, "acme", &variant).await["reserved"], 0);
}

#[tokio::test]
async fn a_restarted_node_keeps_every_acknowledged_bid_and_the_deadline() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (created, _) = auction(&app, &seller, json!({"anti_snipe_secs": 120})).await;
    let (ann, _) = bidder(&app, "ann@example.com", "Ann").await;
    let (bob, _) = bidder(&app, "bob@example.com", "Bob").await;
    bid(&app, &ann, &created, 1000, Some(5000)).await;
    let ack: Value = bid(&app, &bob, &created, 2000, None)
        .await
        .json()
        .await
        .unwrap();

    let restarted = spawn_app_sharing(&app).await;
    let view = listed(&restarted, &ann).await;
    for field in ["ends_at", "current_price", "leader", "bid_count"] {
        assert_eq!(
            view[field], ack["auction"][field],
            "{field} survives the restart"
        );
    }
    let res = bid(&restarted, &bob, &created, 2000, None).await;
    assert_eq!(
        error_code(res).await,
        "bid_too_low",
        "the restarted node judges against the persisted price"
    );
}
