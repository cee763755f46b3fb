//! `occlude report`: rebuilds a sweep's report.md, results.csv and plots from the
//! runs that have finished (a partial sweep shows what it has).

use anyhow::Result;
use occlude::sweep::{report, Sweep};
use std::path::PathBuf;

/// Rebuild a sweep's report (report.md, results.csv, plots) from its finished runs
#[derive(clap::Args)]
pub struct Args {
    /// The sweep directory (holds sweep.toml and sweep.json)
    pub dir: PathBuf,
    /// Also print report.md
    #[arg(long)]
    pub print: bool,
}

pub fn exec(args: Args) -> Result<()> {
    let sweep = Sweep::open(&args.dir)?;
    let md = report::write(&sweep)?;
    if args.print {
        print!("{md}");
    }
    eprintln!("wrote {}", sweep.dir.join("report.md").display());
    Ok(())
}
