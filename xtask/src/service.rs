//! Long-running servers (simulator, `wrangler dev`, static www) for `dev` and e2e stages.
//!
//! Each server is a [`Group`]: started in its own process group and stopped, with everything
//! it spawned, when the group is dropped. Servers listen on loopback only; readiness is checked
//! with a plain HTTP/1.0 GET.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::env::{self, Env};
use crate::proc::Group;

/// A server that `dev` (and e2e test stages) start: one entry per service.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Service {
    pub(crate) name: &'static str,
    /// Program on the tool PATH (`cargo` means the cargo running xtask).
    pub(crate) program: &'static str,
    pub(crate) args: &'static [&'static str],
    /// Working directory, relative to the workspace root.
    pub(crate) cwd: &'static str,
    /// Extra environment variables.
    pub(crate) env: &'static [(&'static str, &'static str)],
    /// Ready when `http://127.0.0.1:{port}{ready_path}` answers.
    pub(crate) port: u16,
    pub(crate) ready_path: &'static str,
    /// How long to wait for readiness (includes any build `cargo run` does first).
    pub(crate) ready_timeout: Duration,
}

impl Service {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Starts the service and waits until it answers; the group is stopped on failure.
    pub(crate) fn start(&self, env: &Env) -> Result<Group> {
        if let Some(status) = answers(&self.url(self.ready_path)) {
            bail!(
                "{}: port {} is already in use (something answered with HTTP {status}); stop it first",
                self.name,
                self.port
            );
        }
        let mut cmd = env.command(self.program);
        cmd.args(self.args).current_dir(env.root.join(self.cwd));
        for (key, value) in self.env {
            cmd.env(key, value);
        }
        let mut group = Group::spawn(self.name, cmd)?;
        let url = self.url(self.ready_path);
        let (ready, took) = env::timed(|| wait_http(&url, self.ready_timeout, Some(&mut group)));
        ready.with_context(|| format!("{} did not become ready", self.name))?;
        println!(
            "{} ready at {} ({})",
            self.name,
            self.url("/"),
            env::fmt_duration(took)
        );
        Ok(group)
    }
}

/// Waits until `url` (loopback `http://` only) answers with a status below 500.
/// If `group` is given, fails as soon as that process exits.
pub(crate) fn wait_http(url: &str, timeout: Duration, mut group: Option<&mut Group>) -> Result<()> {
    let (addr, host, path) = parse_loopback_url(url)?;
    let deadline = Instant::now() + timeout;
    loop {
        let last = match get_status(addr, &host, &path) {
            Ok(status) if status < 500 => return Ok(()),
            Ok(status) => format!("HTTP {status}"),
            Err(err) => err.to_string(),
        };
        if let Some(group) = group.as_deref_mut()
            && let Some(status) = group.exit_status()?
        {
            bail!("{} exited ({status}) before {url} answered", group.name());
        }
        if Instant::now() >= deadline {
            bail!(
                "{url} did not answer within {} (last: {last})",
                env::fmt_duration(timeout)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The status `url` answers with right now, if any.
pub(crate) fn answers(url: &str) -> Option<u16> {
    let (addr, host, path) = parse_loopback_url(url).ok()?;
    get_status(addr, &host, &path).ok()
}

/// `http://127.0.0.1:8787/health` → (addr, "127.0.0.1:8787", "/health"); loopback hosts only.
fn parse_loopback_url(url: &str) -> Result<(SocketAddr, String, String)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url}: only http:// URLs are supported"))?;
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("{url}: expected host:port"))?
        .next()
        .with_context(|| format!("{url}: host did not resolve"))?;
    if !addr.ip().is_loopback() {
        bail!("{url}: only loopback addresses are allowed");
    }
    Ok((addr, authority.to_owned(), path.to_owned()))
}

fn get_status(addr: SocketAddr, host: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    // Read the whole (small) answer: closing with unread data would reset the connection
    // and make some servers log an error.
    // A server that keeps the connection open anyway ends in a read timeout: use what came.
    let mut answer = Vec::new();
    if let Err(err) = stream.take(1 << 20).read_to_end(&mut answer)
        && answer.is_empty()
    {
        return Err(err);
    }
    // "HTTP/1.1 200 OK"
    let head = &answer[..answer.len().min(64)];
    let line = String::from_utf8_lossy(head);
    line.strip_prefix("HTTP/")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {line:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loopback_urls_only() {
        let (addr, host, path) = parse_loopback_url("http://127.0.0.1:8787/health").expect("valid");
        assert_eq!(addr.port(), 8787);
        assert_eq!(host, "127.0.0.1:8787");
        assert_eq!(path, "/health");
        let (_, _, path) = parse_loopback_url("http://127.0.0.1:9").expect("valid");
        assert_eq!(path, "/");
        assert!(parse_loopback_url("http://10.0.0.1:80/").is_err());
        assert!(parse_loopback_url("https://127.0.0.1:443/").is_err());
    }

    #[test]
    fn waits_for_a_local_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            if let Ok((mut conn, _)) = listener.accept() {
                // Read the whole request first: closing with unread bytes resets the connection.
                let mut request = Vec::new();
                let mut buf = [0u8; 256];
                while !request.ends_with(b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = conn.write_all(b"HTTP/1.0 204 No Content\r\n\r\n");
            }
        });
        wait_http(
            &format!("http://127.0.0.1:{port}/ready"),
            Duration::from_secs(5),
            None,
        )
        .expect("ready");
        server.join().expect("server thread");
        assert_eq!(answers(&format!("http://127.0.0.1:{port}/ready")), None);
    }
}
