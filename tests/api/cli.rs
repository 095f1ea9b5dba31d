//! The command line as a user meets it: `--help` and bad settings.

use std::process::Command;

const SETTINGS: &[(&str, &str, &str)] = &[
    ("--listen", "SWITCHBOARD_LISTEN", "127.0.0.1:3000"),
    ("--ping-interval", "SWITCHBOARD_PING_INTERVAL", "25s"),
    ("--ping-timeout", "SWITCHBOARD_PING_TIMEOUT", "20s"),
    ("--connect-timeout", "SWITCHBOARD_CONNECT_TIMEOUT", "45s"),
    ("--ack-timeout", "SWITCHBOARD_ACK_TIMEOUT", "5s"),
    ("--max-payload", "SWITCHBOARD_MAX_PAYLOAD", "1000000"),
    (
        "--echo-namespaces",
        "SWITCHBOARD_ECHO_NAMESPACES",
        "/,/echo",
    ),
    ("--cors-origins", "SWITCHBOARD_CORS_ORIGINS", ""),
    ("--log-format", "SWITCHBOARD_LOG_FORMAT", "text"),
    ("--log-level", "SWITCHBOARD_LOG_LEVEL", "info"),
    ("--shutdown-timeout", "SWITCHBOARD_SHUTDOWN_TIMEOUT", "5s"),
    (
        "--database-url",
        "SWITCHBOARD_DATABASE_URL",
        "sqlite://data/switchboard.db",
    ),
    ("--rate-limit", "SWITCHBOARD_RATE_LIMIT", "20"),
    ("--rate-burst", "SWITCHBOARD_RATE_BURST", "40"),
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
        (
            &[],
            &[("SWITCHBOARD_ECHO_NAMESPACES", "/,chat")],
            "--echo-namespaces",
        ),
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
