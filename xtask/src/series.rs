//! `cargo xtask series`: the project as a `git format-patch` series against the pristine
//! Debian tree, split by topic in an order where every step builds, and checked: it applies
//! with `git am` to a fresh repository of the pristine tree, `checkpatch.pl --strict` runs on
//! every patch, and the result is byte-identical to what `cargo xtask overlay` produces.
//! `--build-each` builds the kernel at every step.
//!
//! The steps are data (`STEPS`): the hook patches of `patches/`, then the C helpers, then one
//! patch per Rust concept, the KUnit bindings and suites, the boot splash and the
//! documentation. Files shared by several steps are written at each step from their final
//! form with the parts of later steps left out: the kernel crate's module list
//! (`rust/kernel/lib.rs`), the `mod.rs` of `drm_client` and `vmap_cache`, our `Kconfig` and
//! the top `Kbuild`.

use crate::command;
use crate::overlay::PLACEMENTS;
use crate::paths::{Paths, KERNEL_TARBALL};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Options {
    /// Where to write the series (default: target/xtask/series).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also build the kernel at every step of the series (long: one incremental build each).
    #[arg(long)]
    build_each: bool,
}

/// What one patch of the series adds.
struct Step {
    /// The commit's subject and body; empty for a step whose first hook patch has both in
    /// its header.
    subject: &'static str,
    body: &'static str,
    /// Hook patches from `patches/`, applied in order.
    patches: &'static [&'static str],
    /// Files or folders of the checkout placed as the overlay places them.
    files: &'static [&'static str],
    /// Modules of our split kernel crate folders (`drm_client/device`, `vmap_cache/cache`)
    /// that this step adds to their folder's `mod.rs`.
    submodules: &'static [&'static str],
    /// Kernel crate modules (`rust/kernel/lib.rs`) that this step declares.
    crate_modules: &'static [&'static str],
    /// Options of our `Kconfig` that this step adds.
    kconfig: &'static [&'static str],
}

const NONE: &[&str] = &[];

/// A step of hook patches alone; the first one's header has the commit's subject and body.
const fn hook_step(patches: &'static [&'static str]) -> Step {
    Step {
        subject: "",
        body: "",
        patches,
        files: NONE,
        submodules: NONE,
        crate_modules: NONE,
        kconfig: NONE,
    }
}

