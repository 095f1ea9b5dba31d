//! Real clients and check programs (`tests/interop/`, `clients/`) run as
//! processes: whether their packages are installed (a failure in CI, a loud
//! skip elsewhere), running them, and checking and recording their summary
//! line (`interop: <program> <transport>: N checks ok, F failed`) under
//! `target/tmp/interop/` for the test command's summary.

use std::{path::PathBuf, process::Stdio, time::Duration};

pub fn project_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// `true` when `what` is installed; otherwise a failure in CI, a loud skip elsewhere.
pub fn available(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} is missing; the README's test command installs it");
    }
    eprintln!("SKIPPED: {what} is missing; run ./scripts/test.sh to install it");
    false
}

/// The npm packages of the clients (`clients/js`: chat.mjs, notify.mjs).
pub fn node_client_ready() -> bool {
    available(
        "clients/js/node_modules (cd clients/js && npm ci)",
        project_path("clients/js/node_modules/socket.io-client").exists(),
    )
}

/// The npm packages of the interop checks (`tests/interop`: `js/`, `browser/`).
pub fn node_checks_ready() -> bool {
    available(
        "tests/interop/node_modules (cd tests/interop && npm ci)",
        project_path("tests/interop/node_modules/socket.io-client").exists(),
    )
}

/// The venv's interpreter: `tests/interop/python/requirements.txt` holds the
/// checks' packages and includes `clients/python/requirements.txt`.
pub const PYTHON: &str = "tests/interop/python/.venv/bin/python";

/// The Python venv of the interop checks, which runs the Python clients too.
pub fn python() -> Option<PathBuf> {
    let python = project_path(PYTHON);
    available(
        "tests/interop/python/.venv (pip install -r tests/interop/python/requirements.txt)",
        python.exists(),
    )
    .then_some(python)
}

/// Runs a client program to completion and returns its stdout; panics with
/// its whole output when it fails.
pub async fn run_client(program: &PathBuf, args: &[&str], envs: &[(&str, String)]) -> String {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v)))
        .current_dir(project_path(""))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("{program:?} {args:?} did not finish in 120 s"))
        .expect("client starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program:?} {args:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

/// Checks a client's closing summary line and records it for the test command.
pub fn record_summary(stdout: &str, label: &str) -> u32 {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("interop: "))
        .unwrap_or_else(|| panic!("no summary line from {label}:\n{stdout}"));
    let counts = line.rsplit(": ").next().unwrap();
    let (ok, failed) = counts
        .strip_suffix(" failed")
        .and_then(|c| c.split_once(" checks ok, "))
        .unwrap_or_else(|| panic!("bad summary line {line}"));
    let ok: u32 = ok.parse().unwrap();
    assert_eq!(failed, "0", "{label}: {line}");
    assert!(ok > 0, "{label} ran no check: {line}");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("interop");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{label}.txt")), format!("{line}\n")).unwrap();
    ok
}

/// The npm packages of the JS check, `jsonwebtoken` (its tokens) included.
pub fn node_checks_with_jwt_ready() -> bool {
    node_checks_ready()
        && available(
            "tests/interop/node_modules/jsonwebtoken (cd tests/interop && npm ci)",
            project_path("tests/interop/node_modules/jsonwebtoken").exists(),
        )
}

/// Which interop check program.
#[derive(Clone, Copy)]
pub enum CheckProgram {
    Js,
    Python,
}

impl CheckProgram {
    /// `js` or `python`: how the labels of its recorded summaries begin.
    pub fn name(self) -> &'static str {
        match self {
            CheckProgram::Js => "js",
            CheckProgram::Python => "python",
        }
    }

    /// What runs its scripts (`node`, the venv's python); `None` (a skip)
    /// when its packages are missing.
    fn runner(self) -> Option<PathBuf> {
        match self {
            CheckProgram::Js => node_checks_ready().then(|| PathBuf::from("node")),
            CheckProgram::Python => python(),
        }
    }
}

/// Runs check `script` (under `tests/interop/`) of `program` with `args`,
/// then checks and records its summary as `label`; a skip when the
/// program's packages are missing.
pub async fn run_check(program: CheckProgram, script: &str, args: &[&str], label: &str) {
    let Some(runner) = program.runner() else {
        return;
    };
    let stdout = run_client(&runner, &[&[script], args].concat(), &[]).await;
    record_summary(&stdout, label);
}

/// Runs a notification check program against `url` (a server, or nginx in
/// front of several) with the secret and key it was started with, and
/// records its summary as `label`.
pub async fn run_notification_checks(
    program: CheckProgram,
    url: &str,
    (secret, api_key): (&str, &str),
    transport: &str,
    label: &str,
) {
    let script = match program {
        CheckProgram::Js => {
            if !node_checks_with_jwt_ready() {
                return;
            }
            "tests/interop/js/notifications.check.mjs"
        }
        CheckProgram::Python => "tests/interop/python/notifications_check.py",
    };
    let args = [
        url,
        "--secret",
        secret,
        "--api-key",
        api_key,
        "--transport",
        transport,
    ];
    run_check(program, script, &args, label).await;
}
