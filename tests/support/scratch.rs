//! Scratch directories for tests: a new, empty one per call, named so
//! that parallel tests and repeated runs never share one.

use std::path::PathBuf;

/// A new directory under the system's temp dir, `warmline-<name>-<pid>-<ns>`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "warmline-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
