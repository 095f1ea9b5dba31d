//! nginx (Debian's package) on loopback in front of two nodes, configured with
//! `deploy/nginx/switchboard.conf` (the file docs/deployment.md describes;
//! only the node addresses and the listen port are replaced): the JS and
//! Python notification checks run through it over polling and WebSocket (their
//! API calls go round robin, so pushes cross nodes), and game clients that
//! connect with `?game=ID` all land on the node that runs their game.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::json;

use crate::helpers::{
    API_KEY, CheckProgram, Cluster, SECRET, SioClient, WAIT, available, metrics_text, project_path,
    run_notification_checks,
};

const NGINX: &str = "/usr/sbin/nginx";

struct Nginx {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// nginx with the deployment config in front of `nodes`.
    fn start(nodes: &[SocketAddr]) -> Option<Self> {
        if !available(
            "nginx (apt-get install nginx-light)",
            Path::new(NGINX).exists(),
        ) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let site = std::fs::read_to_string(project_path("deploy/nginx/switchboard.conf")).unwrap();
        let mut config = String::new();
        for line in site.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("server 10.0.0.") {
                // The example's node lines, replaced by this test's nodes.
                if trimmed.starts_with("server 10.0.0.11:") {
                    for node in nodes {
                        config
                            .push_str(&format!("    server {node} max_fails=1 fail_timeout=5s;\n"));
                    }
                }
                continue;
            }
            if trimmed == "listen 80;" {
                config.push_str(&format!("    listen 127.0.0.1:{port};\n"));
                continue;
            }
            config.push_str(line);
            config.push('\n');
        }
        let path = dir.path();
        let main = format!(
            "daemon off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n access_log off;\n client_body_temp_path {p}/body;\n proxy_temp_path {p}/proxy;\n\
             fastcgi_temp_path {p}/fastcgi;\n uwsgi_temp_path {p}/uwsgi;\n scgi_temp_path {p}/scgi;\n\
             {config}\n}}\n",
            p = path.display()
        );
        let conf = path.join("nginx.conf");
        std::fs::write(&conf, main).unwrap();
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(path)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx starts");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nginx did not listen; error log:\n{}",
                std::fs::read_to_string(path.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self {
            child,
            addr,
            _dir: dir,
        })
    }
}

impl Drop for Nginx {
    /// SIGTERM, not SIGKILL: the master then stops its worker processes too
    /// (killed outright, it would leave them running).
    fn drop(&mut self) {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            self.child.kill().ok();
        }
        self.child.wait().ok();
    }
}

async fn behind_nginx() -> Option<(Cluster, Nginx)> {
    let cluster = Cluster::start(2).await?;
    let nginx = Nginx::start(&[cluster.addr(0), cluster.addr(1)])?;
    Some((cluster, nginx))
}

async fn through_nginx(program: CheckProgram, transport: &str, label: &str) {
    let Some((_cluster, nginx)) = behind_nginx().await else {
        return;
    };
    let url = format!("http://{}", nginx.addr);
    run_notification_checks(program, &url, (SECRET, API_KEY), transport, label).await;
}

async fn js_through_nginx(transport: &str) {
    let label = format!("js-nginx-notifications-{transport}");
    through_nginx(CheckProgram::Js, transport, &label).await;
}

async fn python_through_nginx(transport: &str) {
    let label = format!("python-nginx-notifications-{transport}");
    through_nginx(CheckProgram::Python, transport, &label).await;
}

#[tokio::test]
async fn js_clients_through_nginx_over_websocket() {
    js_through_nginx("websocket").await;
}

#[tokio::test]
async fn js_clients_through_nginx_over_polling() {
    js_through_nginx("polling").await;
}

#[tokio::test]
async fn python_clients_through_nginx_over_websocket() {
    python_through_nginx("websocket").await;
}

#[tokio::test]
async fn python_clients_through_nginx_over_polling() {
    python_through_nginx("polling").await;
}

async fn games_active(addr: SocketAddr) -> i64 {
    let text = metrics_text(addr).await;
    text.lines()
        .find_map(|l| l.strip_prefix("switchboard_games_active "))
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn players_of_one_game_are_routed_to_one_node() {
    let Some((cluster, nginx)) = behind_nginx().await else {
        return;
    };
    const GAMES: usize = 12;
    let mut players = Vec::new();
    for g in 0..GAMES {
        let game = format!("routed-{g}");
        let mut pair = Vec::new();
        for name in ["Ann", "Bob"] {
            let mut client =
                SioClient::connect_with_query(nginx.addr, &format!("&game={game}"), "/game").await;
            let ack = client
                .request("join", json!({ "game": game, "name": name }))
                .await;
            assert_eq!(ack["ok"], true, "{ack}");
            pair.push(client);
        }
        // Ann hears Bob join: both are on the node running the game.
        let joined = pair[0].next_event("player_joined").await;
        assert_eq!(joined["name"], "Bob", "game {game}");
        players.push(pair);
    }
    // Each game runs once in the cluster, on one node.
    let total = games_active(cluster.addr(0)).await + games_active(cluster.addr(1)).await;
    assert_eq!(total, i64::try_from(GAMES).unwrap());
}
