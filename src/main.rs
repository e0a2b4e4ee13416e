//! The `oomsday` binary: parse, set up logging, run the command, map the outcome to an exit
//! code. Everything testable lives in the library.

use std::process::ExitCode;

use clap::Parser;
use oomsday::cli::{Cli, exit};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log, cli.log_json);
    match cli.exec().await {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line: "reading x.yaml: No such file".
            eprintln!("error: {e:#}");
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
