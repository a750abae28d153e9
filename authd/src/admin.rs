//! The admin CLI (docs/api/commands.md#authd): key generation and rotation,
//! token minting for scripts and CI, client, token and user management. Output is JSON lines or the
//! single value asked for.

use clap::Subcommand;
use redis::AsyncCommands;

use crate::admin_listing::{self, list, token_line};
use crate::allow::Identity;
use crate::config::{Config, EXIT_CONFIG};
use crate::oauth::client::Client;
use crate::oauth::scope;
use crate::oauth::token::family::{Family, TokenRecord, mint_access, revoke_family};
use crate::state::App;
use crate::store::user_tokens::Held;
use crate::token::keys::{env_line, generate_pem};

pub use crate::admin_keys::KeysCommand;

/// The longest lifetime `token mint --ttl` accepts (so `now + ttl` cannot overflow).
pub const MAX_MINT_TTL: u64 = 365 * 24 * 3600;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Print a signed access token recorded in Redis (accepted by /verify).
    Mint {
        /// User id (`<provider>:<id>`), the token's `sub`.
        #[arg(long, allow_hyphen_values = true)]
        user: String,
        /// A configured MCP resource URL, the token's `aud`.
        #[arg(long)]
        resource: String,
        /// Space-separated scopes.
        #[arg(long, default_value = scope::MCP)]
        scope: String,
        /// Lifetime in seconds, at most a year (default ACCESS_TOKEN_TTL_SECS).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_MINT_TTL))]
        ttl: Option<u64>,
        #[arg(long, default_value = "authd-cli", allow_hyphen_values = true)]
        client_id: String,
        /// User name (default: the user id).
        #[arg(long)]
        name: Option<String>,
        /// Email, checked against email allow lists.
        #[arg(long)]
        email: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Registered clients, one JSON line each.
    List,
    /// Clients holding live grants, with their users and counts.
    Connected,
    /// Delete a registered client: its next token request is `invalid_client`.
    Delete {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
}

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Live access tokens (all of them by SCAN, or one user's from its index) and, with
    /// `--user`, the user's refresh families.
    List {
        #[arg(long, allow_hyphen_values = true)]
        user: Option<String>,
    },
    /// Revoke one access token by id, or everything a user holds (`--user`).
    Revoke {
        #[arg(
            allow_hyphen_values = true,
            required_unless_present = "user",
            conflicts_with = "user"
        )]
        jti: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        user: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ConsentsCommand {
    /// Remembered consents: user, client, when, seconds left.
    List {
        #[arg(long, allow_hyphen_values = true)]
        user: Option<String>,
    },
    /// Forget a user's consent for a client: the next login asks again
    /// (docs/architecture/security.md#users-consent-and-allow-lists).
    Revoke {
        #[arg(long, allow_hyphen_values = true)]
        user: String,
        #[arg(long, allow_hyphen_values = true)]
        client: String,
    },
}

#[derive(Subcommand)]
pub enum UpstreamCommand {
    /// Look up the identity behind an upstream access token (read from the environment variable
    /// UPSTREAM_ACCESS_TOKEN, never from the command line) and print the allow-list decisions.
    Whoami,
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Users with live grants, consents or a block, with what they hold.
    List,
    /// Block a user at once: the next MCP request, refresh and login are refused.
    Disable {
        #[arg(allow_hyphen_values = true)]
        user_id: String,
    },
    /// Lift a block.
    Enable {
        #[arg(allow_hyphen_values = true)]
        user_id: String,
    },
}

pub fn keygen() -> i32 {
    match generate_pem() {
        Ok(pem) => {
            println!("{}", env_line(&pem));
            0
        }
        Err(e) => {
            eprintln!("authd: {e}");
            1
        }
    }
}

pub async fn healthcheck(url: &str) -> i32 {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build();
    match client {
        Ok(c) => match c.get(url).send().await {
            Ok(r) if r.status().is_success() => 0,
            _ => 1,
        },
        Err(_) => 1,
    }
}

/// The admin subcommands that need the configuration and Redis.
pub enum Admin {
    Keys(KeysCommand),
    Token(TokenCommand),
    Clients(ClientsCommand),
    Tokens(TokensCommand),
    Users(UsersCommand),
    Consents(ConsentsCommand),
    Upstream(UpstreamCommand),
}

/// Runs one admin subcommand: exit 0, 1 on failure, 64 on unusable settings.
pub async fn run(config: Config, cmd: Admin) -> i32 {
    let app = match App::build(config) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("authd: {e}");
            return EXIT_CONFIG;
        }
    };
    let result = match cmd {
        Admin::Keys(c) => crate::admin_keys::run(&app, c).await,
        Admin::Token(c) => mint(&app, c).await,
        Admin::Clients(c) => clients(&app, c).await,
        Admin::Tokens(c) => tokens(&app, c).await,
        Admin::Users(c) => users(&app, c).await,
        Admin::Upstream(UpstreamCommand::Whoami) => whoami(&app).await,
        Admin::Consents(ConsentsCommand::List { user }) => {
            admin_listing::consents(&app, user.as_deref()).await
        }
        Admin::Consents(ConsentsCommand::Revoke { user, client }) => {
            let key = crate::oauth::consent::consent_key(&app, &user, &client);
            app.store.del(&[key]).await.map_err(|e| e.to_string())
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("authd: {e}");
            1
        }
    }
}

