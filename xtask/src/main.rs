//! `cargo xtask`: builds this project's kernel overlay, boots it in QEMU and tests it.
//!
//! Run `cargo xtask --help` for the commands. The two that README.md names, `run` and `test`,
//! install whatever is missing first, so they work on a fresh machine.

mod bench;
mod build;
mod command;
mod console_check;
mod guest_log;
mod initramfs;
mod kconfig;
mod kunit;
mod lint;
mod overlay;
mod paths;
mod qemu;
mod reliability;
mod run;
mod series;
mod setup;
mod splash_check;
mod test;
mod worklock;

use anyhow::Result;
use clap::{Parser, Subcommand};
use paths::{Flavour, Paths};
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Build, boot and test the Rust in-kernel DRM client layer on Linux 6.12")]
struct Cli {
    /// Where the kernel tree and build directories live (default: ~/.cache/drm-vmap-client,
    /// or $DRM_VMAP_CLIENT_WORKDIR).
    #[arg(long, global = true)]
    workdir: Option<PathBuf>,

    #[command(subcommand)]
    command: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Install missing Debian packages, rust-src and bindgen (quick when all is present).
    Setup,
    /// Place our files and hook patches into the kernel tree.
    Overlay {
        /// Unpack a fresh tree first, dropping every change made to the old one.
        #[arg(long)]
        pristine: bool,
        /// Only print where each part of the checkout goes.
        #[arg(long)]
        list: bool,
    },
    /// Configure and build the kernel.
    Build {
        /// The debug kernel (config/debug.config: KASAN, kmemleak, debug objects, UBSAN,
        /// failure injection), in a separate build directory.
        #[arg(long, conflicts_with = "bench")]
        debug: bool,
        /// The benchmark kernel (config/bench.config: no debugging, kprobes for counting).
        #[arg(long)]
        bench: bool,
    },
    /// Static checks: rustfmt, checkpatch, rustdoc, and the tooling's fmt and Clippy.
    Lint,
    /// Everything: set-up, host tests, build, lint, the patch series check, KUnit in QEMU, the
    /// guest log check, and one boot per display with the splash's screenshots checked.
    Test(test::Options),
    /// The main job: build, boot on four displays, check screenshots of the boot splash.
    Run(run::Options),
    /// Write the project as a patch series against the pristine tree, and check that it
    /// applies with git am, passes checkpatch and equals the overlay.
    Series(series::Options),
    /// Measure the layer against per-access mapping and the C client API, in one boot of a
    /// production-configured kernel; writes bench.csv, bench.json and bench.png.
    Bench(bench::Options),
}

fn main() {
    if let Err(error) = dispatch(Cli::parse()) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    let paths = Paths::new(cli.workdir)?;
    let _lock = match cli.command {
        Action::Setup | Action::Overlay { list: true, .. } => None,
        _ => Some(worklock::acquire(&paths.work)?),
    };
    match cli.command {
        Action::Setup => setup::ensure_prerequisites(),
        Action::Overlay { list: true, .. } => {
            for (from, to) in overlay::PLACEMENTS {
                println!("{from:<16} -> {to}");
            }
            Ok(())
        }
        Action::Overlay { pristine, .. } => {
            setup::ensure_prerequisites()?;
            if pristine {
                overlay::recreate(&paths)
            } else {
                overlay::apply(&paths)
            }
        }
        Action::Build { debug, bench } => {
            setup::ensure_prerequisites()?;
            let flavour = if bench {
                Flavour::Bench
            } else {
                Flavour::from_debug_flag(debug)
            };
            build::kernel(&paths, flavour).map(drop)
        }
        Action::Lint => {
            setup::ensure_prerequisites()?;
            overlay::apply(&paths)?;
            lint::all(&paths, Flavour::Standard)
        }
        Action::Test(options) => test::run(&paths, &options),
        Action::Run(options) => run::run(&paths, &options),
        Action::Bench(options) => bench::run(&paths, &options),
        Action::Series(options) => {
            setup::ensure_prerequisites()?;
            overlay::apply(&paths)?;
            series::run(&paths, &options)
        }
    }
}
