//! `occlude data`: dataset utilities.

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

/// Dataset utilities
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Subcommand)]
pub enum DataCommand {
    /// Write a class-balanced subset of an MNIST-style directory (how the embedded subset was made)
    Subset {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1000)]
        train_per_class: usize,
        #[arg(long, default_value_t = 200)]
        test_per_class: usize,
    },
}

pub fn exec(args: Args) -> Result<()> {
    match args.command {
        DataCommand::Subset { from, out, train_per_class, test_per_class } => {
            occlude::data::embedded::write_subset(&from, &out, train_per_class, test_per_class)?;
            println!("wrote {}", out.display());
            Ok(())
        }
    }
}
