//! Reading a file that holds secrets (the JWT secret, host keys): refused when its mode lets
//! the group or others read or write it, with the command that fixes it, as ssh does with
//! private keys.

use std::path::Path;

/// Why a secret file was not read.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// The cause is the error's source, so a chain of causes names it once.
    #[error("reading {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} is accessible by its group or others (mode {mode:03o}); secrets must be private: chmod 600 {path}"
    )]
    Exposed { path: String, mode: u32 },
}

/// Reads the secret file at `path`, refusing one that is readable or writable by anyone but
/// its owner.
pub fn read_secret_file(path: &Path) -> Result<Vec<u8>, SecretFileError> {
    let shown = path.display().to_string();
    let read_error = |source| SecretFileError::Read {
        path: shown.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(read_error)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretFileError::Exposed { path: shown, mode });
        }
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(read_error)?;
    Ok(bytes)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_secret_readable_by_others_is_refused_with_the_fix() {
        let dir = std::env::temp_dir().join(format!("relay-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "0123456789abcdef0123").unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let error = read_secret_file(&path).unwrap_err().to_string();
            assert!(
                error.contains(&format!("chmod 600 {}", path.display())),
                "{error}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secret_file(&path).unwrap(), b"0123456789abcdef0123");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(read_secret_file(&path).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }
}
