//! The options of `sidecar connect` (command line only: it runs on a user's machine, started by
//! an MCP client such as Claude Desktop, and reads none of the gateway's settings).

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

/// Raw `sidecar connect` options, exactly as given.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// The MCP server's URL, exactly as the gateway publishes it (e.g. https://gw.example.com/time/mcp).
    pub url: String,
    /// Log in with a device code (RFC 8628): print a code and a URL to open on any device,
    /// instead of opening a browser here. For machines without a browser (SSH, CI).
    #[arg(long)]
    pub device: bool,
    /// Do not open a browser: print the login URL on stderr instead.
    #[arg(long)]
    pub no_browser: bool,
    /// Use this https URL as the client id (a Client ID Metadata Document you publish) instead
    /// of registering a client, when the authorization server supports it.
    #[arg(long, value_name = "URL")]
    pub client_metadata_url: Option<String>,
    /// Where tokens and registrations are kept (readable only by you; default:
    /// $XDG_CONFIG_HOME/mcp-gateway/connect.json, else ~/.config/mcp-gateway/connect.json).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Scopes to ask for (default: what the server's metadata names, plus offline_access).
    #[arg(long)]
    pub scope: Option<String>,
    /// Log in if needed, print the access token on stdout and exit (for scripts and CI).
    #[arg(long)]
    pub print_token: bool,
    /// Largest message line on stdin and largest SSE event from the gateway, in bytes.
    #[arg(long, default_value = "16777216")]
    pub max_line_bytes: usize,
    /// Seconds to wait for the user to finish a login.
    #[arg(long, default_value = "600")]
    pub login_timeout_secs: u64,
    /// Seconds one HTTP request to the gateway may take to start answering.
    #[arg(long, default_value = "300")]
    pub request_timeout_secs: u64,
    /// Log level on stderr (error, warn, info, debug); logs never contain tokens.
    #[arg(long, default_value = "warn")]
    pub log_level: String,
}

/// Validated options.
#[derive(Debug, Clone)]
pub struct Options {
    pub url: Url,
    pub device: bool,
    pub open_browser: bool,
    pub client_metadata_url: Option<String>,
    pub token_file: PathBuf,
    pub scope: Option<String>,
    pub print_token: bool,
    pub max_line_bytes: usize,
    pub login_timeout: Duration,
    pub request_timeout: Duration,
    pub log_level: String,
    /// Variables `.env` added to our environment: the browser we start never sees them (a
    /// gateway checkout's `.env` holds its secrets).
    pub from_dotenv: Vec<std::ffi::OsString>,
}

impl ConnectArgs {
    /// Checks every option; the error lists every problem at once.
    pub fn validate(self, from_dotenv: &[std::ffi::OsString]) -> Result<Options, Vec<String>> {
        let mut problems = Vec::new();
        if !["error", "warn", "info", "debug", "trace"].contains(&self.log_level.as_str()) {
            problems.push(format!(
                "--log-level: expected error, warn, info, debug or trace, got {:?}",
                self.log_level
            ));
        }
        let url = match Url::parse(&self.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Some(u),
            _ => {
                problems.push(format!("URL: not an http(s) URL: {:?}", self.url));
                None
            }
        };
        if let Some(u) = self
            .client_metadata_url
            .as_deref()
            .filter(|u| !u.starts_with("https://") && !u.starts_with("http://"))
        {
            problems.push(format!("--client-metadata-url: not a URL: {u:?}"));
        }
        if !(1024..=1 << 30).contains(&self.max_line_bytes) {
            problems.push("--max-line-bytes: must be between 1024 and 1073741824".into());
        }
        if !(1..=86_400).contains(&self.login_timeout_secs) {
            problems.push("--login-timeout-secs: must be between 1 and 86400".into());
        }
        if !(1..=86_400).contains(&self.request_timeout_secs) {
            problems.push("--request-timeout-secs: must be between 1 and 86400".into());
        }
        let token_file = self.token_file.or_else(default_token_file);
        if token_file.is_none() {
            problems
                .push("--token-file: no default (neither XDG_CONFIG_HOME nor HOME is set)".into());
        }
        match (url, token_file) {
            (Some(url), Some(token_file)) if problems.is_empty() => Ok(Options {
                url,
                device: self.device,
                open_browser: !self.no_browser && !self.device,
                client_metadata_url: self.client_metadata_url,
                token_file,
                scope: self.scope,
                print_token: self.print_token,
                max_line_bytes: self.max_line_bytes,
                login_timeout: Duration::from_secs(self.login_timeout_secs),
                request_timeout: Duration::from_secs(self.request_timeout_secs),
                log_level: self.log_level,
                from_dotenv: from_dotenv.to_vec(),
            }),
            _ => Err(problems),
        }
    }
}

/// The XDG base directory for configuration (XDG Base Directory Specification), a few lines
/// instead of a crate: `$XDG_CONFIG_HOME`, else `$HOME/.config`.
fn default_token_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("mcp-gateway").join("connect.json"))
}
