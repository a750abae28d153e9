//! Where authd listens: a socket handed over by its parent, or `AUTHD_LISTEN` bound here.
//!
//! The hand-over follows the socket-activation protocol of sd_listen_fds(3): `LISTEN_FDS=1` and
//! the listening socket at file descriptor 3. A parent that binds the port itself (the native
//! launcher, the test harness, a systemd `.socket` unit) knows the address before authd starts and
//! keeps it across restarts, so no other process can take the port in between.

use std::net::{SocketAddr, TcpListener};

/// Takes the handed-over socket, if any. Call first in `main`, while the process has one thread:
/// it removes `LISTEN_FDS` and `LISTEN_PID` from the environment and marks the socket
/// close-on-exec.
pub fn take_inherited() -> Result<Option<TcpListener>, String> {
    let mut fds = listenfd::ListenFd::from_env();
    match fds.len() {
        0 => Ok(None),
        1 => fds.take_tcp_listener(0).map_err(|e| {
            format!("LISTEN_FDS: file descriptor 3 is not a listening TCP socket: {e}")
        }),
        n => Err(format!("LISTEN_FDS: expected one socket, got {n}")),
    }
}

/// The handed-over socket, or a new one bound to `addr`.
pub async fn listen(
    inherited: Option<TcpListener>,
    addr: SocketAddr,
) -> std::io::Result<tokio::net::TcpListener> {
    match inherited {
        Some(listener) => {
            listener.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(listener)
        }
        None => tokio::net::TcpListener::bind(addr).await,
    }
}
