//! Secrets never reach the logs: the real binary runs at `debug` level while
//! an operator signs up, users log in (also with a wrong password), use and
//! refresh tokens, a seller gets a stream key and a LiveKit token and uses
//! them, and a viewer signs in on `/ws`; then no secret appears in its output.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::hub::WsClient;
use crate::support::{postgres_url, TestApp, PASSWORD};

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn json_of(res: reqwest::Response, what: &str) -> Value {
    assert!(res.status().is_success(), "{what}: {}", res.status());
    res.json().await.unwrap()
}

#[tokio::test]
async fn no_password_token_key_or_secret_appears_in_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (stdout_path, stderr_path) = (dir.path().join("stdout.txt"), dir.path().join("stderr.txt"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = dir.path().join("livekit.yaml");
    std::fs::write(&config, "rtc:\n  udp_port: 0\n").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_streamcart"));
    command
        .args(["--port", &port.to_string(), "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::from(std::fs::File::create(&stdout_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()));
    if let Some(url) = postgres_url() {
        command.env("DATABASE_URL", crate::support::fresh_postgres_schema(&url).await);
    }
    let mut child = Child(command.spawn().expect("the streamcart binary starts"));
    let app = TestApp::external(format!("http://127.0.0.1:{port}"), tempfile::tempdir().unwrap(), streamcart::Settings::for_data_dir(&data_dir));
    let mut ready = false;
    for _ in 0..150 {
        if app.client.get(app.url("/health/ready")).send().await.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the binary became ready");

    let banner = std::fs::read_to_string(&stdout_path).unwrap();
    let setup_token = banner.split("#token=").nth(1).and_then(|t| t.split_whitespace().next()).expect("a setup link is printed on first run").to_string();
    let admin_password = "operator's own passphrase 7";
    let admin = json_of(
        app.post_json("/api/v1/setup", &json!({"setup_token": setup_token, "email": "root@example.com", "password": admin_password, "display_name": "Root"})).await,
        "setup",
    )
    .await;
    let seller = app.register("sam@example.com").await;
    let seller_token = seller["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.login("sam@example.com", "a wrong password guess").await.status(), 401);
    let login = json_of(app.login("sam@example.com", PASSWORD).await, "login").await;
    let refreshed = json_of(app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": login["refresh_token"]})).await, "refresh").await;
    let shop = app.client.post(app.url("/api/v1/shops")).bearer_auth(&seller_token).json(&json!({"slug": "acme", "name": "Acme"})).send().await.unwrap();
    json_of(shop, "shop").await;
    let room = app.client.post(app.url("/api/v1/shops/acme/rooms")).bearer_auth(&seller_token).json(&json!({"name": "show", "title": "Show"})).send().await.unwrap();
    let room = json_of(room, "room").await;
    let stream_key = room["stream_key"].as_str().expect("a stream key").to_string();
    let whip = app.client.post(app.url("/whip/show")).bearer_auth(&stream_key).header("content-type", "application/sdp").body("v=0 not sdp").send().await.unwrap();
    assert_eq!(whip.status(), 400, "the key is accepted; the offer is not");
    let minted = app.client.post(app.url("/api/v1/rooms/show/token")).bearer_auth(&seller_token).send().await.unwrap();
    let minted = json_of(minted, "livekit token").await;
    let livekit_token = minted["token"].as_str().expect("a LiveKit token").to_string();
    let whep = app.client.post(app.url("/whep/show")).bearer_auth(&livekit_token).header("content-type", "application/sdp").body("v=0").send().await.unwrap();
    assert!(whep.status().is_client_error());
    let mut ws = WsClient::connect(&app, Some(refreshed["access_token"].as_str().unwrap())).await;
    ws.subscribe("room:show", None).await;
    let mut late = WsClient::connect(&app, None).await;
    let signed_in = late.request(json!({"type": "connect", "token": login["access_token"]})).await;
    assert_eq!(signed_in["type"], "ack", "{signed_in}");
    let logout = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(admin["access_token"].as_str().unwrap()).send().await.unwrap();
    assert!(logout.status().is_success());
    ws.close().await;
    late.close().await;
    terminate(&mut child);

    let logs = std::fs::read_to_string(&stderr_path).unwrap();
    let printed = std::fs::read_to_string(&stdout_path).unwrap();
    assert!(logs.lines().count() > 10, "debug logging was on: {logs}");
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(data_dir.join("secrets.json")).unwrap()).unwrap();
    let mut secrets = vec![
        ("the admin's password", admin_password.to_string()),
        ("a password", PASSWORD.to_string()),
        ("a wrong password", "a wrong password guess".to_string()),
        ("an access token", seller_token.clone()),
        ("an access token", login["access_token"].as_str().unwrap().to_string()),
        ("a refresh token", login["refresh_token"].as_str().unwrap().to_string()),
        ("a refresh token", refreshed["refresh_token"].as_str().unwrap().to_string()),
        ("the stream key", stream_key),
        ("a LiveKit token", livekit_token),
        ("the JWT signing key", stored["jwt_signing_key"].as_str().unwrap().to_string()),
        ("the payment webhook secret", stored["payment_webhook_secret"].as_str().unwrap().to_string()),
    ];
    for secret in stored["api_keys"].as_object().unwrap().values() {
        secrets.push(("an API secret", secret.as_str().unwrap().to_string()));
    }
    for (what, secret) in &secrets {
        assert!(!logs.contains(secret.as_str()), "{what} appears in the logs");
        // The first-run banner prints only the one-time setup link (the operator needs it).
        assert!(!printed.contains(secret.as_str()), "{what} appears on stdout");
    }
    assert!(!logs.contains(&setup_token), "the setup token is printed once on stdout, never logged");
}

/// SIGTERM (graceful stop, so buffered output is flushed); killed on drop otherwise.
fn terminate(child: &mut Child) {
    let _ = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status();
    for _ in 0..50 {
        if matches!(child.0.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
