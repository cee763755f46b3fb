//! `occlude models`: the architectures by name.

use anyhow::Result;

/// List the model architectures
#[derive(clap::Args)]
pub struct Args {}

pub fn exec(_: Args) -> Result<()> {
    for row in occlude::models::catalog()? {
        println!("{}", row.display());
    }
    Ok(())
}
