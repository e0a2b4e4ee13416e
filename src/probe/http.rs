//! A minimal HTTP/1.1 GET over tokio: enough for health probes and the Prometheus API, without
//! pulling a full HTTP client into the binary. Plain `http://` only; `Content-Length`, chunked
//! and read-to-close bodies; every call bounded by a timeout.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Error, Result};

/// Bodies larger than this are refused: a probe or an API answer has no business being bigger.
const MAX_BODY: usize = 32 << 20;

/// A response: status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The parts of an `http://host[:port]/path?query` URL a GET needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl Url {
    /// Parses a URL. `https://` is refused with a clear message: this client speaks plain HTTP.
    pub fn parse(url: &str) -> Result<Url> {
        let bad = |why: &str| Error::Invalid(format!("URL {url}: {why}"));
        let rest = if let Some(r) = url.strip_prefix("http://") {
            r
        } else if url.starts_with("https://") {
            return Err(bad(
                "https is not supported by oomsday's probe client; use http://",
            ));
        } else {
            return Err(bad("it must start with http://"));
        };
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(bad("credentials in URLs are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, p) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in the host"))?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("the port is not a number"))?,
            None => 80,
        };
        Ok(Url { host, port, target })
    }

    /// This URL with `path` (which may carry a query) in place of its own, for API calls under
    /// a base URL (`http://prom:9090/prometheus` + `/api/v1/query`).
    pub fn join(&self, path: &str) -> Url {
        let base = self
            .target
            .split('?')
            .next()
            .unwrap_or("")
            .trim_end_matches('/');
        Url {
            host: self.host.clone(),
            port: self.port,
            target: format!("{base}{path}"),
        }
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Percent-encodes a query parameter value.
pub fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// GETs `url` within `timeout` (connect, send and read together).
pub async fn get(url: &Url, timeout: Duration) -> Result<Response> {
    let what = format!("GET http://{}{}", url.host_header(), url.target);
    match tokio::time::timeout(timeout, get_inner(url)).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(source)) => Err(Error::Io {
            context: what,
            source,
        }),
        Err(_) => Err(Error::Io {
            context: what,
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {}", humantime::format_duration(timeout)),
            ),
        }),
    }
}

async fn get_inner(url: &Url) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect((url.host.as_str(), url.port)).await?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: oomsday/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.target,
        url.host_header(),
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > MAX_BODY {
            return Err(invalid("response too large"));
        }
        // Stop as soon as a complete response is in, rather than waiting for the close.
        if let Some(r) = parse_response(&raw, false)? {
            return Ok(r);
        }
    }
    parse_response(&raw, true)?.ok_or_else(|| invalid("connection closed mid-response"))
}

fn invalid(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string())
}

/// Parses a complete response from `raw`, or returns `None` if more bytes are needed. With
/// `closed`, a body without a length ends at the end of `raw`.
pub(crate) fn parse_response(raw: &[u8], closed: bool) -> std::io::Result<Option<Response>> {
    let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if closed {
            Err(invalid("no complete header"))
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| invalid("header not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(invalid("not an HTTP/1.x response"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("no status code"))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("content-length") {
            length = Some(v.parse().map_err(|_| invalid("bad Content-Length"))?);
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.to_ascii_lowercase().contains("chunked");
        }
    }
    let body = &raw[head_end + 4..];
    if chunked {
        return Ok(dechunk(body)?.map(|body| Response { status, body }));
    }
    if let Some(n) = length {
        if body.len() >= n {
            return Ok(Some(Response {
                status,
                body: body[..n].to_vec(),
            }));
        }
        return if closed {
            Err(invalid("body shorter than Content-Length"))
        } else {
            Ok(None)
        };
    }
    // 204/304 and 1xx have no body; anything else without a length runs to the close.
    if status == 204 || status == 304 || (100..200).contains(&status) || closed {
        return Ok(Some(Response {
            status,
            body: body.to_vec(),
        }));
    }
    Ok(None)
}

/// Decodes a chunked body, or `None` if the last chunk has not arrived yet.
fn dechunk(mut body: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_line = std::str::from_utf8(&body[..line_end]).map_err(|_| invalid("bad chunk"))?;
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| invalid("bad chunk size"))?;
        let start = line_end + 2;
        if size == 0 {
            return Ok(Some(out));
        }
        if body.len() < start + size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&body[start..start + size]);
        body = &body[start + size + 2..];
    }
}

#[cfg(test)]
mod tests;
