//! `DELETE` on the MCP endpoint: the client ends its legacy session (MCP spec "Transports" >
//! "Session Management"); its child (whole process group) is killed.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::app::App;
use crate::error::HttpError;
use crate::http::body::ResponseBody;
use crate::http::response::empty;

/// Time DELETE waits for the child to be reaped before answering.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Ends the session and kills its child (whole process group).
pub async fn delete(
    app: &App,
    req: &Request<Incoming>,
    user: &str,
) -> Result<Response<ResponseBody>, HttpError> {
    let session = app.sessions.named(req, user)?;
    if let Some(session) = app.sessions.remove(&session.id) {
        session.stop(STOP_WAIT).await;
        tracing::info!(mcp.session.id = %session.id, "session deleted by the client");
    }
    Ok(empty(StatusCode::NO_CONTENT))
}