const STEPS: &[Step] = &[
    Step {
        subject: "drm: build the Rust in-kernel DRM client layer",
        body: "In-kernel DRM clients (a boot splash, fbdev emulation) need buffers they can draw\n\
               into through a dma-buf rather than GEM's vmap hooks. Add the Kconfig options and\n\
               the directory that the following patches fill, before the display drivers in\n\
               the Makefile so that a client can watch for their devices from its initcall.",
        patches: &["0001-drm-build-vmap_client.patch"],
        files: &["Kconfig", "Kbuild"],
        submodules: NONE,
        crate_modules: NONE,
        kconfig: &["DRM_VMAP_CLIENT"],
    },
    Step {
        subject: "",
        body: "",
        patches: &["0003-drm-vgem-device-get.patch"],
        files: &["c/drm_vgem.h"],
        submodules: NONE,
        crate_modules: NONE,
        kconfig: NONE,
    },
    hook_step(&["0004-drm-dev-get-by-minor.patch"]),
    hook_step(&["0005-rust-error-eopnotsupp-etimedout.patch"]),
    hook_step(&["0007-drm-client-unregister.patch"]),
    hook_step(&["0008-drm-dev-watch.patch"]),
    hook_step(&["0009-drm-client-modeset-probe-iter-end.patch"]),
    hook_step(&["0010-drm-vkms-vblank-timestamp-race.patch"]),
    hook_step(&["0011-drm-gem-object-and-mapping-counts.patch"]),
    hook_step(&["0012-drm-gem-vram-fini-on-init-failure.patch"]),
    Step {
        subject: "rust: bindings and helpers of the in-kernel DRM client layer",
        body: "The C headers the layer's Rust code binds to, helpers for the static inline\n\
               functions of dma-buf, dma-resv, iosys-map and GEM it calls, and the header of\n\
               the KUnit fixtures. No Rust code uses them yet.",
        patches: &["0002-rust-drm-client-modules.patch"],
        files: &["c/bindings.h", "c/helpers.c", "c/drm_vmap_client_test.h"],
        submodules: NONE,
        crate_modules: NONE,
        kconfig: NONE,
    },
    Step {
        subject: "rust: module_param: parameters of Rust code, built in or loadable",
        body: "6.12's module! macro has no parameters. A value type that parses and prints\n\
               itself, and a macro that places its struct kernel_param in the __param\n\
               section, where the command line parser, the module loader and sysfs find it.",
        patches: NONE,
        files: &["module_param"],
        submodules: NONE,
        crate_modules: &["module_param"],
        kconfig: NONE,
    },
    Step {
        subject: "rust: vmap_cache: dma-bufs exported in-kernel, and their mappings",
        body: "A reference-counted struct dma_buf, its vmap as a guard that owns a reference and \
               unmaps exactly what dma_buf_vmap() returned, a bounds-checked view of mapped \
               memory (system or I/O), the reservation lock as a guard, a ledger of what \
               the layer holds (references, attachments, pins, mappings, framebuffers) that \
               tests compare before and after, and fault points before the C calls that \
               can fail without allocating, for failure injection in debug kernels.",
        patches: NONE,
        files: &[
            "vmap_cache/dma_buf.rs",
            "vmap_cache/mapping.rs",
            "vmap_cache/direction.rs",
            "vmap_cache/fault_point.rs",
            "vmap_cache/ledger.rs",
            "vmap_cache/reservation.rs",
            "vmap_cache/mod.rs",
        ],
        submodules: &[
            "vmap_cache/dma_buf",
            "vmap_cache/mapping",
            "vmap_cache/direction",
            "vmap_cache/fault_point",
            "vmap_cache/ledger",
            "vmap_cache/reservation",
        ],
        crate_modules: &["vmap_cache"],
        kconfig: NONE,
    },
    Step {
        subject: "rust: vmap_cache: the cached-vmap access protocol",
        body: "The access protocol proposed on dri-devel in 2018: vmap declares intent, \
               begin_access returns an address from a cached mapping and pins the buffer for \
               that access only, end_access releases it. Nothing is pinned between accesses: \
               a buffer that moved is noticed and remapped by the next access.",
        patches: NONE,
        files: &[
            "vmap_cache/access.rs",
            "vmap_cache/accessors.rs",
            "vmap_cache/attachment.rs",
            "vmap_cache/cache.rs",
            "vmap_cache/cached_vmap.rs",
            "vmap_cache/fence.rs",
            "vmap_cache/movable.rs",
            "vmap_cache/stats.rs",
        ],
        submodules: &[
            "vmap_cache/access",
            "vmap_cache/accessors",
            "vmap_cache/attachment",
            "vmap_cache/cache",
            "vmap_cache/cached_vmap",
            "vmap_cache/fence",
            "vmap_cache/movable",
            "vmap_cache/stats",
        ],
        crate_modules: NONE,
        kconfig: NONE,
    },
    Step {
        subject: "rust: drm_client: devices, GEM objects and their dma-bufs",
        body: "References to DRM devices, GEM objects exported in-kernel as dma-bufs (no file\n\
               descriptor), imports, vgem buffers, and framebuffer geometry.",
        patches: NONE,
        files: &[
            "drm_client/device.rs",
            "drm_client/gem.rs",
            "drm_client/layout.rs",
            "drm_client/vgem.rs",
            "drm_client/import.rs",
            "drm_client/mod.rs",
        ],
        submodules: &[
            "drm_client/device",
            "drm_client/gem",
            "drm_client/layout",
            "drm_client/vgem",
            "drm_client/import",
        ],
        crate_modules: &["drm_client"],
        kconfig: NONE,
    },
    Step {
        subject: "rust: drm_client: clients, framebuffers and mode setting",
        body: "In-kernel clients registered with their device, their callbacks, framebuffers\n\
               from dumb buffers or vgem reached through the cached-vmap protocol, damage\n\
               flushes, page flips and restores; /sys/kernel/debug/dri/N/vmap_client lists\n\
               every client's framebuffers with their caches' statistics.",
        patches: NONE,
        files: &[
            "drm_client/allocator.rs",
            "drm_client/client.rs",
            "drm_client/handler.rs",
            "drm_client/registration.rs",
            "drm_client/registry.rs",
            "drm_client/modeset.rs",
            "drm_client/framebuffer.rs",
            "drm_client/double_buffer.rs",
        ],
        submodules: &[
            "drm_client/allocator",
            "drm_client/client",
            "drm_client/registry",
            "drm_client/handler",
            "drm_client/registration",
            "drm_client/modeset",
            "drm_client/framebuffer",
            "drm_client/double_buffer",
        ],
        crate_modules: NONE,
        kconfig: NONE,
    },
    Step {
        subject: "rust: drm_client: devices as they register, frame clocks, firmware pictures",
        body: "What a client that draws on every display needs: a watch over KMS devices\n\
               (drm_dev_watch()), a steady frame rate on a delayed work item, work that runs\n\
               at most once per frame however often it is asked for, and the firmware's boot\n\
               logo and files from the firmware loader.",
        patches: NONE,
        files: &[
            "drm_client/watch.rs",
            "drm_client/owned_work.rs",
            "drm_client/frame_clock.rs",
            "drm_client/throttle.rs",
            "drm_client/firmware.rs",
        ],
        submodules: &[
            "drm_client/watch",
            "drm_client/owned_work",
            "drm_client/frame_clock",
            "drm_client/throttle",
            "drm_client/firmware",
        ],
        crate_modules: NONE,
        kconfig: NONE,
    },
    Step {
        subject: "rust: fbdev: fbdev emulation over a system-memory shadow",
        body: "6.12 has no Rust fbdev abstraction. A struct fb_info whose pixels live in a\n\
               vmalloc shadow that fbcon, write() and mmap (deferred I/O) draw into, with our\n\
               own struct fb_ops (DRM_FB_HELPER_DEFAULT_OPS needs a drm_fb_helper as par),\n\
               reporting every drawing operation as damage to its owner.",
        patches: NONE,
        files: &["fbdev/mod.rs"],
        submodules: NONE,
        crate_modules: &["fbdev"],
        kconfig: NONE,
    },
    Step {
        subject: "rust: ktest: KUnit suites in Rust",
        body: "6.12 has no #[kunit_tests]. A macro that places a struct kunit_suite in the\n\
               .kunit_test_suites section, and assertions that return from the case so that\n\
               Rust destructors run.",
        patches: NONE,
        files: &["kunit/rust"],
        submodules: NONE,
        crate_modules: &["ktest"],
        kconfig: NONE,
    },
    Step {
        subject: "drm/vmap_client: KUnit suites of the in-kernel client layer",
        body: "The KUnit option, the fixtures the suites drive devices with, and suites for the cache and its protocol, dma-buf mappings, framebuffer \
               geometry, clients on vkms, bochs and cirrus, buffers that move, and a benchmark \
               suite, with their C fixtures: a test exporter of movable dma-bufs and the \
               baselines the benchmark compares with. Every case checks what the display \
               reads and that nothing was left behind.",
        patches: NONE,
        files: &[
            "kunit/suites",
            "drm_client/testing.rs",
            "drm_client/fault_sweep.rs",
            "fbdev/testing.rs",
        ],
        submodules: &["drm_client/testing", "drm_client/fault_sweep", "fbdev/testing"],
        crate_modules: NONE,
        kconfig: &["DRM_VMAP_CLIENT_KUNIT_TEST", "DRM_VMAP_CLIENT_FAULT_TEST"],
    },
    Step {
        subject: "drm/vmap_client: a boot splash on the in-kernel client layer",
        body: "A leaf client with no unsafe code: a picture (the firmware's logo, a BMP from the\n\
               firmware loader, or a built-in one) and a progress bar on every display from\n\
               its registration until user space takes the display. Built in or a module,\n\
               whose exit ends every splash first.",
        patches: NONE,
        files: &["bootsplash"],
        submodules: NONE,
        crate_modules: NONE,
        kconfig: &["DRM_VMAP_BOOTSPLASH"],
    },
    Step {
        subject: "drm/vmap_client: fbdev emulation on the in-kernel client layer",
        body: "A leaf client with no unsafe code: /dev/fbN and fbcon for every KMS device,\n\
               drawn into a shadow and copied, damaged rows only and at most once per frame,\n\
               into the device's framebuffer through its dma-buf's cached mapping. It replaces\n\
               C's emulation with drm_kms_helper.fbdev_emulation=0 vmap_fbdev.enable=1.",
        patches: NONE,
        files: &["fbdev_emulation"],
        submodules: NONE,
        crate_modules: NONE,
        kconfig: &["DRM_VMAP_FBDEV"],
    },
    Step {
        subject: "docs: gpu: the Rust in-kernel DRM client layer",
        body: "The design of the layer and of the access protocol, the boot splash, how it is \
               tested, and the benchmark's numbers, measured side by side in one boot.",
        patches: &["0006-docs-gpu-drm-vmap-client.patch"],
        files: &["Documentation/gpu"],
        submodules: NONE,
        crate_modules: NONE,
        kconfig: NONE,
    },
];

