//! Tokens from any issuer on `/notifications`: a real local JWKS server
//! (axum on a free port, its key set swappable, its requests counted and
//! timed) and a Switchboard configured with `--jwks-url`, PEM key files or a
//! secret; real Socket.IO clients connect with tokens of every algorithm,
//! keys rotate through the JWKS within the refresh bound, and the claims,
//! `alg` and time checks refuse what they must. Also the case-insensitive
//! `Authorization` scheme of the HTTP API.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use serde_json::{Value, json};
use switchboard::{App, ServeConfig, config::Secret};
use tokio::sync::watch;

use crate::helpers::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/fixtures/jwt");
const HS_SECRET: &str = "jwt-test-secret-0123456789";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("a test fixture")
}

fn now() -> u64 {
    u64::try_from(switchboard::protocol::now_ms() / 1000).unwrap()
}

/// A private test key, its algorithm and `kid`.
struct TestKey {
    alg: Algorithm,
    kid: &'static str,
    key: EncodingKey,
    /// Its public JWK, as the JWKS serves it.
    jwk: Value,
}

impl TestKey {
    fn rsa(alg: Algorithm, kid: &'static str) -> Self {
        let key = EncodingKey::from_rsa_pem(fixture("rsa.key.pem").as_bytes()).unwrap();
        let mut jwk = Jwk::from_encoding_key(&key, alg).unwrap();
        // No `alg`: the key accepts the whole RSA family.
        jwk.common.key_algorithm = None;
        Self::with_jwk(alg, kid, key, jwk)
    }

    fn ec(alg: Algorithm, kid: &'static str, file: &str) -> Self {
        let key = EncodingKey::from_ec_pem(fixture(file).as_bytes()).unwrap();
        let jwk = Jwk::from_encoding_key(&key, alg).unwrap();
        Self::with_jwk(alg, kid, key, jwk)
    }

    fn ed(kid: &'static str) -> Self {
        let key = EncodingKey::from_ed_pem(fixture("ed25519.key.pem").as_bytes()).unwrap();
        let x = fixture("ed25519.x").trim().to_owned();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig"});
        Self {
            alg: Algorithm::EdDSA,
            kid,
            key,
            jwk,
        }
    }

    fn hs(alg: Algorithm) -> Self {
        Self {
            alg,
            kid: "",
            key: EncodingKey::from_secret(HS_SECRET.as_bytes()),
            jwk: Value::Null,
        }
    }

    fn with_jwk(alg: Algorithm, kid: &'static str, key: EncodingKey, mut jwk: Jwk) -> Self {
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            alg,
            kid,
            key,
            jwk: serde_json::to_value(jwk).unwrap(),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = (!self.kid.is_empty()).then(|| self.kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }

    /// A token for `user` valid for a minute.
    fn token(&self, user: &str) -> String {
        self.sign(&json!({"sub": user, "exp": now() + 60}))
    }
}

fn key_set(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
}

/// What the JWKS server answers.
#[derive(Clone)]
enum Answer {
    Set(Value),
    Status(StatusCode),
    /// A body larger than the server's bound.
    Oversized,
}

struct JwksState {
    answer: Mutex<Answer>,
    delay: Mutex<Duration>,
    /// When each request arrived.
    hits: Mutex<Vec<Instant>>,
    count: watch::Sender<usize>,
}

/// A local identity provider's JWKS endpoint.
struct JwksServer {
    addr: SocketAddr,
    state: Arc<JwksState>,
}

impl JwksServer {
    async fn start(answer: Answer) -> Self {
        let state = Arc::new(JwksState {
            answer: Mutex::new(answer),
            delay: Mutex::new(Duration::ZERO),
            hits: Mutex::new(Vec::new()),
            count: watch::Sender::new(0),
        });
        let router = Router::new()
            .route("/.well-known/jwks.json", get(serve_jwks))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { addr, state }
    }

    fn url(&self) -> hyper::Uri {
        format!("http://{}/.well-known/jwks.json", self.addr)
            .parse()
            .unwrap()
    }

    fn answer(&self, answer: Answer) {
        *self.state.answer.lock().unwrap() = answer;
    }

    fn delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    fn hits(&self) -> Vec<Instant> {
        self.state.hits.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived.
    async fn wait_for_hits(&self, n: usize) {
        let mut count = self.state.count.subscribe();
        tokio::time::timeout(WAIT, count.wait_for(|c| *c >= n))
            .await
            .unwrap_or_else(|_| panic!("the JWKS was not fetched {n} times"))
            .unwrap();
    }

    /// No two requests closer together than `interval` (less a margin for
    /// the network).
    fn assert_spaced(&self, interval: Duration) {
        let hits = self.hits();
        for pair in hits.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap + Duration::from_millis(50) >= interval,
                "two JWKS fetches {gap:?} apart, under {interval:?}"
            );
        }
    }
}

