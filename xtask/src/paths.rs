//! Where things live: the checkout, the kernel tree and the build directories.
//!
//! The kernel tree and its build directories are kept outside the checkout, in a work directory
//! that survives fresh clones (so CI on the same machine builds incrementally). It defaults to
//! `$XDG_CACHE_HOME/drm-vmap-client` (or `~/.cache/drm-vmap-client`) and can be moved with
//! `--workdir` or `DRM_VMAP_CLIENT_WORKDIR`.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The Debian package whose tarball we overlay, and the exact version our patches apply to.
pub const KERNEL_PACKAGE: &str = "linux-source-6.12";
pub const KERNEL_PACKAGE_VERSION: &str = "6.12.117-1~deb12u1";
pub const KERNEL_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
/// The directory the tarball unpacks to.
const KERNEL_DIR: &str = "linux-source-6.12";

/// Which kernel configuration a build uses; each has its own build directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// The guest for the main job and the tests: lockdep and atomic-sleep checks on.
    Standard,
    /// The same plus KASAN and kmemleak (`--debug`).
    Debug,
    /// The benchmark's: a production configuration, without lockdep or any debug option.
    Bench,
}

impl Flavour {
    pub fn from_debug_flag(debug: bool) -> Self {
        if debug {
            Flavour::Debug
        } else {
            Flavour::Standard
        }
    }

    /// Configuration fragments, relative to the checkout, applied in order.
    pub fn fragments(self) -> &'static [&'static str] {
        match self {
            Flavour::Standard => &[
                "config/base.config",
                "config/checks.config",
                "config/project.config",
            ],
            Flavour::Debug => &[
                "config/base.config",
                "config/checks.config",
                "config/project.config",
                "config/debug.config",
            ],
            Flavour::Bench => &[
                "config/base.config",
                "config/project.config",
                "config/bench.config",
            ],
        }
    }

    fn build_dir_name(self) -> &'static str {
        match self {
            Flavour::Standard => "build",
            Flavour::Debug => "build-debug",
            Flavour::Bench => "build-bench",
        }
    }
}

/// The directories one invocation works with.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The project checkout (the parent of `xtask/`).
    pub repo: PathBuf,
    /// The work directory holding the kernel tree and the build directories.
    pub work: PathBuf,
}

impl Paths {
    pub fn new(workdir: Option<PathBuf>) -> Result<Self> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask/ has no parent directory")?
            .to_path_buf();
        let work = match workdir {
            Some(dir) => dir,
            None => default_workdir()?,
        };
        Ok(Self { repo, work })
    }

    /// The unpacked kernel source tree our files are placed into.
    pub fn tree(&self) -> PathBuf {
        self.work.join(KERNEL_DIR)
    }

    /// The kernel build directory (`make O=`) of `flavour`.
    pub fn build(&self, flavour: Flavour) -> PathBuf {
        self.work.join(flavour.build_dir_name())
    }

    /// Logs, the initramfs and screenshots of this checkout.
    pub fn output(&self) -> PathBuf {
        self.repo.join("target").join("xtask")
    }
}

fn default_workdir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DRM_VMAP_CLIENT_WORKDIR") {
        return Ok(PathBuf::from(dir));
    }
    let cache = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".cache"),
    };
    Ok(cache.join("drm-vmap-client"))
}
