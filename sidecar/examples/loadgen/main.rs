//! loadgen: the MCP Streamable HTTP load generator behind `just bench-sidecar`.
//!
//! It drives one target (a stdio→Streamable HTTP bridge at `--url`, or the stdio server itself with
//! `--stdio -- CMD ARGS`, the lower bound) with `tools/call` requests, checks every answer and prints
//! one JSON object per measurement on stdout. `scripts/bench-sidecar.sh` starts the targets, runs
//! this program against each and turns the lines into `reports/bench-sidecar.{json,md}` with the
//! `report` subcommand.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod bench;
mod eras;
mod error;
mod http;
mod procfs;
mod report;
mod session;
mod shape;
mod soak;
mod sse;
mod stats;
mod stdio;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::session::Target;
use crate::shape::Shape;
use crate::workload::Tool;

#[derive(Parser)]
#[command(
    about = "MCP Streamable HTTP load generator (JSON and SSE answers, every answer checked)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the load shapes against one target and print JSON lines.
    Bench(BenchArgs),
    /// Measure session creation (initialize round trip) with sessions opened one after another.
    Sessions(SessionsArgs),
    /// Wait until an HTTP endpoint answers at all (bounded polling, no fixed sleeps).
    Ready(ReadyArgs),
    /// Turn the JSON lines of a run into the JSON report and the Markdown table.
    Report(ReportArgs),
    /// Mixed, checked load on several endpoints for a fixed time (the soak test's clients).
    Soak(SoakArgs),
    /// A burst of malformed requests, each of which must get its defined error status.
    Malformed(MalformedArgs),
}

#[derive(Args)]
struct SoakArgs {
    /// The plan (JSON: seconds, deadline, endpoints with token, tool and workers per kind).
    #[arg(long)]
    plan: PathBuf,
    /// Where the JSON summary goes.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct MalformedArgs {
    #[arg(long)]
    url: String,
    /// File holding a valid bearer token for `--url`.
    #[arg(long)]
    token_file: PathBuf,
    /// Times every bad request is sent.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// The endpoint's body limit (SIDECAR_MAX_BODY_BYTES): the oversize body exceeds it.
    #[arg(long, default_value_t = 4_194_304)]
    max_body_bytes: usize,
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
}

#[derive(Args, Clone)]
struct TargetArgs {
    /// Name of the target in the report (sidecar, supergateway, stdio, ...).
    #[arg(long)]
    name: String,
    /// Tool to call: `echo` (server-everything) or `time` (mcp-server-time).
    #[arg(long, value_enum)]
    tool: Tool,
    /// MCP endpoint of an HTTP bridge.
    #[arg(long, conflicts_with = "stdio")]
    url: Option<String>,
    /// Drive the server directly over stdio: the command follows `--`.
    #[arg(long)]
    stdio: bool,
    /// Protocol revision sent in `initialize`.
    #[arg(long, default_value = "2025-06-18")]
    protocol_version: String,
    /// Send stateless (MCP 2026-07-28) requests instead of opening sessions.
    #[arg(long, requires = "url")]
    stateless: bool,
    /// Seconds one request may take before it counts as an error.
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
    /// Server command for `--stdio`.
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Shapes as SESSIONSxCONCURRENCY, comma-separated.
    #[arg(long, default_value = "1x1,1x16,16x4,64x1", value_delimiter = ',')]
    shapes: Vec<Shape>,
    /// Measured seconds per shape.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Warm-up seconds per shape (requests sent, not counted).
    #[arg(long, default_value_t = 1.0)]
    warmup_secs: f64,
    /// Root process of the bridge, for RSS of the process tree with all sessions open.
    #[arg(long)]
    pid: Option<u32>,
    /// Free text carried into the report (how the target was started, its limits).
    #[arg(long, default_value = "")]
    note: String,
}

#[derive(Args)]
struct SessionsArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Sessions to open one after another.
    #[arg(long, default_value_t = 16)]
    count: usize,
    /// Label of this measurement (cold, warm-pool, ...).
    #[arg(long)]
    label: String,
    /// Before starting, wait until the process tree of this pid has at least `--min-children`
    /// processes whose CPU time stopped growing (a warm pool that finished starting up).
    #[arg(long, requires = "min_children")]
    pid: Option<u32>,
    #[arg(long)]
    min_children: Option<usize>,
    /// With `--stdio`: start every server first, initialize each once all are idle.
    #[arg(long)]
    prespawned: bool,
}

#[derive(Args)]
struct ReadyArgs {
    /// URL polled with GET until any HTTP status comes back.
    #[arg(long)]
    url: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    /// The server's pid: give up as soon as it has exited (a port it found taken, say).
    #[arg(long)]
    pid: Option<u32>,
}

#[derive(Args)]
struct ReportArgs {
    /// JSON lines written by `bench` and `sessions`.
    #[arg(long)]
    input: PathBuf,
    #[arg(long)]
    json: PathBuf,
    #[arg(long)]
    md: PathBuf,
}

impl TargetArgs {
    fn target(&self) -> Result<Target, error::Error> {
        let timeout = Duration::from_secs(self.request_timeout_secs);
        match (&self.url, self.stdio) {
            (Some(url), false) if self.stateless => {
                Ok(Target::stateless(&self.name, self.tool, url, timeout)?)
            }
            (Some(url), false) => Ok(Target::http(
                &self.name,
                self.tool,
                url,
                &self.protocol_version,
                timeout,
            )?),
            (None, true) if !self.command.is_empty() => Ok(Target::stdio(
                &self.name,
                self.tool,
                self.command.clone(),
                &self.protocol_version,
                timeout,
            )),
            _ => Err(error::Error::Usage(
                "give either --url URL or --stdio -- CMD [ARGS...]".into(),
            )),
        }
    }
}

async fn malformed(args: &MalformedArgs) -> Result<(), error::Error> {
    let token = std::fs::read_to_string(&args.token_file)?;
    let timeout = Duration::from_secs(args.request_timeout_secs);
    let endpoint = http::Endpoint::new(&args.url, timeout)?.with_token(token.trim().to_owned());
    soak::burst(&endpoint, args.rounds, args.max_body_bytes).await
}

// One thread: the load generator shares the host's cores with what it measures, and wake-ups
// between runtime threads cost CPU the targets could use (measured: 43 -> 32 us of load generator CPU
// per HTTP request at 64 sessions).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Bench(args) => match args.target.target() {
            Ok(target) => {
                let plan = bench::Plan {
                    shapes: args.shapes,
                    measure: Duration::from_secs_f64(args.secs),
                    warmup: Duration::from_secs_f64(args.warmup_secs),
                    pid: args.pid,
                    note: args.note,
                };
                bench::run(&target, &plan).await
            }
            Err(e) => Err(e),
        },
        Command::Sessions(args) => match args.target.target() {
            Ok(target) => {
                let settle = args.pid.zip(args.min_children);
                bench::sessions(&target, args.count, &args.label, settle, args.prespawned).await
            }
            Err(e) => Err(e),
        },
        Command::Ready(args) => {
            let alive = || args.pid.is_none_or(procfs::is_running);
            http::wait_ready(&args.url, Duration::from_secs(args.timeout_secs), alive).await
        }
        Command::Report(args) => report::write(&args.input, &args.json, &args.md),
        Command::Soak(args) => match soak::Plan::read(&args.plan) {
            Ok(plan) => soak::run(&plan, &args.out).await,
            Err(e) => Err(e),
        },
        Command::Malformed(args) => malformed(&args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
