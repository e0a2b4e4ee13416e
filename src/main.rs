//! The `oomsday` binary: parse, set up logging, run the command, map the outcome to an exit
//! code. Everything testable lives in the library.

use std::process::ExitCode;

use oomsday::cli::invocation::Invocation;
use oomsday::cli::{Cli, exit, subcommand_names};

fn main() -> ExitCode {
    let invocation = Invocation::of(std::env::args_os().next().as_deref());
    let cli = Cli::parse_as(invocation);
    init_tracing(&cli.log, cli.log_json);
    let runtime = if cli.wants_workers() {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    match runtime.block_on(cli.exec()) {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line: "reading x.yaml: No such file".
            let line = format!("error: {e:#}");
            eprintln!("{}", invocation.rewrite(&line, &subcommand_names()));
            ExitCode::from(exit::for_error(&e))
        }
    }
}

fn init_tracing(filter: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("oomsday=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