/// The identity the series' commits carry; the sender adds Signed-off-by.
const AUTHOR: &[&str] = &[
    "-c",
    "user.name=drm-vmap-client developers",
    "-c",
    "user.email=drm-vmap-client@localhost",
];

/// checkpatch findings that the cover letter explains instead of the series fixing them.
const EXPLAINED: &[&str] = &[
    // A MAINTAINERS entry belongs with the sender, once the layer has a maintainer.
    "WARNING:FILE_PATH_CHANGES",
];

pub fn run(paths: &Paths, options: &Options) -> Result<()> {
    let started = Instant::now();
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| paths.output().join("series"));
    let patches = write_and_check(paths, &out)?;
    if options.build_each {
        build_each(
            paths,
            &paths.work.join("series/work"),
            &paths.work.join("series/build"),
        )?;
    }
    println!(
        "series: {} patches and a cover letter in {} ({}); they apply with git am, checkpatch \
         finds nothing the cover letter does not explain, and the result is byte-identical to \
         the overlay",
        patches,
        out.display(),
        command::format_duration(started.elapsed())
    );
    Ok(())
}

/// Writes the series into `out` and checks it (everything but the builds); returns how many
/// patches it has. `cargo xtask test` runs this.
pub fn write_and_check(paths: &Paths, out: &Path) -> Result<usize> {
    check_steps_cover_the_project(paths)?;
    let dir = paths.work.join("series");
    let pristine = pristine_repository(&dir)?;
    let work = fresh_clone(&pristine, &dir.join("work"))?;
    for (index, step) in STEPS.iter().enumerate() {
        eprintln!(
            "series: {:2}/{} {}",
            index + 1,
            STEPS.len(),
            step_subject(paths, step)?
        );
        apply_step(paths, &work, step, index)?;
        commit(paths, &work, step)?;
    }
    let patches = format_patches(&work, out)?;
    let findings = checkpatch(&paths.tree(), &patches)?;
    write_cover_letter(out, &findings)?;
    check_applies(&pristine, &dir.join("am"), &patches)?;
    check_identical(paths, &dir.join("am"))?;
    let unexplained: Vec<&String> = findings
        .iter()
        .filter(|line| line.starts_with("    "))
        .filter(|line| !EXPLAINED.iter().any(|kind| line.contains(kind)))
        .collect();
    if !unexplained.is_empty() {
        bail!(
            "checkpatch --strict finds in the series:\n{}",
            unexplained
                .iter()
                .map(|line| line.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    Ok(patches.len())
}

fn step_subject(paths: &Paths, step: &Step) -> Result<String> {
    Ok(message(paths, step)?
        .lines()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// Every placed file is in exactly one step, so the series carries the whole project.
fn check_steps_cover_the_project(paths: &Paths) -> Result<()> {
    let mut listed = BTreeSet::new();
    for step in STEPS {
        for file in step.files {
            for found in files_under(&paths.repo.join(file))? {
                if !listed.insert(found.clone()) {
                    bail!("{} is in two steps of the series", found.display());
                }
            }
        }
    }
    for (from, _) in PLACEMENTS {
        for found in files_under(&paths.repo.join(from))? {
            if !listed.contains(&found) {
                bail!(
                    "{} is in no step of the series: add it to STEPS in xtask/src/series.rs",
                    found.display()
                );
            }
        }
    }
    Ok(())
}

fn files_under(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))? {
        files.extend(files_under(&entry?.path())?);
    }
    files.sort();
    Ok(files)
}

/// A git repository of the pristine tree, made once (the tree has some 80,000 files).
fn pristine_repository(dir: &Path) -> Result<PathBuf> {
    let repo = dir.join("pristine");
    if repo.join(".git/refs/tags/pristine").exists() {
        return Ok(repo);
    }
    if repo.exists() {
        fs::remove_dir_all(&repo)?;
    }
    fs::create_dir_all(&repo)?;
    eprintln!("series: unpacking {KERNEL_TARBALL} into a git repository (once; a few minutes)");
    command::run(
        Command::new("tar")
            .arg("-xf")
            .arg(KERNEL_TARBALL)
            .arg("-C")
            .arg(&repo)
            .arg("--strip-components=1"),
    )?;
    git(&repo, &["init", "-q"])?;
    // Everything the tarball holds, including the few files the tree's .gitignore matches.
    git(&repo, &["add", "-A", "-f"])?;
    git(
        &repo,
        &[
            "commit",
            "-q",
            "-m",
            "Linux 6.12.117 (Debian linux-source-6.12)",
        ],
    )?;
    git(&repo, &["tag", "pristine"])?;
    Ok(repo)
}

/// A new clone of `pristine` at `dir` (a local clone: hard links, seconds).
fn fresh_clone(pristine: &Path, dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    let pristine = pristine
        .canonicalize()
        .with_context(|| format!("cannot find {}", pristine.display()))?;
    command::run(
        Command::new("git")
            .args(["clone", "-q"])
            .arg(&pristine)
            .arg(dir),
    )?;
    Ok(dir.to_path_buf())
}

fn git(repo: &Path, arguments: &[&str]) -> Result<String> {
    command::output(
        Command::new("git")
            .args(AUTHOR)
            .arg("-C")
            .arg(repo)
            .args(arguments),
    )
}

/// Makes the tree at `work` what step `index` adds to the one before.
fn apply_step(paths: &Paths, work: &Path, step: &Step, index: usize) -> Result<()> {
    for patch in step.patches {
        command::run(
            Command::new("patch")
                .args([
                    "-p1",
                    "--batch",
                    "--forward",
                    "--no-backup-if-mismatch",
                    "--quiet",
                    "-d",
                ])
                .arg(work)
                .arg("-i")
                .arg(paths.repo.join("patches").join(patch)),
        )?;
    }
    for file in step.files {
        let (from, to) = placement_of(file)?;
        copy_tree(&paths.repo.join(from), &work.join(to))?;
    }
    let done = &STEPS[..=index];
    write_partial(paths, work, "rust/kernel/lib.rs", &|line| {
        kept_crate_module(line, done)
    })?;
    // A folder's `mod.rs` declares the submodules of the steps done so far, from the step
    // that placed it on.
    for folder in ["drm_client", "vmap_cache", "fbdev"] {
        let path = format!("rust/kernel/{folder}/mod.rs");
        if work.join(&path).exists() {
            write_partial(paths, work, &path, &|line| {
                kept_module_line(line, folder, done)
            })?;
        }
    }
    write_partial(paths, work, "drivers/gpu/drm/vmap_client/Kbuild", &|line| {
        kept_kbuild_line(line, work)
    })?;
    write_kconfig(paths, work, done)?;
    Ok(())
}

/// Writes our `Kconfig` with the options of the steps done so far: an option's block runs
/// from its `config` line to the next one.
fn write_kconfig(paths: &Paths, work: &Path, done: &[Step]) -> Result<()> {
    let path = "drivers/gpu/drm/vmap_client/Kconfig";
    let full = fs::read_to_string(paths.tree().join(path))?;
    let wanted: Vec<&str> = done
        .iter()
        .flat_map(|step| step.kconfig.iter().copied())
        .collect();
    let mut keep = true;
    let mut kept = Vec::new();
    for line in full.lines() {
        if let Some(option) = line.strip_prefix("config ") {
            keep = wanted.contains(&option.trim());
        }
        if keep {
            kept.push(line);
        }
    }
    while kept.last().is_some_and(|line| line.trim().is_empty()) {
        kept.pop();
    }
    let mut text = kept.join("\n");
    text.push('\n');
    fs::write(work.join(path), text)?;
    Ok(())
}

/// Where `file` (a file or folder of the checkout, or one inside a placed folder) goes.
fn placement_of(file: &str) -> Result<(String, String)> {
    for (from, to) in PLACEMENTS {
        if file == *from {
            return Ok((from.to_string(), to.to_string()));
        }
        if let Some(rest) = file.strip_prefix(&format!("{from}/")) {
            return Ok((file.to_string(), format!("{to}/{rest}")));
        }
    }
    bail!("{file} has no place in the tree (xtask/src/overlay.rs)")
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if from.is_file() {
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(from, to).with_context(|| format!("cannot copy {}", from.display()))?;
        return Ok(());
    }
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        copy_tree(&entry.path(), &to.join(entry.file_name()))?;
    }
    Ok(())
}

/// Writes `path` of `work` as the overlay's final version, without the lines `keep` refuses
/// (and without the attribute line above a refused line).
fn write_partial(
    paths: &Paths,
    work: &Path,
    path: &str,
    keep: &dyn Fn(&str) -> bool,
) -> Result<()> {
    let full = fs::read_to_string(paths.tree().join(path))
        .with_context(|| format!("cannot read the overlay's {path}: run `cargo xtask overlay`"))?;
    let lines: Vec<&str> = full.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    for line in &lines {
        if keep(line) {
            kept.push(line);
        } else if kept
            .last()
            .is_some_and(|last| last.trim_start().starts_with("#[cfg("))
        {
            kept.pop();
        }
    }
    // Lines left out may leave a blank line at the end.
    if kept.len() < lines.len() {
        while kept.last().is_some_and(|line| line.trim().is_empty()) {
            kept.pop();
        }
    }
    let mut text = kept.join("\n");
    text.push('\n');
    let target = work.join(path);
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(&target, text)?;
    Ok(())
}

/// Our `pub mod` lines of `lib.rs` appear with the step that adds their module.
fn kept_crate_module(line: &str, done: &[Step]) -> bool {
    let declares = |name: &str| line.trim() == format!("pub mod {name};");
    let mut ours = STEPS.iter().flat_map(|step| step.crate_modules.iter());
    let mut declared = done.iter().flat_map(|step| step.crate_modules.iter());
    !ours.any(|name| declares(name)) || declared.any(|name| declares(name))
}

/// `mod x;`, `pub mod x;`, `pub use x::...;` and `pub(crate) use x::...;` lines of a split
/// folder's `mod.rs` appear with the step that adds `folder/x`.
fn kept_module_line(line: &str, folder: &str, done: &[Step]) -> bool {
    let trimmed = line.trim();
    let used = ["pub use ", "pub(crate) use "]
        .iter()
        .find_map(|prefix| trimmed.strip_prefix(prefix))
        .and_then(|rest| rest.split("::").next());
    let declared = ["mod ", "pub mod "]
        .iter()
        .find_map(|prefix| trimmed.strip_prefix(prefix))
        .and_then(|rest| rest.strip_suffix(';'));
    let Some(module) = used.or(declared) else {
        return true;
    };
    let name = format!("{folder}/{module}");
    done.iter()
        .flat_map(|step| step.submodules.iter())
        .any(|added| *added == name)
}

/// An object line of the top `Kbuild` appears once its source is in the tree.
fn kept_kbuild_line(line: &str, work: &Path) -> bool {
    let Some(object) = line.split("+=").nth(1).map(str::trim) else {
        return true;
    };
    let base = Path::new("drivers/gpu/drm/vmap_client").join(object);
    ["rs", "c"]
        .iter()
        .any(|extension| work.join(base.with_extension(extension)).exists())
}

fn commit(paths: &Paths, work: &Path, step: &Step) -> Result<()> {
    // Debian's tree ignores every top-level path in its .gitignore (`/*`).
    git(work, &["add", "-A", "-f"])?;
    let message = message(paths, step)?;
    git(work, &["commit", "-q", "-m", &message])?;
    Ok(())
}

/// The commit message of `step`, its body wrapped at 72 columns.
fn message(paths: &Paths, step: &Step) -> Result<String> {
    let (subject, body) = if step.subject.is_empty() {
        let patch = step
            .patches
            .first()
            .context("a step without subject or patch")?;
        let text = fs::read_to_string(paths.repo.join("patches").join(patch))?;
        let header = text.split("\n---\n").next().unwrap_or_default().to_string();
        let (subject, body) = header.split_once("\n\n").unwrap_or((&header, ""));
        (subject.trim().to_string(), body.trim().to_string())
    } else {
        (step.subject.to_string(), step.body.to_string())
    };
    if body.is_empty() {
        return Ok(subject);
    }
    Ok(format!("{subject}\n\n{}", wrap(&body, 72)))
}

/// Rewraps each paragraph of `text` to lines of at most `width` columns.
fn wrap(text: &str, width: usize) -> String {
    let mut paragraphs = Vec::new();
    for paragraph in text.split("\n\n") {
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
        paragraphs.push(lines.join("\n"));
    }
    paragraphs.join("\n\n")
}

/// `git format-patch` of the series into `out`; returns the patches, cover letter excluded.
fn format_patches(work: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    if out.exists() {
        fs::remove_dir_all(out)?;
    }
    fs::create_dir_all(out)?;
    let out_text = out.to_str().context("output path is not UTF-8")?;
    git(
        work,
        &[
            "format-patch",
            "-q",
            "--cover-letter",
            "-o",
            out_text,
            "pristine..HEAD",
        ],
    )?;
    let mut patches: Vec<PathBuf> = fs::read_dir(out)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    patches.retain(|path| !path.ends_with("0000-cover-letter.patch"));
    patches.sort();
    Ok(patches)
}

/// `checkpatch.pl --strict` on every patch; returns one line per patch with its counts.
fn checkpatch(tree: &Path, patches: &[PathBuf]) -> Result<Vec<String>> {
    let script = tree.join("scripts/checkpatch.pl");
    let mut findings = Vec::new();
    for patch in patches {
        let output = Command::new("perl")
            .arg(&script)
            .args([
                "--no-tree",
                "--strict",
                "--terse",
                "--show-types",
                "--no-signoff",
            ])
            .arg(patch)
            .output()
            .context("cannot run checkpatch.pl")?;
        let text = String::from_utf8_lossy(&output.stdout);
        // --terse prints nothing at all for a clean patch.
        let total = text
            .lines()
            .find(|line| line.starts_with("total:"))
            .map_or_else(
                || {
                    if output.status.success() {
                        "clean".to_string()
                    } else {
                        "checkpatch failed".to_string()
                    }
                },
                str::to_string,
            );
        let name = patch
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("?");
        findings.push(format!("{name}: {total}"));
        let reported = |line: &&str| {
            [": CHECK:", ": WARNING:", ": ERROR:"]
                .iter()
                .any(|kind| line.contains(kind))
        };
        for finding in text.lines().filter(reported) {
            let short = finding
                .rsplit_once(".patch:")
                .map_or(finding, |(_, rest)| rest);
            findings.push(format!("    {short}"));
        }
    }
    Ok(findings)
}

/// Fills in the cover letter's subject and blurb: the design, the testing, the checks.
fn write_cover_letter(out: &Path, findings: &[String]) -> Result<()> {
    let path = out.join("0000-cover-letter.patch");
    let letter = fs::read_to_string(&path)?;
    let blurb = format!(
        "In-kernel DRM clients (a boot splash, fbdev emulation, a boot logger) draw into\n\
         buffers a KMS device scans out. This series gives them a Rust layer that maps\n\
         those buffers through an in-kernel dma-buf instead of GEM's vmap hooks, behind the\n\
         cached-vmap access protocol proposed on dri-devel in 2018: nothing is pinned\n\
         between accesses, so video memory may move, and the next access remaps.\n\
         \n\
         The hook patches come first (a watch over KMS devices as they register,\n\
         drm_client_unregister(), a vgem accessor, a device lookup by minor, two error\n\
         codes), then the C helpers, the Rust abstractions one concept each (the client,\n\
         its framebuffers and mode setting share one patch: Client::show() takes a\n\
         Framebuffer, a Framebuffer holds its Client, and the mode sets refer to both),\n\
         the KUnit\n\
         bindings and suites, a boot splash written without unsafe code, and the\n\
         documentation (Documentation/gpu/drm-vmap-client/), which has the design, the\n\
         measured numbers and how it was tested: KUnit in QEMU on bochs, cirrus, vkms and\n\
         virtio-gpu, with lockdep, KASAN and kmemleak, and screenshots of the splash\n\
         compared pixel by pixel.\n\
         \n\
         checkpatch.pl --strict, per patch (FILE_PATH_CHANGES asks for a MAINTAINERS\n\
         entry, which belongs with the sender once the layer has a maintainer):\n{}\n",
        findings.join("\n")
    );
    let letter = letter
        .replace(
            "*** SUBJECT HERE ***",
            "Rust in-kernel DRM clients over dma-buf, with cached vmaps",
        )
        .replace("*** BLURB HERE ***", &blurb);
    fs::write(&path, letter)?;
    Ok(())
}

/// Applies the patches with `git am` to a fresh clone of the pristine tree.
fn check_applies(pristine: &Path, dir: &Path, patches: &[PathBuf]) -> Result<()> {
    let repo = fresh_clone(pristine, dir)?;
    let mut am = Command::new("git");
    am.args(AUTHOR)
        .arg("-C")
        .arg(&repo)
        .args(["am", "-q"])
        .args(patches);
    command::run(&mut am).context("the series does not apply with git am to the pristine tree")?;
    Ok(())
}

/// The tree the series makes holds exactly what the overlay placed and patched.
fn check_identical(paths: &Paths, series_tree: &Path) -> Result<()> {
    let changed = git(series_tree, &["diff", "--name-only", "pristine", "HEAD"])?;
    let mut different = Vec::new();
    for file in changed.lines() {
        let ours = fs::read(series_tree.join(file))?;
        let overlay = fs::read(paths.tree().join(file)).unwrap_or_default();
        if ours != overlay {
            different.push(file.to_string());
        }
    }
    if !different.is_empty() {
        bail!(
            "the series' tree differs from the overlay's in: {}",
            different.join(", ")
        );
    }
    Ok(())
}

/// Builds the kernel at every commit of the series, in a build directory of its own.
fn build_each(paths: &Paths, work: &Path, build_dir: &Path) -> Result<()> {
    fs::create_dir_all(build_dir)?;
    let config = paths.build(crate::paths::Flavour::Standard).join(".config");
    let commits = git(work, &["rev-list", "--reverse", "pristine..HEAD"])?;
    let started = Instant::now();
    for (index, commit) in commits.lines().enumerate() {
        git(work, &["checkout", "-q", commit])?;
        fs::copy(&config, build_dir.join(".config"))
            .context("build the kernel once first (`cargo xtask build`)")?;
        eprintln!("series: building step {} ({commit:.12})", index + 1);
        for target in [&["olddefconfig"][..], &[]] {
            command::run(
                Command::new("make")
                    .arg("-C")
                    .arg(work)
                    .arg(format!("O={}", build_dir.display()))
                    .args(["LLVM=1", "CC=ccache clang", "CLIPPY=1"])
                    .arg(format!(
                        "-j{}",
                        std::thread::available_parallelism().map_or(2, usize::from)
                    ))
                    .args(target),
            )
            .with_context(|| format!("step {} of the series does not build", index + 1))?;
        }
    }
    git(work, &["checkout", "-q", "master"]).or_else(|_| git(work, &["checkout", "-q", "main"]))?;
    eprintln!(
        "series: every step builds; {} for {} builds",
        command::format_duration(started.elapsed()),
        commits.lines().count()
    );
    Ok(())
}
