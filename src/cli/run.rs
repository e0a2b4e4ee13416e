//! `oomsday run`. Not implemented yet: its owner replaces this file.

/// Not implemented yet.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn exec(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`oomsday run` is not implemented yet")
}
