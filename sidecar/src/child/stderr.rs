//! A child's stderr, drained into the log with the session id (MCP spec "Transports" > "stdio":
//! the server MAY write UTF-8 strings to stderr for logging). Always read, so a chatty child never
//! blocks on a full pipe; long lines are cut and a flood is rate-limited, with a count of what was
//! left out.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::child::state::State;

/// Longest stderr line logged; the rest of the line is cut.
const STDERR_LINE: usize = 4096;
/// stderr lines logged per second per child; more are counted and summarised.
const STDERR_LINES_PER_SEC: u32 = 200;

pub async fn drain(mut stderr: impl AsyncRead + Unpin, state: Arc<State>) {
    // Small: every session holds one, and stderr is rarely busy.
    let mut buf = vec![0u8; 1024];
    let mut line: Vec<u8> = Vec::new();
    let mut window = tokio::time::Instant::now();
    let (mut logged, mut suppressed) = (0u32, 0u64);
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        for chunk in buf[..n].split_inclusive(|b| *b == b'\n') {
            let room = STDERR_LINE.saturating_sub(line.len());
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if chunk.last() != Some(&b'\n') {
                continue;
            }
            if window.elapsed() >= Duration::from_secs(1) {
                if suppressed > 0 {
                    tracing::warn!(
                        mcp.session.id = state.label(),
                        child.pid = state.pid,
                        lines = suppressed,
                        "child stderr lines not logged (rate limit)"
                    );
                }
                (window, logged, suppressed) = (tokio::time::Instant::now(), 0, 0);
            }
            if logged < STDERR_LINES_PER_SEC {
                logged += 1;
                let text = String::from_utf8_lossy(&line);
                tracing::info!(mcp.session.id = state.label(), child.pid = state.pid,
                    stderr = %text.trim_end(), "child stderr");
            } else {
                suppressed += 1;
            }
            line.clear();
        }
    }
}
