//! `oomsday crd` and `oomsday schema`. Not implemented yet: its owner replaces this file.

/// Not implemented yet.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Not implemented yet.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {}

pub fn exec(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`oomsday crd` is not implemented yet")
}

pub fn exec_schema(_args: SchemaArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`oomsday schema` is not implemented yet")
}
