//! `oomsday report`. Not implemented yet: its owner replaces this file.

/// Not implemented yet.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn exec(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`oomsday report` is not implemented yet")
}
