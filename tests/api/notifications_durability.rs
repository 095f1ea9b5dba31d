//! A notification answered with 201 is on disk: the server is killed with
//! SIGKILL right after the answers and a new process still lists every one.

use serde_json::{Value, json};

use crate::helpers::{
    API_KEY, CREDENTIAL_ENVS, Engine, SECRET, ServerProcess, fresh_postgres_database, ids_in,
    json_body,
};

async fn killed_after_201_loses_nothing(engine: Engine) {
    let data_dir = tempfile::tempdir().unwrap();
    let database_url = match engine {
        Engine::Sqlite => format!("sqlite://{}", data_dir.path().join("sb.db").display()),
        Engine::Postgres => {
            let Some(url) = fresh_postgres_database().await else {
                return;
            };
            url
        }
    };
    let envs = CREDENTIAL_ENVS;
    let mut server = ServerProcess::start_on(&database_url, &[], &envs);
    let http = reqwest::Client::new();
    let base = format!("http://{}/api/v1", server.addr);

    // Many pushes in flight at once, so the writer commits them in batches;
    // only those answered 201 are promised.
    let pushes = (0..200).map(|i| {
        let http = http.clone();
        let url = format!("{base}/notifications");
        async move {
            let response = http
                .post(url)
                .bearer_auth(API_KEY)
                .json(&json!({"users": ["durable-user"], "kind": "k", "data": {"i": i}}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            let body: Value = response.json().await.unwrap();
            body["notifications"][0]["id"].as_str().unwrap().to_owned()
        }
    });
    let mut accepted: Vec<String> = futures_util::future::join_all(pushes).await;
    server.signal("KILL");
    let status = server.wait_exit();
    assert_eq!(status.code(), None, "killed by a signal, no clean exit");

    let restarted = ServerProcess::start_on(&database_url, &[], &envs);
    let mut stored = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut url = format!(
            "http://{}/api/v1/users/durable-user/notifications?limit=100",
            restarted.addr
        );
        if let Some(before) = &before {
            url.push_str(&format!("&before={before}"));
        }
        let page: Value = json_body(http.get(url).bearer_auth(API_KEY)).await;
        let ids = ids_in(&page["notifications"]);
        if ids.is_empty() {
            break;
        }
        before = ids.last().cloned();
        stored.extend(ids);
    }
    accepted.sort();
    stored.sort();
    assert_eq!(
        stored, accepted,
        "every notification answered 201 survived SIGKILL"
    );
}

#[tokio::test]
async fn sqlite_killed_after_201_loses_nothing() {
    killed_after_201_loses_nothing(Engine::Sqlite).await;
}

#[tokio::test]
async fn postgres_killed_after_201_loses_nothing() {
    killed_after_201_loses_nothing(Engine::Postgres).await;
}

#[tokio::test]
async fn secrets_never_appear_in_the_log() {
    let data_dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", data_dir.path().join("sb.db").display());
    let envs = [
        ("SWITCHBOARD_JWT_SECRET", SECRET),
        ("SWITCHBOARD_API_KEYS", API_KEY),
        ("SWITCHBOARD_LOG_LEVEL", "debug"),
    ];
    let mut server = ServerProcess::start_on(&url, &[], &envs);
    // A refused key and a refused token are logged without the values.
    let http = reqwest::Client::new();
    let status = http
        .get(format!(
            "http://{}/api/v1/users/u/notifications",
            server.addr
        ))
        .bearer_auth(format!("{API_KEY}-wrong"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    server.signal("TERM");
    server.wait_exit();
    for line in server.remaining_lines() {
        assert!(!line.contains(SECRET), "JWT secret in the log: {line}");
        assert!(!line.contains(API_KEY), "API key in the log: {line}");
    }
}
