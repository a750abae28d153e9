//! Structured logs (JSON lines in UTC by default, on stderr) and the request id that ties a
//! request's log lines together across edge, authd and sidecar (`X-Request-Id`).

use hyper::HeaderMap;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.pretty().try_init(),
    };
}

/// The caller's `X-Request-Id` when it is a sane token (visible ASCII, at most 128 bytes), else a
/// fresh random one.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let mut bytes = [0u8; 16];
            rand::fill(&mut bytes[..]);
            let mut id = String::with_capacity(32);
            for b in bytes {
                id.push(char::from(HEX[usize::from(b >> 4)]));
                id.push(char::from(HEX[usize::from(b & 15)]));
            }
            id
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_when_sane() {
        let mut h = HeaderMap::new();
        assert_eq!(request_id(&h).len(), 32);
        h.insert(
            "x-request-id",
            "abc-123".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(request_id(&h), "abc-123");
        h.insert(
            "x-request-id",
            "a b".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_ne!(request_id(&h), "a b");
    }
}
