//! One command at a time per work directory.
//!
//! Every build directory shares the one kernel tree, and the overlay rewrites files in it: a
//! second command overlaying new sources under a running build breaks that build. Commands that
//! touch the tree hold an exclusive lock on the work directory until they end.

use anyhow::{Context, Result};
use std::fs::{self, File, TryLockError};
use std::path::Path;

/// The held lock; released when dropped (or when the process ends).
pub struct WorkLock {
    _file: File,
}

/// Locks `work`, waiting for another command that holds it.
pub fn acquire(work: &Path) -> Result<WorkLock> {
    fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
    let path = work.join(".lock");
    let file = File::create(&path).with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            eprintln!(
                "waiting for another `cargo xtask` command using {}",
                work.display()
            );
            file.lock().context("cannot lock the work directory")?;
        }
        Err(TryLockError::Error(error)) => {
            return Err(error).context("cannot lock the work directory");
        }
    }
    Ok(WorkLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_would_wait() {
        let dir = tempfile::tempdir().unwrap();
        let _held = acquire(dir.path()).unwrap();
        let other = File::create(dir.path().join(".lock")).unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
    }
}
