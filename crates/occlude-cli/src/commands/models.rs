//! `occlude models`: the architectures by name.

use anyhow::Result;

/// List the model architectures
#[derive(clap::Args)]
pub struct Args {}

pub fn exec(_: Args) -> Result<()> {
    for (name, about) in occlude::models::ARCHITECTURES {
        println!("{name:16} {about}");
    }
    Ok(())
}
