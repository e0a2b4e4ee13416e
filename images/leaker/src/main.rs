//! `oomsday-leaker`: the sidecar oomsday injects. Leaks anonymous memory along a configured curve,
//! holds it so nothing can reclaim it, and frees it at its own deadline whatever happens to the
//! controller. Wiring only: configuration, signals, the metrics endpoint, the loop, exit codes.
//!
//! Exit status: 0 on SIGTERM/SIGINT or at the deadline with `--exit-at-deadline`; 1 when the
//! metrics address cannot be bound or signals cannot be handled; 2 on invalid configuration.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

mod memory;
mod plan;
mod report;
mod run;
mod server;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use oomsday_core::leaker_config::{ConfigError, LeakerConfig, usage};

use crate::plan::Schedule;
use crate::run::Leak;
use crate::server::Shared;

fn main() -> ExitCode {
    let config = match read_config() {
        Ok(config) => config,
        Err(code) => return code,
    };
    let stop = match stop_on_signals() {
        Ok(stop) => stop,
        Err(code) => return code,
    };

    let started = Instant::now();
    let started_wall = SystemTime::now();
    let deadline_unix = config
        .deadline
        .at(started_wall)
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let schedule = Schedule {
        curve: config.curve,
        expires_after: config.deadline.expires_after(started_wall),
    };
    let shared = Arc::new(Shared::new(started, deadline_unix));

    eprintln!(
        "oomsday-leaker: {config}; frees everything in {:.1}s{}",
        schedule.expires_after.as_secs_f64(),
        if config.exit_at_deadline {
            " and exits"
        } else {
            " and idles"
        }
    );
    if let Some(addr) = config.listen
        && let Err(code) = serve_metrics(addr, &shared)
    {
        return code;
    }

    let leak = Leak {
        schedule,
        chunk: config.chunk.bytes(),
        report_interval: config.report_interval.std(),
        exit_at_deadline: config.exit_at_deadline,
        deadline_unix,
        stop: &stop,
        shared: &shared,
    };
    let exit = leak.run(started, &mut std::io::stdout().lock());
    eprintln!(
        "oomsday-leaker: {}; memory freed",
        match exit {
            run::Exit::Signalled => "stopped by signal",
            run::Exit::Deadline => "deadline reached",
        }
    );
    ExitCode::SUCCESS
}

/// The configuration from the command line and the environment. `Err` is the exit code to end
/// with: success after printing `--help`, 2 after printing why the configuration is invalid.
fn read_config() -> Result<LeakerConfig, ExitCode> {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // Lossy rather than `env::var`: a non-UTF-8 value is then refused by name instead of ignored.
    let env = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    match LeakerConfig::from_sources(&args, &env) {
        Ok(config) => Ok(config),
        Err(ConfigError::HelpRequested) => {
            print!("{}", usage());
            Err(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!(
                "oomsday-leaker: invalid configuration: {e}\n(oomsday-leaker --help lists every setting)"
            );
            Err(ExitCode::from(2))
        }
    }
}

/// A flag that SIGTERM and SIGINT raise, for the leak loop to stop on. `Err(1)` when a handler
/// cannot be installed.
fn stop_on_signals() -> Result<Arc<AtomicBool>, ExitCode> {
    // Handlers rather than default actions: as PID 1 in a container, default SIGTERM is ignored.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("oomsday-leaker: cannot handle signal {signal}: {e}");
            return Err(ExitCode::from(1));
        }
    }
    Ok(stop)
}

/// Serves `/metrics` and `/healthz` on `addr` from a thread of its own. `Err(1)` when the
/// address cannot be bound or the thread cannot be started.
fn serve_metrics(addr: SocketAddr, shared: &Arc<Shared>) -> Result<(), ExitCode> {
    match server::bind(addr)
        .and_then(|(listener, local)| server::spawn(listener, Arc::clone(shared)).map(|()| local))
    {
        Ok(local) => {
            eprintln!("oomsday-leaker: serving /metrics and /healthz on http://{local}");
            Ok(())
        }
        Err(e) => {
            eprintln!(
                "oomsday-leaker: cannot serve metrics on {addr}: {e} (set --listen off to disable)"
            );
            Err(ExitCode::from(1))
        }
    }
}
