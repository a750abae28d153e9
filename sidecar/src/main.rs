//! The `sidecar` command line: `sidecar serve [OPTIONS] -- CMD [ARGS...]` runs the bridge
//! (`sidecar::app`); `sidecar connect URL` bridges a stdio MCP client to a gateway URL
//! (`sidecar::connect`); `sidecar healthcheck --url URL` exits 0 when `/health` answers 200 (for
//! Docker HEALTHCHECK: images have no curl).

use std::collections::HashSet;
use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sidecar::config::ServeArgs;
use sidecar::{app, health, http};

/// sysexits(3) `EX_USAGE`: bad command line or settings.
const EX_USAGE: u8 = 64;

#[derive(Parser)]
#[command(
    name = "sidecar",
    version,
    about = "Streamable HTTP bridge for one stdio MCP server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP over Streamable HTTP in front of `-- CMD [ARGS...]`.
    Serve(Box<ServeArgs>),
    /// Bridge a stdio MCP client to the gateway's MCP server at URL (with OAuth login).
    Connect(Box<sidecar::connect::args::ConnectArgs>),
    /// Exit 0 when the health endpoint answers 200, else 1.
    Healthcheck {
        #[arg(
            long,
            env = "SIDECAR_HEALTHCHECK_URL",
            default_value = "http://127.0.0.1:3000/health"
        )]
        url: String,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 5)]
        timeout_secs: u64,
    },
}

fn main() -> ExitCode {
    let inherited = match http::listener::take_inherited() {
        Ok(inherited) => inherited,
        Err(problem) => {
            eprintln!("sidecar: invalid configuration:\n  - {problem}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let from_dotenv = load_dotenv();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EX_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Serve(args) => match args.validate() {
            Ok(config) => app::serve(config, inherited, from_dotenv),
            Err(problems) => {
                eprintln!("sidecar: invalid configuration:");
                for problem in problems {
                    eprintln!("  - {problem}");
                }
                ExitCode::from(EX_USAGE)
            }
        },
        Command::Connect(args) => sidecar::connect::main(*args, &from_dotenv),
        Command::Healthcheck { url, timeout_secs } => {
            match health::check(&url, Duration::from_secs(timeout_secs)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(problem) => {
                    eprintln!("sidecar healthcheck: {problem}");
                    ExitCode::from(EX_USAGE)
                }
            }
        }
    }
}

/// Loads `.env` (a missing file is normal: settings may come from the real environment) and returns
/// the names it added. Children never see those: the gateway's `.env` also holds authd's secrets,
/// and an MCP server (the everything server's `get-env` tool, say) could print its whole environment.
fn load_dotenv() -> Vec<OsString> {
    let before: HashSet<OsString> = std::env::vars_os().map(|(name, _)| name).collect();
    let _ = dotenvy::dotenv();
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| !before.contains(name))
        .collect()
}
