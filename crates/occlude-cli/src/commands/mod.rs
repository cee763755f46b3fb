//! One file per subcommand, as cargo's `src/bin/cargo/commands/`: each holds its
//! clap arguments (`Args`, whose doc comment is the command's help) and
//! `exec(Args) -> Result<()>`. A new command is a new file plus one line in each of
//! the three lists below.

use anyhow::Result;
use clap::Subcommand;

pub mod augment;
pub mod bench;
pub mod compare;
pub mod data;
pub mod demo;
pub mod eval;
pub mod export;
pub mod import;
pub mod models;
pub mod preview;
pub mod report;
pub mod saliency;
pub mod sample;
pub mod sweep;
pub mod train;

#[derive(Subcommand)]
pub enum Command {
    Demo(demo::Args),
    Train(train::Args),
    Eval(eval::Args),
    Augment(augment::Args),
    Preview(preview::Args),
    Saliency(saliency::Args),
    Compare(compare::Args),
    Sample(sample::SampleArgs),
    Data(data::Args),
    Models(models::Args),
    Export(export::Args),
    Import(import::Args),
    Bench(bench::Args),
    Sweep(sweep::Args),
    Report(report::Args),
}

pub fn exec(command: Command) -> Result<()> {
    match command {
        Command::Demo(args) => demo::exec(args),
        Command::Train(args) => train::exec(args),
        Command::Eval(args) => eval::exec(args),
        Command::Augment(args) => augment::exec(args),
        Command::Preview(args) => preview::exec(args),
        Command::Saliency(args) => saliency::exec(args),
        Command::Compare(args) => compare::exec(args),
        Command::Sample(args) => sample::exec(args),
        Command::Data(args) => data::exec(args),
        Command::Models(args) => models::exec(args),
        Command::Export(args) => export::exec(args),
        Command::Import(args) => import::exec(args),
        Command::Bench(args) => bench::exec(args),
        Command::Sweep(args) => sweep::exec(args),
        Command::Report(args) => report::exec(args),
    }
}
