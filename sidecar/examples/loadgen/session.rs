//! One MCP session on a target: opened with `initialize` + `notifications/initialized`
//! (MCP 2025-06-18 basic/lifecycle), then `tools/call` requests, then closed (DELETE over HTTP,
//! process killed over stdio).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::Error;
use crate::http::{Endpoint, SessionHeaders};
use crate::stdio::StdioChild;
use crate::workload::{self, Tool};

/// `Accept` sent with `initialize`: the pair every Streamable HTTP client must send.
pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// Which framing carried an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Framing {
    Json,
    Sse,
    Stdio,
}

/// What the load runs against.
pub struct Target {
    pub name: String,
    pub tool: Tool,
    pub protocol_version: String,
    kind: TargetKind,
}

enum TargetKind {
    Http(Arc<Endpoint>),
    /// Stateless requests (MCP 2026-07-28): no session to open, `_meta` and routing headers on
    /// every request.
    Stateless(Arc<Endpoint>),
    Stdio {
        command: Vec<String>,
        timeout: Duration,
    },
}

impl Target {
    pub fn http(
        name: &str,
        tool: Tool,
        url: &str,
        protocol_version: &str,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let endpoint = Arc::new(Endpoint::new(url, timeout)?);
        Ok(Self::sessions(name, tool, endpoint, protocol_version))
    }

    /// Legacy sessions on `endpoint` (which may carry a bearer token).
    pub fn sessions(
        name: &str,
        tool: Tool,
        endpoint: Arc<Endpoint>,
        protocol_version: &str,
    ) -> Self {
        Self {
            name: name.into(),
            tool,
            protocol_version: protocol_version.into(),
            kind: TargetKind::Http(endpoint),
        }
    }

    /// Stateless (MCP 2026-07-28) callers on `endpoint`.
    pub fn stateless_on(name: &str, tool: Tool, endpoint: Arc<Endpoint>) -> Self {
        Self {
            name: name.into(),
            tool,
            protocol_version: workload::STATELESS_VERSION.into(),
            kind: TargetKind::Stateless(endpoint),
        }
    }

    pub fn stateless(name: &str, tool: Tool, url: &str, timeout: Duration) -> Result<Self, Error> {
        let endpoint = Arc::new(Endpoint::new(url, timeout)?);
        Ok(Self::stateless_on(name, tool, endpoint))
    }

    pub fn stdio(
        name: &str,
        tool: Tool,
        command: Vec<String>,
        protocol_version: &str,
        timeout: Duration,
    ) -> Self {
        Self {
            name: name.into(),
            tool,
            protocol_version: protocol_version.into(),
            kind: TargetKind::Stdio { command, timeout },
        }
    }

    pub fn is_stdio(&self) -> bool {
        matches!(self.kind, TargetKind::Stdio { .. })
    }

    /// Opens a session; returns it with the `initialize` round trip time.
    pub async fn open(&self) -> Result<(Session, Duration), Error> {
        match &self.kind {
            TargetKind::Http(endpoint) => {
                let id = workload::next_id();
                let init = workload::initialize(id, &self.protocol_version);
                let start = Instant::now();
                let headers = SessionHeaders {
                    session_id: None,
                    protocol_version: None,
                    accept: ACCEPT_BOTH,
                    routing: None,
                };
                let posted = endpoint.post(&headers, &init, Some(id)).await?;
                let rtt = posted.answered_at - start;
                let answer = posted.message.unwrap_or(Value::Null);
                let version = negotiated(id, &answer)?;
                let session = HttpSession {
                    endpoint: Arc::clone(endpoint),
                    id: posted.session_id,
                    version,
                };
                let headers = session.headers(ACCEPT_BOTH);
                endpoint
                    .post(&headers, &workload::initialized(), None)
                    .await?;
                Ok((Session::Http(session), rtt))
            }
            // A stateless client has nothing to open: it is one more independent caller.
            TargetKind::Stateless(endpoint) => {
                Ok((Session::Stateless(Arc::clone(endpoint)), Duration::ZERO))
            }
            TargetKind::Stdio { command, timeout } => {
                self.handshake(StdioChild::spawn(command, *timeout)?).await
            }
        }
    }