async fn serve_jwks(State(state): State<Arc<JwksState>>) -> Response {
    state.hits.lock().unwrap().push(Instant::now());
    state.count.send_modify(|c| *c += 1);
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let answer = state.answer.lock().unwrap().clone();
    match answer {
        Answer::Set(set) => Json(set).into_response(),
        Answer::Status(status) => status.into_response(),
        Answer::Oversized => {
            let padding = "x".repeat(2 << 20);
            Json(json!({"keys": [], "padding": padding})).into_response()
        }
    }
}

/// Switchboard with `--jwks-url` (and `configure`'s changes).
async fn spawn_with_jwks(jwks: &JwksServer, configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let url = jwks.url();
    spawn_configured(|config| {
        config.jwks_url = Some(url);
        config.jwks_min_refresh_interval = Duration::from_secs(1);
        configure(config);
    })
    .await
}

async fn connect(app: &TestApp, token: &str) -> Result<SioClient, String> {
    SioClient::connect_with_auth(app.addr, "/notifications", Some(json!({ "token": token }))).await
}

async fn assert_accepted(app: &TestApp, token: &str, what: &str) {
    if let Err(refusal) = connect(app, token).await {
        panic!("{what}: refused with {refusal}");
    }
}

async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    match connect(app, token).await {
        Ok(_) => panic!("{what}: connected"),
        Err(refusal) => assert_eq!(refusal, "unauthorized", "{what}"),
    }
}

/// `n` connections at once with `token`; how many were accepted.
async fn accepted_of_concurrent(app: &TestApp, token: &str, n: usize) -> usize {
    let attempts = (0..n).map(|_| connect(app, token));
    futures_util::future::join_all(attempts)
        .await
        .iter()
        .filter(|result| result.is_ok())
        .count()
}

