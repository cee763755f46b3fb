//! `occlude`: the command-line front end. Every command is a thin wrapper over the
//! `occlude` library.

mod commands;
mod common;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "occlude",
    version,
    about = "Train image classifiers with occlusion and saliency-guided data augmentation",
    long_about = "Train image classifiers with occlusion and saliency-guided data augmentation.\n\n\
        occlude implements the methods of two papers: Occlusions for Effective Data Augmentation \
        (Hide-and-Seek, Cutout, saliency-max occlusion, joint training, batch augmentation) and \
        KeepAugment (Selective-Cut, Selective-Paste). Start with `occlude demo`; then describe a \
        run in a TOML file (see configs/) and start it with `occlude train --config FILE`."
)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() {
    restore_default_sigpipe();
    occlude::kernels::keep_freed_memory();
    if let Err(e) = commands::exec(Cli::parse().command) {
        if let Some(i) = e.downcast_ref::<occlude::train::Interrupted>() {
            eprintln!("{i}");
            std::process::exit(130);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Lets a closed pipe end the process quietly, as it does for other Unix tools
/// (`occlude sweep --dry-run | head`). Rust ignores SIGPIPE by default, so a write to a
/// closed pipe returns an error and `println!` panics on it.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists; setting a
    // signal's disposition to the default has no other precondition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