async fn mint(app: &App, cmd: TokenCommand) -> Result<(), String> {
    let TokenCommand::Mint {
        user,
        resource,
        scope,
        ttl,
        client_id,
        name,
        email,
    } = cmd;
    let (_, resource) = app
        .config
        .resources
        .resolve(&resource)
        .ok_or_else(|| format!("{resource} is not a configured MCP resource"))?;
    let resource = resource.to_owned();
    let who = Identity {
        name: name.unwrap_or_else(|| user.clone()),
        id: user,
        email,
        orgs: Vec::new(),
    };
    let ttl = ttl.unwrap_or(app.config.limits.access_ttl);
    let (jwt, _) = mint_access(app, &who, &client_id, &resource, &scope, ttl, None)
        .await
        .map_err(|e| e.to_string())?;
    println!("{jwt}");
    Ok(())
}

async fn clients(app: &App, cmd: ClientsCommand) -> Result<(), String> {
    let store = &app.store;
    match cmd {
        ClientsCommand::Connected => admin_listing::connected(app).await,
        ClientsCommand::List => {
            list(store, "client", |_, c: Client| {
                serde_json::json!({"client_id": c.client_id, "issued_at": c.issued_at, "metadata": c.metadata})
            })
            .await
        }
        ClientsCommand::Delete { client_id } => {
            store.del(&[store.key("client", &client_id)]).await.map_err(|e| e.to_string())
        }
    }
}

async fn tokens(app: &App, cmd: TokensCommand) -> Result<(), String> {
    let store = &app.store;
    match cmd {
        TokensCommand::List { user: None } => list(store, "token", token_line).await,
        TokensCommand::List { user: Some(user) } => {
            for held in store.held_by(&user).await.map_err(|e| e.to_string())? {
                let line = match &held {
                    Held::Access(jti) => store
                        .get::<TokenRecord>(&store.key("token", jti))
                        .await
                        .map(|t| t.map(|t| token_line(jti, t))),
                    Held::Family(id) => store
                        .get::<Family>(&store.key("family", id))
                        .await
                        .map(|f| f.map(|f| serde_json::json!({"family": id, "sub": f.user.id, "client_id": f.client_id, "aud": f.resource, "scope": f.scope}))),
                };
                // Entries whose token was revoked or rotated away are skipped.
                if let Some(line) = line.map_err(|e| e.to_string())? {
                    println!("{line}");
                }
            }
            Ok(())
        }
        TokensCommand::Revoke {
            user: Some(user), ..
        } => revoke_user(app, &user).await,
        TokensCommand::Revoke { jti, user: None } => {
            let keys: Vec<String> = jti.iter().map(|j| store.key("token", j)).collect();
            store.del(&keys).await.map_err(|e| e.to_string())
        }
    }
}

/// Everything `user` holds, from its index: access tokens (the next `/verify` refuses them) and
/// refresh families (with their access tokens; the next refresh is `invalid_grant`).
async fn revoke_user(app: &App, user: &str) -> Result<(), String> {
    let store = &app.store;
    let held = store.held_by(user).await.map_err(|e| e.to_string())?;
    let mut keys = vec![store.user_tokens_key(user)];
    for h in &held {
        match h {
            Held::Access(jti) => keys.push(store.key("token", jti)),
            Held::Family(id) => revoke_family(app, id).await.map_err(|e| e.to_string())?,
        }
    }
    store.del(&keys).await.map_err(|e| e.to_string())?;
    eprintln!("authd: revoked {} grants of {user}", held.len());
    Ok(())
}

async fn users(app: &App, cmd: UsersCommand) -> Result<(), String> {
    let key = app.store.disabled_key();
    let mut c = app.store.conn();
    let r: Result<i64, _> = match cmd {
        UsersCommand::List => return admin_listing::users(app).await,
        UsersCommand::Disable { user_id } => c.sadd(key, user_id).await,
        UsersCommand::Enable { user_id } => c.srem(key, user_id).await,
    };
    r.map(|_| ()).map_err(|e| e.to_string())
}

/// The environment variable `authd upstream whoami` reads the upstream access token from.
pub const UPSTREAM_ACCESS_TOKEN: &str = "UPSTREAM_ACCESS_TOKEN";

/// The login-time decisions for an upstream token, without a browser: the same lookup as
/// `/callback` (`Upstream::lookup`) and the same allow policy (`AllowPolicy::may_login`/`may_use`).
/// The disabled-users set is not consulted (no Redis needed).
async fn whoami(app: &App) -> Result<(), String> {
    let token = std::env::var(UPSTREAM_ACCESS_TOKEN)
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("{UPSTREAM_ACCESS_TOKEN} is not set"))?;
    let who = app
        .upstream
        .lookup(&app.config.upstream, &app.http, &token)
        .await
        .map_err(|e| e.to_string())?;
    let allow = &app.config.allow;
    let services: serde_json::Map<String, serde_json::Value> = app
        .config
        .resources
        .services()
        .map(|s| (s.to_owned(), allow.may_use(&who, s).into()))
        .collect();
    println!(
        "{}",
        serde_json::json!({"id": who.id, "name": who.name, "email": who.email, "orgs": who.orgs,
            "may_login": allow.may_login(&who), "may_use": services})
    );
    Ok(())
}
