//! The command line as a user meets it: `--help` and bad settings.

use std::process::Command;

/// Every setting: its flag, its environment variable and its default as
/// `--help` shows them (one row a setting, so the table reads as one).
#[rustfmt::skip]
const SETTINGS: &[(&str, &str, &str)] = &[
    ("--listen", "SWITCHBOARD_LISTEN", "127.0.0.1:3000"),
    ("--ping-interval", "SWITCHBOARD_PING_INTERVAL", "25s"),
    ("--ping-timeout", "SWITCHBOARD_PING_TIMEOUT", "20s"),
    ("--connect-timeout", "SWITCHBOARD_CONNECT_TIMEOUT", "45s"),
    ("--ack-timeout", "SWITCHBOARD_ACK_TIMEOUT", "5s"),
    ("--max-payload", "SWITCHBOARD_MAX_PAYLOAD", "1000000"),
    ("--max-attachments", "SWITCHBOARD_MAX_ATTACHMENTS", "10"),
    ("--max-attachment-bytes", "SWITCHBOARD_MAX_ATTACHMENT_BYTES", "1000000"),
    ("--attachment-timeout", "SWITCHBOARD_ATTACHMENT_TIMEOUT", "10s"),
    ("--echo-namespaces", "SWITCHBOARD_ECHO_NAMESPACES", "/,/echo"),
    ("--cors-origins", "SWITCHBOARD_CORS_ORIGINS", ""),
    ("--log-format", "SWITCHBOARD_LOG_FORMAT", "text"),
    ("--log-level", "SWITCHBOARD_LOG_LEVEL", "info"),
    ("--shutdown-timeout", "SWITCHBOARD_SHUTDOWN_TIMEOUT", "5s"),
    ("--database-url", "SWITCHBOARD_DATABASE_URL", "sqlite://data/switchboard.db"),
    ("--rate-limit", "SWITCHBOARD_RATE_LIMIT", "20"),
    ("--rate-burst", "SWITCHBOARD_RATE_BURST", "40"),
    ("--game-tick-rate", "SWITCHBOARD_GAME_TICK_RATE", "20"),
    ("--api-rate-limit", "SWITCHBOARD_API_RATE_LIMIT", "1000"),
    ("--room-limit", "SWITCHBOARD_ROOM_LIMIT", "1000"),
    ("--api-max-stored-bytes", "SWITCHBOARD_API_MAX_STORED_BYTES", "16777216"),
    ("--header-read-timeout", "SWITCHBOARD_HEADER_READ_TIMEOUT", "10s"),
    ("--body-read-timeout", "SWITCHBOARD_BODY_READ_TIMEOUT", "30s"),
    ("--keep-alive-timeout", "SWITCHBOARD_KEEP_ALIVE_TIMEOUT", "75s"),
    ("--ws-idle-timeout", "SWITCHBOARD_WS_IDLE_TIMEOUT", "120s"),
    ("--max-connections", "SWITCHBOARD_MAX_CONNECTIONS", "10000"),
    ("--max-connections-per-ip", "SWITCHBOARD_MAX_CONNECTIONS_PER_IP", "256"),
    ("--trusted-proxies", "SWITCHBOARD_TRUSTED_PROXIES", ""),
    ("--address-rate-multiplier", "SWITCHBOARD_ADDRESS_RATE_MULTIPLIER", "10"),
    ("--game-rate-multiplier", "SWITCHBOARD_GAME_RATE_MULTIPLIER", "3"),
    ("--echo-rate-limit", "SWITCHBOARD_ECHO_RATE_LIMIT", "500"),
    ("--connect-rate-limit", "SWITCHBOARD_CONNECT_RATE_LIMIT", "20"),
    ("--event-queue", "SWITCHBOARD_EVENT_QUEUE", "1024"),
    ("--max-buffered-bytes", "SWITCHBOARD_MAX_BUFFERED_BYTES", "4194304"),
    ("--max-buffered-packets", "SWITCHBOARD_MAX_BUFFERED_PACKETS", "1024"),
    ("--jwt-secret", "SWITCHBOARD_JWT_SECRET", ""),
    ("--api-keys", "SWITCHBOARD_API_KEYS", ""),
];

