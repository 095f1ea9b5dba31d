//! One integration-test binary (one link, shared helpers); one module per feature.

/// Runs an `async fn(Engine)` test once per store engine.
macro_rules! on_both_engines {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                use crate::helpers::Engine;

                #[tokio::test]
                async fn sqlite() {
                    super::$test(Engine::Sqlite).await;
                }

                #[tokio::test]
                async fn postgres() {
                    super::$test(Engine::Postgres).await;
                }
            }
        )*
    };
}

/// Runs an `async fn(CheckProgram, &str)` interop check once per transport
/// named (`websocket`, `polling`, `upgrade`: polling upgraded to websocket):
/// `over_transports!(js_echo = echo(Js): [websocket, polling])` makes the
/// tests `js_echo::websocket` and `js_echo::polling`.
macro_rules! over_transports {
    ($($name:ident = $check:ident($program:ident): [$($transport:ident),* $(,)?]),* $(,)?) => {
        $(
            mod $name {
                use crate::helpers::CheckProgram;

                $(
                    #[tokio::test]
                    async fn $transport() {
                        super::$check(CheckProgram::$program, stringify!($transport)).await;
                    }
                )*
            }
        )*
    };
}

mod admin;
mod admin_browser;
mod browser;
mod chat;
mod chat_clients;
mod cli;
mod cluster;
mod connection_limits;
mod docs_examples;
mod echo_raw;
mod engineio_raw;
mod event_order;
mod fanout_limits;
mod game;
mod game_browser;
mod helpers;
mod http;
mod interop;
mod jwt;
mod metrics;
mod namespace_auth;
mod nginx;
mod notifications;
mod notifications_browser;
mod notifications_clients;
mod notifications_durability;
mod notifications_idempotency;
mod openapi;
mod origin;
mod packet_limits;
mod proxy;
mod proxy_schemas;
mod rate_limits;
mod recovery;
mod recovery_browser;
mod redis_emitter;
mod session_bounds;
mod shutdown;
mod socket_ids;
mod store_faults;
