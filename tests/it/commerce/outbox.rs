//! The transactional email outbox: a row per order event, written with the
//! state change, delivered by the app's dispatcher (the log transport when no
//! SMTP is configured), retried with backoff when SMTP fails.

use std::time::Duration;

use serde_json::{json, Value};
use streamcart::commerce::outbox::{Dispatcher, Mailer, Step};
use streamcart::commerce::store::OutboxRow;
use streamcart::store::Store;

use super::{add_to_cart, buyer, checkout, post, published_variant, same_store, seller_with_shop, GOOD_CARD};
use crate::support::{spawn_app, spawn_app_with, TestApp};

/// A paid order of one unit; returns its id.
async fn paid_order(app: &TestApp) -> String {
    let seller = seller_with_shop(app, "sam@example.com", "acme").await;
    let variant = published_variant(app, &seller, "acme", "BAG", 5000, 4).await;
    let ann = buyer(app, "ann@example.com").await;
    add_to_cart(app, &ann, &variant, 1).await;
    let body: Value = checkout(app, &ann, "k", Some(GOOD_CARD)).await.json().await.unwrap();
    let id = body["orders"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(post(app, &seller, &format!("/api/v1/shops/acme/orders/{id}/status"), json!({"status": "shipped", "tracking_number": "TRK-1"})).await.status(), 200);
    id
}

/// The order's emails once every one of them was attempted at least once (the dispatcher runs in the background).
async fn attempted(store: &Store, order: &str) -> Vec<OutboxRow> {
    for _ in 0..100 {
        let emails = store.order_emails(order).await.unwrap();
        if !emails.is_empty() && emails.iter().all(|e| e.attempts > 0) {
            return emails;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the dispatcher never attempted the emails: {:?}", store.order_emails(order).await.unwrap());
}

#[tokio::test]
async fn each_order_event_leaves_an_email_in_the_outbox_and_the_dispatcher_delivers_it_once() {
    let app = spawn_app().await;
    let id = paid_order(&app).await;
    let store = same_store(&app).await;
    let emails = store.order_emails(&id).await.unwrap();
    let kinds: Vec<&str> = emails.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, vec!["order_placed", "order_paid", "order_shipped"], "placing, confirmation and shipping each send one");
    assert!(emails.iter().all(|e| e.recipient == "ann@example.com"));
    assert!(emails[2].body.contains("TRK-1"), "{}", emails[2].body);

    let emails = attempted(&store, &id).await;
    assert!(emails.iter().all(|e| e.status == "sent" && e.attempts == 1 && e.delivered_via.as_deref() == Some("log")), "{emails:?}");
    let another = Dispatcher::new(store.clone(), Mailer::Log);
    assert_eq!(another.try_execute_task(streamcart::store::now_ms()).await.unwrap(), Step::Idle, "nothing is sent twice");
}

#[tokio::test]
async fn an_unreachable_smtp_server_leaves_the_email_pending_for_a_retry_with_backoff() {
    // A port nothing listens on: every connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = spawn_app_with(move |s| {
        s.smtp = Some(streamcart::config::SmtpSettings { host: "127.0.0.1".into(), port: Some(closed), from: "shop@example.com".into(), tls: Some(false), ..Default::default() })
    })
    .await;
    let before = streamcart::store::now_ms();
    let id = paid_order(&app).await;
    let store = same_store(&app).await;
    for email in attempted(&store, &id).await {
        assert_eq!((email.status.as_str(), email.attempts), ("pending", 1), "{email:?}");
        assert!(email.last_error.is_some());
        assert!(email.next_attempt_at >= before + 30_000, "retried about 30 s later, not at once: {email:?}");
    }
}
