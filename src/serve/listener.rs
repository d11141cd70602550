//! The listening socket: bound once by the supervisor and inherited by every
//! worker (fd 3), so connections queued in it survive a worker's death.
//!
//! SO_REUSEADDR (restart while old connections sit in TIME_WAIT) but never
//! SO_REUSEPORT: one socket per worker would drop the queue of a dying worker.
use crate::error::fail;
use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{SocketAddr, ToSocketAddrs};

/// Bind `host:port` and listen with `backlog`. The socket is non-blocking and
/// close-on-exec (workers get their own copy on fd 3).
pub fn bind(host: &str, port: u16, backlog: u32) -> Result<Socket> {
    let addr = resolve(host, port)?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .context("creating the listening socket")?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // "::" serves IPv4 too, as people expect of a wildcard address.
        let _ = socket.set_only_v6(false);
    }
    if let Err(e) = socket.bind(&addr.into()) {
        return Err(match e.kind() {
            std::io::ErrorKind::AddrInUse => fail(
                format!("port {port} on {host} is already in use"),
                format!(
                    "stop the other server (`ss -ltnp 'sport = :{port}'` shows it) or choose another port with --port N"
                ),
            ),
            std::io::ErrorKind::PermissionDenied => fail(
                format!("no permission to listen on port {port}"),
                "ports below 1024 need privileges; use --port 8080 or another high port",
            ),
            std::io::ErrorKind::AddrNotAvailable => fail(
                format!("{host} is not an address of this machine"),
                "use --host 0.0.0.0 (all addresses) or 127.0.0.1 (this machine only)",
            ),
            _ => anyhow::Error::new(e).context(format!("binding {addr}")),
        });
    }
    socket
        .listen(backlog.min(i32::MAX as u32) as i32)
        .with_context(|| format!("listening on {addr}"))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    let bad = || {
        fail(
            format!("--host {host:?} is not an address or a known host name"),
            "use --host 0.0.0.0 (all addresses) or 127.0.0.1 (this machine only)",
        )
    };
    let mut addrs = (host, port).to_socket_addrs().map_err(|_| bad())?;
    addrs.next().ok_or_else(bad)
}

/// The address a bound socket really has (the port when 0 was asked for).
pub fn local_addr(socket: &Socket) -> Result<SocketAddr> {
    socket
        .local_addr()?
        .as_socket()
        .context("the listening socket has no IP address")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_port_gives_a_clear_error() {
        let first = bind("127.0.0.1", 0, 10).unwrap();
        let port = local_addr(&first).unwrap().port();
        let err = bind("127.0.0.1", port, 10).unwrap_err();
        assert!(err.to_string().contains("already in use"), "{err}");
    }

    #[test]
    fn a_bad_host_is_refused() {
        assert!(bind("no such host!", 0, 10).is_err());
    }

    #[test]
    fn the_socket_accepts_connections() {
        let s = bind("127.0.0.1", 0, 10).unwrap();
        let addr = local_addr(&s).unwrap();
        std::net::TcpStream::connect(addr).unwrap();
    }
}