    /// Spawns the stdio server without initializing it (None for an HTTP target).
    pub fn spawn_idle(&self) -> Result<Option<StdioChild>, Error> {
        match &self.kind {
            TargetKind::Stdio { command, timeout } => {
                Ok(Some(StdioChild::spawn(command, *timeout)?))
            }
            TargetKind::Http(_) | TargetKind::Stateless(_) => Ok(None),
        }
    }

    /// Initializes a running stdio server; on an idle, fully started one this is the lower bound
    /// of a session start from a warm pool. Returns the session and the `initialize` round trip.
    pub async fn handshake(&self, child: StdioChild) -> Result<(Session, Duration), Error> {
        let id = workload::next_id();
        let init = workload::initialize(id, &self.protocol_version);
        let start = Instant::now();
        let answer = child.request(&init, id).await?;
        let rtt = start.elapsed();
        negotiated(id, &answer)?;
        child.notify(&workload::initialized())?;
        Ok((Session::Stdio(Box::new(child)), rtt))
    }
}

/// The protocol version the server chose in its `initialize` result.
fn negotiated(id: u64, answer: &Value) -> Result<String, Error> {
    workload::check_response(id, answer)?
        .get("protocolVersion")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::Malformed("initialize result without protocolVersion".into()))
}

pub struct HttpSession {
    pub endpoint: Arc<Endpoint>,
    pub id: Option<String>,
    pub version: String,
}

impl HttpSession {
    pub fn headers<'a>(&'a self, accept: &'a str) -> SessionHeaders<'a> {
        SessionHeaders {
            session_id: self.id.as_deref(),
            protocol_version: Some(&self.version),
            accept,
            routing: None,
        }
    }
}

pub enum Session {
    Http(HttpSession),
    Stateless(Arc<Endpoint>),
    Stdio(Box<StdioChild>),
}

impl Session {
    /// One checked `tools/call`; returns its latency and the framing of the answer.
    pub async fn call(&self, tool: Tool, accept: &str) -> Result<(Duration, Framing), Error> {
        self.call_id(tool, accept, workload::next_id()).await
    }

    /// [`Session::call`] with the request id chosen by the caller (to resume its stream).
    pub async fn call_id(
        &self,
        tool: Tool,
        accept: &str,
        id: u64,
    ) -> Result<(Duration, Framing), Error> {
        let request = tool.call(id);
        let start = Instant::now();
        let (answer, framing, latency) = match self {
            Session::Http(session) => {
                let posted = session
                    .endpoint
                    .post(&session.headers(accept), &request, Some(id))
                    .await?;
                let framing = posted.framing.unwrap_or(Framing::Json);
                let latency = posted.answered_at - start;
                (posted.message.unwrap_or(Value::Null), framing, latency)
            }
            Session::Stateless(endpoint) => {
                let headers = SessionHeaders {
                    session_id: None,
                    protocol_version: Some(workload::STATELESS_VERSION),
                    accept,
                    routing: Some(("tools/call", tool.tool_name())),
                };
                let request = workload::stateless(request);
                let posted = endpoint.post(&headers, &request, Some(id)).await?;
                let framing = posted.framing.unwrap_or(Framing::Json);
                let latency = posted.answered_at - start;
                (posted.message.unwrap_or(Value::Null), framing, latency)
            }
            Session::Stdio(child) => {
                let answer = child.request(&request, id).await?;
                (answer, Framing::Stdio, start.elapsed())
            }
        };
        tool.check(id, &answer)?;
        Ok((latency, framing))
    }

    pub async fn close(&self) {
        match self {
            Session::Http(session) => {
                if let Some(id) = &session.id {
                    let _ = session.endpoint.delete(id).await;
                }
            }
            Session::Stateless(_) => {}
            Session::Stdio(child) => child.close().await,
        }
    }

    /// The HTTP side of a legacy session (its id and negotiated version).
    pub fn http(&self) -> Option<&HttpSession> {
        match self {
            Session::Http(session) => Some(session),
            Session::Stateless(_) | Session::Stdio(_) => None,
        }
    }

    /// Process id of a stdio session's server.
    pub async fn pid(&self) -> Option<u32> {
        match self {
            Session::Http(_) | Session::Stateless(_) => None,
            Session::Stdio(child) => child.pid().await,
        }
    }
}
