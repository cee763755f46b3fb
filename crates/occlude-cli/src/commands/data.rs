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
    /// Write a synthetic Market-1501 tree (bounding_box_train/, query/, bounding_box_test/): person-like
    /// figures per identity seen by several cameras, plus junk (-1) and distractor (0000) boxes, for
    /// re-ID smoke tests
    SynthMarket1501 {
        #[arg(long)]
        out: PathBuf,
        /// Training identities
        #[arg(long, default_value_t = 32)]
        train_ids: usize,
        /// Test identities (query and gallery)
        #[arg(long, default_value_t = 16)]
        test_ids: usize,
        #[arg(long, default_value_t = 3)]
        cameras: usize,
        /// Images per identity and camera
        #[arg(long, default_value_t = 3)]
        per_camera: usize,
        /// Image height and width
        #[arg(long, default_value_t = 128)]
        height: usize,
        #[arg(long, default_value_t = 64)]
        width: usize,
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
        DataCommand::SynthMarket1501 { out, train_ids, test_ids, cameras, per_camera, height, width, seed } => {
            use occlude::data::synth_market1501::{write_market1501, SynthMarket};
            let s = SynthMarket { train_ids, test_ids, cameras, per_camera, height, width, seed, ..Default::default() };
            let n = write_market1501(&out, &s)?;
            println!("wrote {} ({n} images, {train_ids} training and {test_ids} test identities)", out.display());
            Ok(())
        }
    }
}
