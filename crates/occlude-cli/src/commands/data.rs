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
    /// Write a synthetic CIFAR-10 binary directory (class-dependent coloured squares on noise), for
    /// benchmarks and smoke tests where the real data cannot be downloaded
    SynthCifar10 {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 5000)]
        train: usize,
        #[arg(long, default_value_t = 1000)]
        test: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

pub fn exec(args: Args) -> Result<()> {
    match args.command {
        DataCommand::Subset { from, out, train_per_class, test_per_class } => {
            occlude::data::embedded::write_subset(&from, &out, train_per_class, test_per_class)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        DataCommand::SynthCifar10 { out, train, test, seed } => {
            occlude::data::synth::write_cifar10(&out, train, test, seed)?;
            println!("wrote {} ({train} training and {test} test images)", out.display());
            Ok(())
        }
    }
}
