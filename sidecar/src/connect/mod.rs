//! `sidecar connect URL`: the bridge in the other direction, for MCP clients that speak only
//! stdio (Claude Desktop's local servers, scripts): JSON-RPC lines on stdin and stdout, Streamable
//! HTTP to the gateway, OAuth as a public client in front of it (`oauth`).
//!
//! Modules: `args` (options), `stdio` (lines in and out), `gateway` (HTTP with the token, answers
//! and SSE), `sse` (reading events), `relay` (messages, sessions, restarts), `session`,
//! `standalone` (the GET stream), `route` (stateless requests), `oauth`, `error`.

pub mod args;
pub mod error;
pub mod gateway;
pub mod oauth;
pub mod relay;
pub mod route;
pub mod session;
pub mod sse;
pub mod standalone;
pub mod stdio;

use std::process::ExitCode;
use std::sync::Arc;

use reqwest::StatusCode;

use crate::protocol::jsonrpc::{self, RpcError};
use args::{ConnectArgs, Options};
use error::ConnectError;
use gateway::Gateway;
use oauth::Auth;
use oauth::store::Store;
use relay::Relay;
use session::Link;
use stdio::{Input, Lines, Out};

/// sysexits(3): bad options.
const EX_USAGE: u8 = 64;
/// sysexits(3): the token file may not be used as it is (permissions).
const EX_NOPERM: u8 = 77;

pub fn main(args: ConnectArgs, from_dotenv: &[std::ffi::OsString]) -> ExitCode {
    let opts = match args.validate(from_dotenv) {
        Ok(opts) => opts,
        Err(problems) => {
            eprintln!("sidecar connect: invalid options:");
            for p in problems {
                eprintln!("  - {p}");
            }
            return ExitCode::from(EX_USAGE);
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&opts.log_level))
        .with_writer(std::io::stderr)
        .try_init();
    // One thread: a bridge for one client waits on I/O, and stays small.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sidecar connect: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ ConnectError::TokenFile(_)) => {
            eprintln!("sidecar connect: {e}");
            ExitCode::from(EX_NOPERM)
        }
        Err(e) => {
            eprintln!("sidecar connect: {e}");
            ExitCode::FAILURE
        }
    }
}

fn client(opts: &Options) -> Result<reqwest::Client, ConnectError> {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        // Between two reads of an answer: gateways send SSE keep-alives well within this.
        .read_timeout(opts.request_timeout)
        // OAuth endpoints and the MCP endpoint must not redirect (client requirement E1); a redirect
        // would also carry the token elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sidecar-connect/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConnectError::Unreachable(e.to_string()))
}

async fn run(opts: Options) -> Result<(), ConnectError> {
    let store = Store::open(&opts.token_file)?;
    let http = client(&opts)?;
    let gw = Gateway {
        http: http.clone(),
        url: opts.url.clone(),
        auth: Auth::new(http, &opts, store),
        max_message: opts.max_line_bytes,
    };
    if opts.print_token {
        return print_token(&gw).await;
    }
    let (out, writer) = Out::start(tokio::io::stdout());
    let relay = Arc::new(Relay {
        link: Arc::new(Link {
            gw,
            out,
            session: Default::default(),
            generation: tokio::sync::watch::channel(0).0,
        }),
        standalone: Default::default(),
    });
    let mut lines = Lines::new(tokio::io::stdin(), opts.max_line_bytes);
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(input) = lines.next().await {
        match input {
            Input::Line(line) => relay.line(line, &mut tasks).await,
            Input::TooLong(max) => {
                let e = RpcError::new(
                    jsonrpc::INVALID_REQUEST,
                    format!("message longer than {max} bytes (--max-line-bytes)"),
                );
                relay.reply(None, e).await;
            }
        }
        // Finished requests leave the set as we go.
        while tasks.try_join_next().is_some() {}
    }
    // stdin closed: the client is leaving (MCP "Lifecycle" > "Shutdown" for stdio). Answers
    // still on their way are delivered first.
    while tasks.join_next().await.is_some() {}
    relay.close().await;
    drop(relay);
    let _ = writer.await;
    Ok(())
}

/// `--print-token`: an access token the gateway accepts, on stdout (logging in when needed), for
/// scripts. A kept token is checked with one request first: a revoked one is renewed.
async fn print_token(gw: &Gateway) -> Result<(), ConnectError> {
    let kept = gw.auth.token().await;
    let mut probe = gw
        .http
        .post(gw.url.clone())
        .header("accept", gateway::ACCEPT_BOTH)
        .header("content-type", "application/json")
        .body("{}");
    if let Some(t) = &kept {
        probe = probe.bearer_auth(t);
    }
    let answer = probe.send().await?;
    let token = match (answer.status(), kept) {
        // The gateway's 401 names where to log in (MCP authorization "Authorization Server
        // Discovery").
        (StatusCode::UNAUTHORIZED, kept) => {
            let challenge = answer
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            gw.auth.renew(kept.as_deref(), challenge.as_deref()).await?
        }
        (_, Some(token)) => token,
        (status, None) => {
            return Err(ConnectError::Login(format!(
                "the gateway answered {status} without a token; nothing to log in to"
            )));
        }
    };
    println!("{token}");
    Ok(())
}
