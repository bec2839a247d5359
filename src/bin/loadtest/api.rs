//! The public HTTP API calls the scenarios need to set themselves up:
//! accounts, a shop with a public room, published products, flash sales.

use anyhow::{bail, Context};
use serde_json::{json, Value};

pub const PASSWORD: &str = "correct horse battery staple";
pub const GOOD_CARD: &str = "4242424242424242";

#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

/// A shop `bench` with a public room `show`, and its seller's token.
pub struct Shop {
    pub seller: String,
    pub room: String,
}

impl Api {
    pub fn new(base: &str) -> Api {
        let http = reqwest::Client::builder().pool_max_idle_per_host(1024).build().unwrap_or_default();
        Api { base: base.to_string(), http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs JSON and returns the status and body, failing on anything but `expect`.
    pub async fn post(&self, token: Option<&str>, path: &str, body: Value, expect: u16) -> anyhow::Result<Value> {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.with_context(|| format!("POST {path}"))?;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status != expect {
            bail!("POST {path}: {status} {body}");
        }
        Ok(body)
    }

    pub async fn get(&self, token: Option<&str>, path: &str) -> anyhow::Result<Value> {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.with_context(|| format!("GET {path}"))?;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status != 200 {
            bail!("GET {path}: {status} {body}");
        }
        Ok(body)
    }

    /// Registers an account; returns its access token.
    pub async fn register(&self, email: &str) -> anyhow::Result<String> {
        let body = self.post(None, "/api/v1/auth/register", json!({"email": email, "password": PASSWORD, "display_name": "Bench"}), 201).await?;
        body["access_token"].as_str().map(str::to_string).context("no access_token")
    }

    /// `n` accounts, registered 32 at a time (argon2 runs on the server's blocking pool).
    pub async fn register_many(&self, prefix: &str, n: usize) -> anyhow::Result<Vec<String>> {
        let mut tokens = Vec::with_capacity(n);
        for start in (0..n).step_by(32) {
            let batch = (start..n.min(start + 32)).map(|i| self.register_owned(format!("{prefix}{i}@example.com")));
            for token in futures::future::join_all(batch).await {
                tokens.push(token?);
            }
        }
        Ok(tokens)
    }

    async fn register_owned(&self, email: String) -> anyhow::Result<String> {
        self.register(&email).await
    }

    /// A seller with shop `bench` and a public room `show`.
    pub async fn shop(&self) -> anyhow::Result<Shop> {
        let seller = self.register("seller@example.com").await?;
        self.post(Some(&seller), "/api/v1/shops", json!({"slug": "bench", "name": "Bench"}), 201).await?;
        self.post(Some(&seller), "/api/v1/shops/bench/rooms", json!({"name": "show", "title": "Bench show", "visibility": "public"}), 201).await?;
        Ok(Shop { seller, room: "show".into() })
    }

    /// A published product with one variant; returns (product id, variant id).
    pub async fn product(&self, shop: &Shop, sku: &str, price: i64, stock: i64) -> anyhow::Result<(String, String)> {
        let body = json!({"title": format!("Item {sku}"), "description": "bench", "variants": [{"sku": sku, "price": price, "stock": stock, "weight_grams": 300}]});
        let p = self.post(Some(&shop.seller), "/api/v1/shops/bench/products", body, 201).await?;
        let id = p["id"].as_str().context("product id")?.to_string();
        self.post(Some(&shop.seller), &format!("/api/v1/shops/bench/products/{id}/publish"), json!({}), 200).await?;
        Ok((id, p["variants"][0]["id"].as_str().context("variant id")?.to_string()))
    }

    /// The stock view of a variant, as its seller sees it.
    pub async fn stock(&self, shop: &Shop, variant: &str) -> anyhow::Result<Value> {
        self.get(Some(&shop.seller), &format!("/api/v1/shops/bench/variants/{variant}/stock")).await
    }
}
