//! Pure rendering of what the leaker tells the world: JSON lines on stdout, Prometheus text on
//! `/metrics`, the HTTP routing, and reading VmRSS out of `/proc/self/status` text.

use std::fmt::Write as _;
use std::time::Duration;

use crate::plan::Phase;

/// The state at one instant, as reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    /// Time since the leaker started.
    pub elapsed: Duration,
    /// Bytes the curve calls for now.
    pub target: u64,
    /// Bytes mapped and touched.
    pub allocated: u64,
    /// Resident set size of the whole process, when `/proc` could be read.
    pub rss: Option<u64>,
    pub phase: Phase,
    /// The deadline as Unix time in seconds.
    pub deadline_unix: f64,
}

/// One report line (no trailing newline):
/// `{"elapsed_s":1.000,"target_bytes":..,"allocated_bytes":..,"rss_bytes":..,"phase":"leaking"}`.
pub fn json_line(s: &Snapshot) -> String {
    let rss = s.rss.map_or_else(|| "null".to_string(), |r| r.to_string());
    format!(
        r#"{{"elapsed_s":{:.3},"target_bytes":{},"allocated_bytes":{},"rss_bytes":{},"phase":"{}"}}"#,
        s.elapsed.as_secs_f64(),
        s.target,
        s.allocated,
        rss,
        s.phase.as_str()
    )
}

/// The `/metrics` body in Prometheus text exposition format 0.0.4.
pub fn metrics(s: &Snapshot) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(String, String)]| {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let one = |v: String| vec![(String::new(), v)];
    gauge(
        "oomsday_leaker_target_bytes",
        "Bytes the leak curve calls for now (0 after the deadline).",
        &one(s.target.to_string()),
    );
    gauge(
        "oomsday_leaker_allocated_bytes",
        "Bytes the leaker holds: anonymous memory mapped and written.",
        &one(s.allocated.to_string()),
    );
    if let Some(rss) = s.rss {
        gauge(
            "oomsday_leaker_rss_bytes",
            "Resident set size of the leaker process.",
            &one(rss.to_string()),
        );
    }
    gauge(
        "oomsday_leaker_deadline_seconds",
        "Unix time at which the leaker frees everything.",
        &one(format!("{:.3}", s.deadline_unix)),
    );
    let phases: Vec<_> = Phase::ALL
        .iter()
        .map(|p| {
            (
                format!("{{phase=\"{}\"}}", p.as_str()),
                u8::from(*p == s.phase).to_string(),
            )
        })
        .collect();
    gauge(
        "oomsday_leaker_phase",
        "1 for the phase the leaker is in: leaking, holding or expired.",
        &phases,
    );
    out
}

/// An HTTP response, before it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    /// The full response as sent: HTTP/1.1, closed after one request.
    pub fn to_http(&self) -> String {
        format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            self.status,
            self.content_type,
            self.body.len(),
            self.body
        )
    }
}

/// Routes a request by its first line (`GET /metrics HTTP/1.1`). `snapshot` is only called for
/// `/metrics`, so a health check costs no `/proc` read.
pub fn route(request_line: &str, snapshot: impl FnOnce() -> Snapshot) -> Response {
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let text = |status, body: &str| Response {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.to_string(),
    };
    if method != "GET" {
        return text("405 Method Not Allowed", "only GET\n");
    }
    match path {
        "/metrics" => Response {
            status: "200 OK",
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: metrics(&snapshot()),
        },
        "/healthz" => text("200 OK", "ok\n"),
        _ => text("404 Not Found", "not found: try /metrics or /healthz\n"),
    }
}

/// Whether `b` holds a complete HTTP request head (up to the blank line; bare LF tolerated).
pub fn end_of_head(b: &[u8]) -> bool {
    b.windows(4).any(|w| w == b"\r\n\r\n") || b.windows(2).any(|w| w == b"\n\n")
}

/// VmRSS in bytes from the text of `/proc/<pid>/status` (`VmRSS:     1234 kB`).
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut fields = line["VmRSS:".len()..].split_whitespace();
    let kib: u64 = fields.next()?.parse().ok()?;
    (fields.next() == Some("kB")).then_some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        Snapshot {
            elapsed: Duration::from_millis(1500),
            target: 3 << 20,
            allocated: 2 << 20,
            rss: Some(2_500_000),
            phase: Phase::Leaking,
            deadline_unix: 1_777_606_200.0,
        }
    }

    #[test]
    fn json_line_has_every_field() {
        assert_eq!(
            json_line(&snap()),
            r#"{"elapsed_s":1.500,"target_bytes":3145728,"allocated_bytes":2097152,"rss_bytes":2500000,"phase":"leaking"}"#
        );
        let no_rss = Snapshot {
            rss: None,
            phase: Phase::Expired,
            ..snap()
        };
        assert!(json_line(&no_rss).ends_with(r#""rss_bytes":null,"phase":"expired"}"#));
    }

    #[test]
    fn metrics_are_prometheus_text() {
        let m = metrics(&snap());
        for name in [
            "oomsday_leaker_target_bytes",
            "oomsday_leaker_allocated_bytes",
            "oomsday_leaker_rss_bytes",
            "oomsday_leaker_deadline_seconds",
            "oomsday_leaker_phase",
        ] {
            assert!(m.contains(&format!("# HELP {name} ")), "{name}");
            assert!(m.contains(&format!("# TYPE {name} gauge\n")), "{name}");
        }
        assert!(m.contains("\noomsday_leaker_target_bytes 3145728\n"));
        assert!(m.contains("\noomsday_leaker_allocated_bytes 2097152\n"));
        assert!(m.contains("\noomsday_leaker_rss_bytes 2500000\n"));
        assert!(m.contains("\noomsday_leaker_deadline_seconds 1777606200.000\n"));
        assert!(m.contains("oomsday_leaker_phase{phase=\"leaking\"} 1\n"));
        assert!(m.contains("oomsday_leaker_phase{phase=\"expired\"} 0\n"));
        assert!(
            !metrics(&Snapshot {
                rss: None,
                ..snap()
            })
            .contains("rss_bytes")
        );
    }

    #[test]
    fn routes() {
        let r = route("GET /metrics HTTP/1.1", snap);
        assert_eq!(r.status, "200 OK");
        assert!(r.content_type.contains("version=0.0.4"));
        assert_eq!(
            route("GET /healthz HTTP/1.0", || panic!("no snapshot for health")).body,
            "ok\n"
        );
        assert_eq!(route("GET /metrics?x=1 HTTP/1.1", snap).status, "200 OK");
        assert_eq!(route("GET / HTTP/1.1", snap).status, "404 Not Found");
        assert_eq!(
            route("POST /metrics HTTP/1.1", snap).status,
            "405 Method Not Allowed"
        );
        assert_eq!(route("", snap).status, "405 Method Not Allowed");
        let http = route("GET /healthz HTTP/1.1", snap).to_http();
        assert!(
            http.starts_with("HTTP/1.1 200 OK\r\n")
                && http.contains("Content-Length: 3\r\n")
                && http.ends_with("\r\n\r\nok\n")
        );
    }

    #[test]
    fn request_head_ends_at_the_blank_line() {
        assert!(!end_of_head(b"GET /metrics HTTP/1.1\r\n"));
        assert!(!end_of_head(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"));
        assert!(end_of_head(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(end_of_head(b"GET /metrics HTTP/1.0\n\n"));
    }

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\tleaker\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nRssAnon:\t 100 kB\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name:\tkthread\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\tlots kB\n"), None);
    }
}
