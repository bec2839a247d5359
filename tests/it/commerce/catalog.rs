//! Catalog: products, variants, categories, publishing, search.

use serde_json::{json, Value};

use super::{buyer, get, post, product, published_variant, seller_with_shop};
use crate::support::{error_code, spawn_app};

#[tokio::test]
async fn a_product_stays_hidden_until_its_seller_publishes_it() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let p = product(&app, &seller, "acme", "Linen shirt", &[("SHIRT-M", 4500, 3), ("SHIRT-L", 4700, 0)]).await;
    let id = p["id"].as_str().unwrap();
    assert_eq!(p["status"], "draft");
    assert_eq!(p["variants"][0]["currency"], "USD");
    let anonymous = app.client.get(app.url(&format!("/api/v1/products/{id}"))).send().await.unwrap();
    assert_eq!(anonymous.status(), 404);
    assert_eq!(post(&app, &seller, &format!("/api/v1/shops/acme/products/{id}/publish"), json!({})).await.status(), 200);
    let public: Value = app.client.get(app.url(&format!("/api/v1/products/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(public["title"], "Linen shirt");
    assert_eq!(public["variants"].as_array().unwrap().len(), 2);
    assert_eq!(post(&app, &seller, &format!("/api/v1/shops/acme/products/{id}/unpublish"), json!({})).await.status(), 200);
    assert_eq!(app.client.get(app.url(&format!("/api/v1/products/{id}"))).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_seller_of_another_shop_cannot_read_or_change_this_shops_products() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let rival = seller_with_shop(&app, "rita@example.com", "rival").await;
    let p = product(&app, &seller, "acme", "Secret draft", &[("DRAFT-1", 100, 5)]).await;
    let (id, variant) = (p["id"].as_str().unwrap(), p["variants"][0]["id"].as_str().unwrap());

    let create = post(&app, &rival, "/api/v1/shops/acme/products", json!({"title": "Hijack", "variants": [{"sku": "X", "price": 1}]})).await;
    assert_eq!(create.status(), 403);
    assert_eq!(error_code(create).await, "not_shop_seller");
    let patch = app.client.patch(app.url(&format!("/api/v1/shops/acme/products/{id}"))).bearer_auth(&rival).json(&json!({"title": "Mine"})).send().await.unwrap();
    assert_eq!(patch.status(), 403);
    assert_eq!(post(&app, &rival, &format!("/api/v1/shops/acme/products/{id}/publish"), json!({})).await.status(), 403);
    assert_eq!(post(&app, &rival, &format!("/api/v1/shops/acme/variants/{variant}/stock/adjust"), json!({"delta": -5, "reason": "x"})).await.status(), 403);
    // Through its own shop's path, the other shop's product does not exist.
    assert_eq!(post(&app, &rival, &format!("/api/v1/shops/rival/products/{id}/publish"), json!({})).await.status(), 404);
    assert_eq!(app.get_authed(&format!("/api/v1/products/{id}"), &rival).await.status(), 404);
    assert_eq!(app.get_authed("/api/v1/shops/acme/products?include_drafts=true", &rival).await.status(), 403);

    let mine = get(&app, &seller, &format!("/api/v1/products/{id}")).await;
    assert_eq!((mine["title"].as_str(), mine["status"].as_str()), (Some("Secret draft"), Some("draft")));
    assert_eq!(mine["variants"][0]["available"], 5);
}

#[tokio::test]
async fn a_sku_already_used_in_the_shop_is_a_conflict() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    product(&app, &seller, "acme", "Mug", &[("MUG-1", 900, 1)]).await;
    let res = post(&app, &seller, "/api/v1/shops/acme/products", json!({"title": "Mug two", "variants": [{"sku": "MUG-1", "price": 1000}]})).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "sku_taken");
}

#[tokio::test]
async fn invalid_prices_and_skus_are_refused_before_anything_is_stored() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let res = post(&app, &seller, "/api/v1/shops/acme/products", json!({"title": "Bad", "variants": [{"sku": "OK-1", "price": -5}]})).await;
    assert_eq!(error_code(res).await, "invalid_amount");
    let res = post(&app, &seller, "/api/v1/shops/acme/products", json!({"title": "Bad", "variants": [{"sku": "has space", "price": 5}]})).await;
    assert_eq!(error_code(res).await, "invalid_sku");
    let list = get(&app, &seller, "/api/v1/shops/acme/products?include_drafts=true").await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn shop_product_lists_page_through_every_product_once_with_a_cursor() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    for i in 0..5 {
        published_variant(&app, &seller, "acme", &format!("SKU-{i}"), 100 + i, 1).await;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: Value = app.client.get(app.url(&format!("/api/v1/shops/acme/products?limit=2&cursor={cursor}"))).send().await.unwrap().json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            seen.push(item["variants"][0]["sku"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, vec!["SKU-0", "SKU-1", "SKU-2", "SKU-3", "SKU-4"]);
    let bad = app.client.get(app.url("/api/v1/shops/acme/products?cursor=%27OR1")).send().await.unwrap();
    assert_eq!(bad.status(), 400);
}

async fn search(app: &crate::support::TestApp, query: &str) -> Vec<String> {
    let res = app.client.get(app.url(&format!("/api/v1/search?{query}"))).send().await.unwrap();
    assert_eq!(res.status(), 200, "search {query}");
    let body: Value = res.json().await.unwrap();
    body["items"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn search_ranks_by_relevance_and_filters_by_category_price_stock_and_shop() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let other = seller_with_shop(&app, "olga@example.com", "other").await;
    let clothing: Value = post(&app, &seller, "/api/v1/shops/acme/categories", json!({"slug": "clothing", "name": "Clothing"})).await.json().await.unwrap();
    let shoes: Value = post(&app, &seller, "/api/v1/shops/acme/categories", json!({"slug": "shoes", "name": "Shoes", "parent_id": clothing["id"]})).await.json().await.unwrap();
    let make = |title: &'static str, description: &'static str, price: i64, stock: i64, category: Option<String>, token: String, shop: &'static str| {
        let app = &app;
        async move {
            let body = json!({"title": title, "description": description, "category_id": category, "variants": [{"sku": title.replace(' ', "-"), "price": price, "stock": stock}]});
            let p: Value = post(app, &token, &format!("/api/v1/shops/{shop}/products"), body).await.json().await.unwrap();
            let id = p["id"].as_str().unwrap().to_string();
            assert_eq!(post(app, &token, &format!("/api/v1/shops/{shop}/products/{id}/publish"), json!({})).await.status(), 200);
        }
    };
    let shoes_id = shoes["id"].as_str().map(str::to_string);
    make("Running shoes", "light trainers", 8000, 5, shoes_id.clone(), seller.clone(), "acme").await;
    make("Leather boots", "pairs well with running gear", 15000, 0, shoes_id.clone(), seller.clone(), "acme").await;
    make("Wool socks", "warm", 1200, 10, clothing["id"].as_str().map(str::to_string), seller.clone(), "acme").await;
    make("Running watch", "GPS", 20000, 2, None, other.clone(), "other").await;
    // A draft never shows up.
    product(&app, &seller, "acme", "Running draft", &[("DRAFT-R", 100, 1)]).await;

    let ranked = search(&app, "q=running").await;
    assert_eq!(ranked.len(), 3);
    assert_eq!(ranked[2], "Leather boots", "a title match outranks a description match: {ranked:?}");
    assert_eq!(search(&app, "q=Running&shop=acme&in_stock=true").await, vec!["Running shoes"]);
    let mut in_clothing = search(&app, &format!("category={}", clothing["id"].as_str().unwrap())).await;
    in_clothing.sort();
    assert_eq!(in_clothing, vec!["Leather boots", "Running shoes", "Wool socks"], "a parent category includes its children");
    assert_eq!(search(&app, "min_price=5000&max_price=16000&in_stock=true").await, vec!["Running shoes"]);
    assert_eq!(search(&app, "q=%22%29%28*%3A").await.len(), 4, "query syntax is ignored, not an error");
    let buyer_token = buyer(&app, "bo@example.com").await;
    let first: Value = get(&app, &buyer_token, "/api/v1/search?limit=3").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let next = first["next_cursor"].as_str().unwrap();
    let second = get(&app, &buyer_token, &format!("/api/v1/search?limit=3&cursor={next}")).await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["next_cursor"].is_null());
}