/// Connects with `token` until it is accepted (the JWKS refreshes on its
/// own schedule), giving up after [`WAIT`].
async fn accepted_eventually(app: &TestApp, token: &str) {
    let deadline = Instant::now() + WAIT;
    while connect(app, token).await.is_err() {
        assert!(Instant::now() < deadline, "never accepted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_algorithm_is_accepted_with_its_key() {
    let rsa = TestKey::rsa(Algorithm::RS256, "rsa");
    let p256 = TestKey::ec(Algorithm::ES256, "p256", "p256.key.pem");
    let p384 = TestKey::ec(Algorithm::ES384, "p384", "p384.key.pem");
    let ed = TestKey::ed("ed");
    let jwks = JwksServer::start(Answer::Set(key_set(&[&rsa, &p256, &p384, &ed]))).await;
    let app = spawn_with_jwks(&jwks, |config| {
        config.jwt_secret = Some(Secret::from(HS_SECRET));
        config.jwt_algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
        config.api_keys = vec![Secret::from(API_KEY)];
    })
    .await;

    let keys = [
        TestKey::hs(Algorithm::HS256),
        TestKey::hs(Algorithm::HS384),
        TestKey::hs(Algorithm::HS512),
        TestKey::rsa(Algorithm::RS256, "rsa"),
        TestKey::rsa(Algorithm::RS384, "rsa"),
        TestKey::rsa(Algorithm::RS512, "rsa"),
        TestKey::rsa(Algorithm::PS256, "rsa"),
        TestKey::rsa(Algorithm::PS384, "rsa"),
        TestKey::rsa(Algorithm::PS512, "rsa"),
        p256,
        p384,
        ed,
    ];
    for key in &keys {
        let user = unique_user("algo");
        let mut socket = connect(&app, &key.token(&user))
            .await
            .unwrap_or_else(|e| panic!("{:?}: refused with {e}", key.alg));
        // The socket is that user's: a push to them arrives.
        let pushed = Api::new(&app).push(&[&user], "hello", json!({})).await;
        assert_eq!(pushed["online"], 1, "{:?}: {pushed}", key.alg);
        socket.next_event("notification").await;
    }
    // One fetch served every JWKS token: the set is cached.
    assert_eq!(jwks.hits().len(), 1);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn keys_rotate_through_the_jwks_within_the_refresh_bound() {
    let interval = Duration::from_secs(1);
    let k1 = TestKey::ec(Algorithm::ES256, "k1", "p256.key.pem");
    let k2 = TestKey::ec(Algorithm::ES256, "k2", "p256-next.key.pem");
    let jwks = JwksServer::start(Answer::Set(key_set(&[&k1]))).await;
    let app = spawn_with_jwks(&jwks, |_| {}).await;
    jwks.wait_for_hits(1).await;
    assert_accepted(&app, &k1.token("u1"), "the first key").await;
    assert_eq!(jwks.hits().len(), 1, "a known kid fetches nothing");

    // The provider publishes k2 and signs with it: a burst of k2 tokens
    // fetches at most once (and not at all within the interval).
    jwks.answer(Answer::Set(key_set(&[&k1, &k2])));
    accepted_of_concurrent(&app, &k2.token("u2"), 20).await;
    assert!(jwks.hits().len() <= 2, "{} fetches", jwks.hits().len());
    accepted_eventually(&app, &k2.token("u2")).await;
    assert_accepted(&app, &k1.token("u1"), "k1 still published").await;
    jwks.assert_spaced(interval);

    // Unknown kids right after a fetch: refused, no request pile-up.
    let fetched = jwks.hits().len();
    let k3 = TestKey::ec(Algorithm::ES256, "k3", "p256-next.key.pem");
    assert_eq!(accepted_of_concurrent(&app, &k3.token("u3"), 20).await, 0);
    assert!(jwks.hits().len() <= fetched + 1);

    // Single flight: once the interval has passed, a slow fetch is shared by
    // every verification waiting on it.
    jwks.delay(Duration::from_millis(300));
    let last = *jwks.hits().last().unwrap();
    tokio::time::sleep(
        (last + interval + Duration::from_millis(100)).saturating_duration_since(Instant::now()),
    )
    .await;
    let fetched = jwks.hits().len();
    assert_eq!(accepted_of_concurrent(&app, &k3.token("u3"), 20).await, 0);
    assert_eq!(
        jwks.hits().len(),
        fetched + 1,
        "one fetch for twenty tokens"
    );
    jwks.assert_spaced(interval);

    // A retired key is refused once the set no longer has it.
    jwks.delay(Duration::ZERO);
    jwks.answer(Answer::Set(key_set(&[&k2])));
    tokio::time::sleep(
        (*jwks.hits().last().unwrap() + interval + Duration::from_millis(100))
            .saturating_duration_since(Instant::now()),
    )
    .await;
    // An unknown kid triggers the refetch; then k1 is gone.
    assert_refused(&app, &k3.token("u3"), "unknown kid").await;
    assert_refused(&app, &k1.token("u1"), "retired key").await;
    assert_accepted(&app, &k2.token("u2"), "the current key").await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_old_key_set_is_refetched_in_the_background() {
    let k1 = TestKey::ec(Algorithm::ES256, "k1", "p256.key.pem");
    let k2 = TestKey::ec(Algorithm::ES256, "k2", "p256-next.key.pem");
    let jwks = JwksServer::start(Answer::Set(key_set(&[&k1]))).await;
    let app = spawn_with_jwks(&jwks, |config| config.jwks_refresh = Duration::from_secs(1)).await;
    jwks.wait_for_hits(1).await;
    jwks.answer(Answer::Set(key_set(&[&k2])));
    tokio::time::sleep(
        (jwks.hits()[0] + Duration::from_millis(1100)).saturating_duration_since(Instant::now()),
    )
    .await;
    // The set is old: this token is checked with the keys at hand (k1 is
    // still known) while one background fetch replaces them.
    assert_accepted(&app, &k1.token("u"), "the keys at hand").await;
    jwks.wait_for_hits(2).await;
    accepted_eventually(&app, &k2.token("u")).await;
    assert_refused(&app, &k1.token("u"), "a key the provider retired").await;
    assert_eq!(jwks.hits().len(), 2, "one background fetch");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_jwks_refuses_tokens_until_it_answers() {
    let key = TestKey::rsa(Algorithm::RS256, "rsa");
    let jwks = JwksServer::start(Answer::Status(StatusCode::SERVICE_UNAVAILABLE)).await;
    // The server starts anyway.
    let app = spawn_with_jwks(&jwks, |_| {}).await;
    jwks.wait_for_hits(1).await;
    assert_refused(&app, &key.token("u"), "no keys yet").await;

    jwks.answer(Answer::Oversized);
    tokio::time::sleep(
        (jwks.hits()[0] + Duration::from_millis(1100)).saturating_duration_since(Instant::now()),
    )
    .await;
    assert_refused(&app, &key.token("u"), "a JWKS over the size bound").await;
    assert_eq!(jwks.hits().len(), 2);

    jwks.answer(Answer::Set(key_set(&[&key])));
    accepted_eventually(&app, &key.token("u")).await;
    jwks.assert_spaced(Duration::from_secs(1));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn issuer_and_audience_are_checked_only_when_configured() {
    let key = TestKey::ec(Algorithm::ES256, "k", "p256.key.pem");
    let jwks = JwksServer::start(Answer::Set(key_set(&[&key]))).await;
    let checked = spawn_with_jwks(&jwks, |config| {
        config.jwt_issuer = Some("https://idp.test".into());
        config.jwt_audience = Some("switchboard".into());
    })
    .await;
    let token = |claims: Value| {
        let mut all = json!({"sub": "u", "exp": now() + 60});
        all.as_object_mut()
            .unwrap()
            .extend(claims.as_object().unwrap().clone());
        key.sign(&all)
    };
    let good = token(json!({"iss": "https://idp.test", "aud": "switchboard"}));
    assert_accepted(&checked, &good, "the right iss and aud").await;
    let listed = token(json!({"iss": "https://idp.test", "aud": ["web", "switchboard"]}));
    assert_accepted(&checked, &listed, "aud among several").await;
    for (claims, what) in [
        (
            json!({"iss": "https://evil.test", "aud": "switchboard"}),
            "wrong iss",
        ),
        (
            json!({"iss": "https://idp.test", "aud": "other"}),
            "wrong aud",
        ),
        (json!({"aud": "switchboard"}), "no iss"),
        (json!({"iss": "https://idp.test"}), "no aud"),
    ] {
        assert_refused(&checked, &token(claims), what).await;
    }

    let open = spawn_with_jwks(&jwks, |_| {}).await;
    let any = token(json!({"iss": "https://anyone.test", "aud": "something-else"}));
    assert_accepted(&open, &any, "aud and iss with nothing configured").await;
    checked.stop().await.unwrap();
    open.stop().await.unwrap();
}

#[tokio::test]
async fn alg_confusion_and_none_are_refused() {
    let rsa = TestKey::rsa(Algorithm::RS256, "rsa");
    let mut pinned = TestKey::rsa(Algorithm::RS256, "pinned");
    pinned.jwk["alg"] = json!("RS256");
    let jwks = JwksServer::start(Answer::Set(key_set(&[&rsa, &pinned]))).await;
    // JWKS only, and with a secret and the same RSA key as a PEM file too:
    // HS256 is accepted for the secret, never for the public key.
    let jwks_only = spawn_with_jwks(&jwks, |_| {}).await;
    let all_sources = spawn_with_jwks(&jwks, |config| {
        config.jwt_secret = Some(Secret::from(HS_SECRET));
        config.jwt_public_key_files = vec![format!("{FIXTURES}/rsa.pub.pem").into()];
    })
    .await;
    let b64 = |v: Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let public_pem = fixture("rsa.pub.pem");
    for app in [&jwks_only, &all_sources] {
        assert_accepted(app, &rsa.token("u"), "RS256 itself").await;
        for kid in [None, Some("rsa")] {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = kid.map(str::to_owned);
            let confused = jsonwebtoken::encode(
                &header,
                &json!({"sub": "u", "exp": now() + 60}),
                &EncodingKey::from_secret(public_pem.as_bytes()),
            )
            .unwrap();
            assert_refused(app, &confused, "HS256 signed with the RSA public key").await;
        }

        // `alg: none`, unsigned, with and without a kid.
        let claims = b64(json!({"sub": "u", "exp": now() + 60}));
        for header in [json!({"alg": "none"}), json!({"alg": "none", "kid": "rsa"})] {
            assert_refused(app, &format!("{}.{claims}.", b64(header)), "alg none").await;
        }

        // ES256 claimed over an RSA signature.
        let signed = rsa.token("u");
        let body = signed.split_once('.').unwrap().1;
        let forged = format!("{}.{body}", b64(json!({"alg": "ES256", "kid": "rsa"})));
        assert_refused(app, &forged, "ES256 header on an RSA signature").await;
    }
    assert_accepted(
        &all_sources,
        &TestKey::hs(Algorithm::HS256).token("u"),
        "the secret",
    )
    .await;

    // A JWK's `alg` pins it: the same key signing RS512 under its kid is
    // refused (where no PEM file accepts the whole family).
    let as_rs512 = TestKey::rsa(Algorithm::RS512, "pinned");
    assert_refused(
        &jwks_only,
        &as_rs512.token("u"),
        "RS512 for an RS256-only key",
    )
    .await;
    let as_rs256 = TestKey::rsa(Algorithm::RS256, "pinned");
    assert_accepted(&jwks_only, &as_rs256.token("u"), "RS256 for it").await;
    jwks_only.stop().await.unwrap();
    all_sources.stop().await.unwrap();
}

#[tokio::test]
async fn exp_now_and_future_nbf_are_refused() {
    let key = TestKey::ed("ed");
    let jwks = JwksServer::start(Answer::Set(key_set(&[&key]))).await;
    let app = spawn_with_jwks(&jwks, |_| {}).await;
    let now = now();
    for (claims, what) in [
        (json!({"sub": "u", "exp": now}), "exp equal to now"),
        (json!({"sub": "u", "exp": now - 1}), "expired"),
        (
            json!({"sub": "u", "exp": now + 60, "nbf": now + 30}),
            "nbf in the future",
        ),
        (json!({"sub": "u"}), "no exp"),
        (json!({"exp": now + 60}), "no sub"),
    ] {
        assert_refused(&app, &key.sign(&claims), what).await;
    }
    let nbf_now = json!({"sub": "u", "exp": now + 60, "nbf": now});
    assert_accepted(&app, &key.sign(&nbf_now), "nbf equal to now").await;

    // A leeway lets a token a little past its exp (or before its nbf) in.
    let lenient =
        spawn_with_jwks(&jwks, |config| config.jwt_leeway = Duration::from_secs(30)).await;
    assert_accepted(
        &lenient,
        &key.sign(&json!({"sub": "u", "exp": now - 5})),
        "within the leeway",
    )
    .await;
    let soon = json!({"sub": "u", "exp": now + 60, "nbf": now + 10});
    assert_accepted(&lenient, &key.sign(&soon), "nbf within the leeway").await;
    assert_refused(
        &lenient,
        &key.sign(&json!({"sub": "u", "exp": now - 60})),
        "past the leeway",
    )
    .await;
    app.stop().await.unwrap();
    lenient.stop().await.unwrap();
}

#[tokio::test]
async fn pem_file_keys_replace_the_development_secret() {
    let files = ["rsa", "p256", "p384", "ed25519"]
        .iter()
        .map(|name| format!("{FIXTURES}/{name}.pub.pem").into())
        .collect();
    // Loopback, no secret: the PEM keys alone, no development secret.
    let app = spawn_configured(|config| config.jwt_public_key_files = files).await;
    for key in [
        TestKey::rsa(Algorithm::RS512, ""),
        TestKey::rsa(Algorithm::PS256, ""),
        TestKey::ec(Algorithm::ES256, "", "p256.key.pem"),
        TestKey::ec(Algorithm::ES384, "", "p384.key.pem"),
        TestKey::ed(""),
    ] {
        assert_accepted(&app, &key.token("u"), &format!("{:?} by PEM", key.alg)).await;
    }
    let development = switchboard::notifications::sign_token(
        switchboard::notifications::credentials::DEVELOPMENT_SECRET,
        &switchboard::protocol::UserId::parse("u").unwrap(),
        Duration::from_secs(60),
    );
    assert_refused(&app, &development, "the development secret").await;
    let status = reqwest::get(app.http_url("/demo/token?user=u"))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404, "no demo tokens without the development secret");
    app.stop().await.unwrap();

    // A bad file stops the start with a message naming the setting.
    for file in ["missing.pem", "rsa.key.pem", "README.md"] {
        let mut config = test_config();
        config.jwt_public_key_files = vec![format!("{FIXTURES}/{file}").into()];
        let error = App::build(config).await.err().expect("the start fails");
        assert!(
            format!("{error:#}").contains("--jwt-public-key-files"),
            "{file}: {error:#}"
        );
    }
}

#[tokio::test]
async fn the_api_key_scheme_is_case_insensitive() {
    let app = spawn_app(notifications_config(test_config())).await;
    let http = reqwest::Client::new();
    let url = app.http_url("/api/v1/notifications");
    let body = json!({"users": ["x"], "kind": "k"});
    for scheme in ["Bearer ", "bearer ", "BEARER ", "bEaReR \t  "] {
        let response = http
            .post(&url)
            .header("authorization", format!("{scheme}{API_KEY}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{scheme:?}: {}",
            response.status()
        );
    }
    for value in [format!("Basic {API_KEY}"), format!("Bearer{API_KEY}")] {
        let response = http
            .post(&url)
            .header("authorization", value.clone())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{value}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(
            error["error"]["message"],
            "missing `Authorization: Bearer API_KEY`"
        );
    }
    app.stop().await.unwrap();
}
