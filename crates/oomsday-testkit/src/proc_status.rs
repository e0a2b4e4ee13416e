//! The process's own memory figures from `/proc/self/status`, for the benches that print them.

/// A `/proc/self/status` field in KiB (`VmRSS`, `VmHWM`…); 0 where it cannot be read.
pub fn kib(field: &str) -> u64 {
    let prefix = format!("{field}:");
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(&prefix))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