fn switchboard(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.args(args);
    for (_, var, _) in SETTINGS {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command.output().expect("switchboard runs")
}

#[test]
fn help_lists_every_setting_with_its_env_var_and_default() {
    for args in [&["--help"][..], &["serve", "--help"]] {
        let output = switchboard(args, &[]);
        assert!(output.status.success());
        let help = String::from_utf8(output.stdout).unwrap();
        for (flag, var, default) in SETTINGS {
            assert!(help.contains(flag), "{args:?}: {flag} missing");
            assert!(
                help.contains(&format!("env: {var}")),
                "{args:?}: {var} missing"
            );
            if !default.is_empty() {
                assert!(
                    help.contains(&format!("default: {default}")),
                    "{args:?}: default of {flag}"
                );
            }
        }
    }
}

#[test]
fn bad_settings_exit_2_naming_the_setting() {
    for (args, env, named) in [
        (&["--ping-interval", "soon"][..], &[][..], "--ping-interval"),
        (&["serve", "--max-payload", "12"], &[], "--max-payload"),
        (&["--listen", "localhost"], &[], "--listen"),
        (&[], &[("SWITCHBOARD_MAX_PAYLOAD", "lots")], "--max-payload"),
        (&[], &[("SWITCHBOARD_LOG_FORMAT", "xml")], "--log-format"),
        (&["--max-attachments", "1001"], &[], "--max-attachments"),
        (
            &[],
            &[("SWITCHBOARD_MAX_ATTACHMENT_BYTES", "10")],
            "--max-attachment-bytes",
        ),
        (
            &[],
            &[("SWITCHBOARD_ATTACHMENT_TIMEOUT", "never")],
            "--attachment-timeout",
        ),
        (
            &[],
            &[("SWITCHBOARD_ECHO_NAMESPACES", "/,chat")],
            "--echo-namespaces",
        ),
        (&[], &[("SWITCHBOARD_JWT_SECRET", "short")], "--jwt-secret"),
        (
            &[],
            &[("SWITCHBOARD_API_KEYS", "long-enough-key-0123,tiny")],
            "--api-keys",
        ),
        (&["token", ""], &[], "<USER>"),
        (&["token", "ann", "--ttl", "forever"], &[], "--ttl"),
    ] {
        let output = switchboard(args, env);
        assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(named), "{args:?} {env:?}: {stderr}");
    }
}

#[test]
fn an_address_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = switchboard(&["--listen", &addr], &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

const JWT_SECRET: &str = "cli-secret-value-0123456789";
const API_KEY: &str = "cli-api-key-value-0123456789";

#[test]
fn secrets_never_appear_in_help() {
    let env = [
        ("SWITCHBOARD_JWT_SECRET", JWT_SECRET),
        ("SWITCHBOARD_API_KEYS", API_KEY),
    ];
    for args in [&["--help"][..], &["serve", "--help"], &["token", "--help"]] {
        let output = switchboard(args, &env);
        assert!(output.status.success(), "{args:?}");
        let shown = String::from_utf8_lossy(&output.stdout);
        assert!(!shown.contains(JWT_SECRET), "{args:?} shows the JWT secret");
        assert!(!shown.contains(API_KEY), "{args:?} shows an API key");
    }
}

fn verify(token: &str, secret: &str) -> serde_json::Value {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.leeway = 0;
    jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .expect("a valid HS256 token")
    .claims
}

#[test]
fn token_prints_a_token_signed_with_the_configured_secret() {
    let output = switchboard(
        &["token", "ann@example.com", "--ttl", "10m"],
        &[("SWITCHBOARD_JWT_SECRET", JWT_SECRET)],
    );
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout).unwrap();
    let claims = verify(token.trim(), JWT_SECRET);
    assert_eq!(claims["sub"], "ann@example.com");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exp = claims["exp"].as_u64().unwrap();
    assert!(
        (now + 590..=now + 610).contains(&exp),
        "exp {exp}, now {now}"
    );

    // Without a secret: the development one, said on stderr.
    let output = switchboard(&["token", "ann"], &[]);
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout).unwrap();
    verify(
        token.trim(),
        switchboard::notifications::credentials::DEVELOPMENT_SECRET,
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("development secret"));
}

/// A start-up failure: exit status 1 and one line on stderr, `error: ` and
/// the message naming `setting`; no panic, no backtrace (even asked for one),
/// no list of causes. Returns the line.
fn fails_to_start_naming(args: &[&str], setting: &str) -> String {
    // Few connections: no warning about the open-file limit on any machine.
    let mut args = args.to_vec();
    args.extend(["--max-connections", "64"]);
    let output = switchboard(&args, &[("RUST_BACKTRACE", "1")]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line on stderr: {stderr}");
    let line = lines[0];
    assert!(line.starts_with("error: "), "{args:?}: {line}");
    assert!(line.contains(setting), "{args:?}: names {setting}: {line}");
    for noise in ["panicked", "stack backtrace", "Caused by", "Error: "] {
        assert!(!stderr.contains(noise), "{args:?}: {noise:?} in {stderr}");
    }
    line.to_owned()
}

#[test]
fn a_port_in_use_fails_in_one_line_naming_listen() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let line = fails_to_start_naming(&["--listen", &addr], "--listen");
    assert!(line.contains(&addr), "{line}");
    assert!(line.to_lowercase().contains("in use"), "{line}");
}

#[test]
fn an_unusable_store_fails_in_one_line_naming_database_url() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the store's directory should be: no user can create it.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let unwritable = format!("sqlite://{}/sb.db", file.display());
    // A file that is not a database.
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    let unreadable = format!("sqlite://{}", garbage.display());
    for url in [&unwritable, &unreadable] {
        fails_to_start_naming(
            &["--listen", "127.0.0.1:0", "--database-url", url],
            "--database-url",
        );
    }
}

#[test]
fn an_unreachable_postgres_fails_in_one_line_without_the_url() {
    // Nothing listens on port 1; the URL's password never shows.
    let url = "postgres://switchboard:hunter2-password@127.0.0.1:1/switchboard";
    let line = fails_to_start_naming(
        &["--listen", "127.0.0.1:0", "--database-url", url],
        "--database-url",
    );
    assert!(!line.contains("hunter2"), "{line}");
}
