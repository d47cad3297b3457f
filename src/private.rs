//! Files only Zoe's user may read: the database, the metrics and recorded speech hold what the
//! household said, so they are created mode 0600 whatever the umask (an existing file is made so
//! too). Every file Zoe writes for the user goes through here.

use std::fs::{File, OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Opens `path` for appending, creating it 0600.
pub fn append(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Creates (truncating) `path` for writing and reading back, 0600.
pub fn create(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// New and existing files alike end up 0600, even under a permissive umask's default.
    #[test]
    fn files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&b, b"old").unwrap();
        std::fs::set_permissions(&b, Permissions::from_mode(0o644)).unwrap();
        append(&a).unwrap();
        create(&b).unwrap();
        assert_eq!((mode(&a), mode(&b)), (0o600, 0o600));
        assert_eq!(std::fs::read(&b).unwrap(), b"", "create truncates");
    }
}
