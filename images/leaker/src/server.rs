//! The `/metrics` and `/healthz` endpoint: a blocking `TcpListener` on its own thread, answering
//! one short request at a time. Enough for a Prometheus scrape and a probe; no async runtime.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::memory::own_rss;
use crate::plan::Phase;
use crate::report::{Snapshot, end_of_head, route};

/// What the leak loop publishes for the endpoint to read. Atomics: the loop never waits on a
/// scrape, and a scrape never waits on an allocation.
pub struct Shared {
    started: Instant,
    deadline_unix: f64,
    target: AtomicU64,
    allocated: AtomicU64,
    phase: AtomicU8,
}

impl Shared {
    /// State for a leaker that started at `started` and ends at `deadline_unix`.
    pub fn new(started: Instant, deadline_unix: f64) -> Self {
        Shared {
            started,
            deadline_unix,
            target: AtomicU64::new(0),
            allocated: AtomicU64::new(0),
            phase: AtomicU8::new(0),
        }
    }

    /// Called by the loop after every adjustment.
    pub fn publish(&self, target: u64, allocated: u64, phase: Phase) {
        self.target.store(target, Ordering::Relaxed);
        self.allocated.store(allocated, Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    /// The current state, with RSS read now.
    pub fn snapshot(&self) -> Snapshot {
        let phase = match self.phase.load(Ordering::Relaxed) {
            x if x == Phase::Holding as u8 => Phase::Holding,
            x if x == Phase::Expired as u8 => Phase::Expired,
            _ => Phase::Leaking,
        };
        Snapshot {
            elapsed: self.started.elapsed(),
            target: self.target.load(Ordering::Relaxed),
            allocated: self.allocated.load(Ordering::Relaxed),
            rss: own_rss(),
            phase,
            deadline_unix: self.deadline_unix,
        }
    }
}

/// Binds `addr` (so a bad address fails before any memory is leaked) and returns the listener
/// with the address actually bound (port 0 picks a free port).
pub fn bind(addr: SocketAddr) -> io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves requests forever on a background thread.
pub fn spawn(listener: TcpListener, shared: Arc<Shared>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    // A failed or slow client only costs its own connection.
                    Ok(stream) => {
                        let _ = serve(stream, &shared);
                    }
                    // Out of file descriptors and the like: wait instead of spinning.
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        })?;
    Ok(())
}

fn serve(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    // Short timeouts: requests are served one at a time, so a stalled client must not block scrapes.
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = [0u8; 4096];
    let mut len = 0;
    // Only the request line matters, but the whole head is read before answering: closing a
    // socket with unread request bytes makes the kernel reset the connection under the client.
    while len < buf.len() && !end_of_head(&buf[..len]) {
        let n = stream.read(&mut buf[len..])?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let request_line = head.lines().next().unwrap_or("");
    let response = route(request_line, || shared.snapshot());
    stream.write_all(response.to_http().as_bytes())?;
    stream.flush()
}
