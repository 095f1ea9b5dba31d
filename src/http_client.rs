//! The HTTP client of the calls Switchboard makes out: the JWKS fetch
//! (`identity::jwks`) and the connect and RPC proxies (`namespaces::proxy`).
//!
//! hyper-util's client over rustls on the `ring` provider, which builds with
//! a C compiler alone (aws-lc-rs needs cmake), with the system's trust
//! roots; `http://` URLs too. Not reqwest: its rustls without a default
//! provider would make every reqwest client of the tests panic.

use std::{error::Error, sync::Arc};

use hyper::body::{Body, Bytes};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

/// A client for `http://` and `https://` URLs sending bodies of type `B`.
pub type OutboundClient<B> = Client<HttpsConnector<HttpConnector>, B>;

/// A new client; `setting` names the URL's flag in an error.
pub fn build<B>(setting: &str) -> anyhow::Result<OutboundClient<B>>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let connector = HttpsConnectorBuilder::new()
        .with_provider_and_platform_verifier(provider)
        .map_err(|e| anyhow::anyhow!("{setting}: cannot set up TLS: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// An error and its causes on one line (hyper's own says only "client error").
pub fn causes(error: &dyn Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}
