//! Identity of the image files a run used (kernel, initrd, disks): size and SHA-256.

use crate::log::LogError;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// The SHA-256 of an image file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageId(pub [u8; 32]);

impl std::fmt::Display for ImageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// One image file named in the log header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRecord {
    /// The path as given on the command line when recording.
    pub path: String,
    pub size: u64,
    pub id: ImageId,
}

impl ImageRecord {
    /// Hashes `path` and describes it.
    pub fn from_file(path: &Path) -> Result<Self, LogError> {
        let (size, id) = hash_file_sized(path)?;
        Ok(ImageRecord {
            path: path.display().to_string(),
            size,
            id,
        })
    }
}

/// The SHA-256 of a file's contents.
pub fn hash_file(path: &Path) -> Result<ImageId, LogError> {
    hash_file_sized(path).map(|(_, id)| id)
}

fn hash_file_sized(path: &Path) -> Result<(u64, ImageId), LogError> {
    let shown = path.display().to_string();
    let mut f =
        std::fs::File::open(path).map_err(|e| LogError::io("cannot open image", &shown, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| LogError::io("cannot read image", &shown, e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(buf.get(..n).unwrap_or_default());
    }
    Ok((size, ImageId(h.finalize().into())))
}

/// Checks each image against its record; the error names the first file that changed.
pub fn verify(images: &[ImageRecord]) -> Result<(), crate::ReplayError> {
    for im in images {
        let changed = |detail: String| crate::ReplayError::ImageChanged {
            path: im.path.clone(),
            detail,
        };
        let meta =
            std::fs::metadata(&im.path).map_err(|e| changed(format!("it cannot be read: {e}")))?;
        if meta.len() != im.size {
            return Err(changed(format!(
                "it has {} bytes, the recording used {}",
                meta.len(),
                im.size
            )));
        }
        let id = hash_file(Path::new(&im.path)).map_err(|e| changed(e.to_string()))?;
        if id != im.id {
            return Err(changed(format!(
                "its SHA-256 is {id}, the recording's was {}",
                im.id
            )));
        }
    }
    Ok(())
}
