//! The `authd` command line: `authd serve` runs the server (the library's `serve`); the other
//! subcommands are the admin CLI (`admin`).

use authd::config::{self, EXIT_CONFIG};
use authd::{admin, listener, serve};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "authd",
    version,
    about = "OAuth 2.1 authorization server and forward-auth verifier for the MCP gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP on AUTHD_LISTEN (the default).
    Serve,
    /// Print a fresh `JWT_PRIVATE_KEY=...` line for .env.
    Keygen,
    /// Signing key management.
    Keys {
        #[command(subcommand)]
        command: admin::KeysCommand,
    },
    /// Mint an access token (for scripts and CI).
    Token {
        #[command(subcommand)]
        command: admin::TokenCommand,
    },
    /// Registered clients.
    Clients {
        #[command(subcommand)]
        command: admin::ClientsCommand,
    },
    /// Issued access tokens.
    Tokens {
        #[command(subcommand)]
        command: admin::TokensCommand,
    },
    /// Remembered consents.
    Consents {
        #[command(subcommand)]
        command: admin::ConsentsCommand,
    },
    /// Upstream identity provider diagnostics.
    Upstream {
        #[command(subcommand)]
        command: admin::UpstreamCommand,
    },
    /// Block or unblock a user at once.
    Users {
        #[command(subcommand)]
        command: admin::UsersCommand,
    },
    /// Validate the settings and exit: 0, or 64 with every problem listed (`just doctor`).
    Check,
    /// Exit 0 when the health URL answers 200 (Docker HEALTHCHECK; images have no curl).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8000/health")]
        url: String,
    },
}

fn load_config() -> config::Config {
    match config::Config::from_env() {
        Ok(c) => c,
        Err(problems) => {
            eprintln!("authd: invalid configuration:");
            for p in problems {
                eprintln!("  - {p}");
            }
            std::process::exit(EXIT_CONFIG);
        }
    }
}

fn main() {
    let inherited = match listener::take_inherited() {
        Ok(inherited) => inherited,
        Err(problem) => {
            eprintln!("authd: invalid configuration:\n  - {problem}");
            std::process::exit(EXIT_CONFIG);
        }
    };
    // A missing .env is fine (containers pass the environment directly).
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("authd: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve::run(load_config(), inherited).await,
            Command::Keygen => admin::keygen(),
            Command::Check => {
                load_config();
                eprintln!("authd: settings valid");
                0
            }
            Command::Healthcheck { url } => admin::healthcheck(&url).await,
            Command::Keys { command } => {
                admin::run(load_config(), admin::Admin::Keys(command)).await
            }
            Command::Token { command } => {
                admin::run(load_config(), admin::Admin::Token(command)).await
            }
            Command::Clients { command } => {
                admin::run(load_config(), admin::Admin::Clients(command)).await
            }
            Command::Tokens { command } => {
                admin::run(load_config(), admin::Admin::Tokens(command)).await
            }
            Command::Consents { command } => {
                admin::run(load_config(), admin::Admin::Consents(command)).await
            }
            Command::Upstream { command } => {
                admin::run(load_config(), admin::Admin::Upstream(command)).await
            }
            Command::Users { command } => {
                admin::run(load_config(), admin::Admin::Users(command)).await
            }
        }
    });
    std::process::exit(code);
}
