//! The disk image behind virtio-blk, and the iothread's I/O worker that serves the
//! guest's requests with real file I/O.
//!
//! The vCPU thread sends [`DiskJob`]s over a channel; the worker runs them in order
//! and sends each result back as [`HostInput::Block`], which the vCPU thread applies at
//! its next checkpoint (where record logs it). Replay never starts a worker: the
//! completions come from the log.
//!
//! Write policy ([`WritePolicy`]): `run` writes through to the image and makes a guest
//! FLUSH durable (`sync_data`); `record` keeps guest writes in a copy-on-write overlay
//! in memory (sector → bytes) that reads consult first, so the image file is never
//! modified and every replay starts from the same disk.

use super::iothread::HostInput;
use crossbeam_channel::Sender;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// virtio-blk sectors are always 512 bytes.
pub const SECTOR: u64 = 512;

/// Status codes as virtio-blk has them (spec §5.2.6).
pub const STATUS_OK: u8 = 0;
pub const STATUS_IOERR: u8 = 1;

/// `--drive file=PATH[,format=raw][,readonly=on]`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DriveSpec {
    pub file: PathBuf,
    pub read_only: bool,
}

impl std::str::FromStr for DriveSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut file = None;
        let mut read_only = false;
        for part in s.split(',') {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                format!(
                    "--drive: expected KEY=VALUE, got `{part}` (e.g. file=disk.img,readonly=on)"
                )
            })?;
            match k {
                "file" => file = Some(PathBuf::from(v)),
                "format" if v == "raw" => {}
                "format" => {
                    return Err(format!(
                        "--drive: format `{v}` is not supported; only raw images are (format=raw)"
                    ))
                }
                "readonly" => {
                    read_only = match v {
                        "on" => true,
                        "off" => false,
                        _ => return Err(format!("--drive: readonly=on|off, got `{v}`")),
                    }
                }
                _ => {
                    return Err(format!(
                        "--drive: unknown option `{k}` (known: file, format, readonly)"
                    ))
                }
            }
        }
        let file = file.ok_or("--drive: file=PATH is missing")?;
        Ok(DriveSpec { file, read_only })
    }
}

/// What the guest's writes do to the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WritePolicy {
    /// Write through to the file; FLUSH syncs it.
    WriteThrough,
    /// Keep writes in memory; the file is never modified.
    Overlay,
}

/// Checks that `path` is a readable raw image and returns its size in whole sectors.
/// A partial last sector is not visible to the guest.
pub fn image_sectors(path: &Path) -> Result<u64, String> {
    let f = File::open(path).map_err(|e| {
        format!(
            "cannot open disk image {}: {e} (check --drive file=PATH)",
            path.display()
        )
    })?;
    let len = f
        .metadata()
        .map_err(|e| format!("cannot read the size of disk image {}: {e}", path.display()))?
        .len();
    let mut b = [0u8; 1];
    if len > 0 {
        f.read_at(&mut b, 0)
            .map_err(|e| format!("cannot read disk image {}: {e}", path.display()))?;
    }
    Ok(len / SECTOR)
}

/// One request for the worker (ids are the device's request ids).
#[derive(Clone, Debug)]
pub enum DiskJob {
    Read { id: u64, sector: u64, len: u32 },
    Write { id: u64, sector: u64, data: Vec<u8> },
    Flush { id: u64 },
}

/// The image with its overlay; used by the worker thread (and tests).
pub struct Disk {
    file: File,
    policy: WritePolicy,
    overlay: BTreeMap<u64, Vec<u8>>,
}

impl Disk {
    /// Opens `path` (read-write only for a writable write-through disk).
    pub fn open(spec: &DriveSpec, policy: WritePolicy) -> Result<Disk, String> {
        let write = policy == WritePolicy::WriteThrough && !spec.read_only;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(write)
            .open(&spec.file)
            .map_err(|e| {
                format!(
                    "cannot open disk image {}{}: {e}",
                    spec.file.display(),
                    if write {
                        " for writing (add readonly=on to --drive?)"
                    } else {
                        ""
                    }
                )
            })?;
        Ok(Disk {
            file,
            policy,
            overlay: BTreeMap::new(),
        })
    }

    /// Runs one job: (status, data read).
    pub fn execute(&mut self, job: &DiskJob) -> (u64, u8, Vec<u8>) {
        match job {
            DiskJob::Read { id, sector, len } => match self.read(*sector, *len) {
                Ok(d) => (*id, STATUS_OK, d),
                Err(_) => (*id, STATUS_IOERR, Vec::new()),
            },
            DiskJob::Write { id, sector, data } => match self.write(*sector, data) {
                Ok(()) => (*id, STATUS_OK, Vec::new()),
                Err(_) => (*id, STATUS_IOERR, Vec::new()),
            },
            DiskJob::Flush { id } => {
                let r = match self.policy {
                    WritePolicy::WriteThrough => self.file.sync_data(),
                    WritePolicy::Overlay => Ok(()),
                };
                (
                    *id,
                    if r.is_ok() { STATUS_OK } else { STATUS_IOERR },
                    Vec::new(),
                )
            }
        }
    }

    fn read(&self, sector: u64, len: u32) -> std::io::Result<Vec<u8>> {
        let mut out = vec![0u8; len as usize];
        for (k, chunk) in out.chunks_mut(SECTOR as usize).enumerate() {
            let s = sector.saturating_add(k as u64);
            if let Some(o) = self.overlay.get(&s) {
                let n = chunk.len().min(o.len());
                chunk[..n].copy_from_slice(&o[..n]);
            } else {
                self.file.read_exact_at(chunk, s.saturating_mul(SECTOR))?;
            }
        }
        Ok(out)
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> std::io::Result<()> {
        match self.policy {
            WritePolicy::WriteThrough => {
                self.file.write_all_at(data, sector.saturating_mul(SECTOR))
            }
            WritePolicy::Overlay => {
                for (k, chunk) in data.chunks(SECTOR as usize).enumerate() {
                    self.overlay
                        .insert(sector.saturating_add(k as u64), chunk.to_vec());
                }
                Ok(())
            }
        }
    }
}

/// The vCPU side of the I/O worker: sends jobs and counts those not answered yet
/// (the iothread counts them down as their completions arrive).
#[derive(Clone)]
pub struct DiskClient {
    tx: Sender<DiskJob>,
    pending: Arc<AtomicUsize>,
}

impl DiskClient {
    pub fn send(&self, job: DiskJob) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(job).is_err() {
            // The worker is gone; the request never completes (the guest sees a hung
            // disk, as with a dead host device). Do not wait for it.
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Starts the I/O worker for device `device` serving `disk`; results go to `out`.
pub(super) fn spawn_worker(
    mut disk: Disk,
    device: u32,
    out: Sender<HostInput>,
    pending: Arc<AtomicUsize>,
) -> Result<DiskClient, String> {
    let (tx, rx) = crossbeam_channel::unbounded::<DiskJob>();
    std::thread::Builder::new()
        .name("reprise-disk".into())
        .spawn(move || {
            for job in rx {
                let (request, status, data) = disk.execute(&job);
                let m = HostInput::Block {
                    device,
                    request,
                    status,
                    data,
                };
                if out.send(m).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| format!("cannot start the disk I/O thread: {e}"))?;
    Ok(DiskClient { tx, pending })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(tag: &str, bytes: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("reprise-disk-{tag}-{}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn drive_spec_parses_and_rejects() {
        let d: DriveSpec = "file=a.img,format=raw,readonly=on".parse().unwrap();
        assert_eq!(d.file, PathBuf::from("a.img"));
        assert!(d.read_only);
        assert!("format=qcow2,file=a"
            .parse::<DriveSpec>()
            .unwrap_err()
            .contains("raw"));
        assert!("readonly=on"
            .parse::<DriveSpec>()
            .unwrap_err()
            .contains("file="));
        assert!("file=a,cache=none"
            .parse::<DriveSpec>()
            .unwrap_err()
            .contains("unknown"));
    }

    #[test]
    fn overlay_keeps_the_file_and_reads_see_writes() {
        let p = image("overlay", &[7u8; 2048]);
        let spec = DriveSpec {
            file: p.clone(),
            read_only: false,
        };
        let mut d = Disk::open(&spec, WritePolicy::Overlay).unwrap();
        let w = DiskJob::Write {
            id: 1,
            sector: 1,
            data: vec![9u8; 512],
        };
        assert_eq!(d.execute(&w).1, STATUS_OK);
        let (_, st, data) = d.execute(&DiskJob::Read {
            id: 2,
            sector: 0,
            len: 1536,
        });
        assert_eq!(st, STATUS_OK);
        assert!(data[..512].iter().all(|&b| b == 7));
        assert!(data[512..1024].iter().all(|&b| b == 9));
        assert!(data[1024..].iter().all(|&b| b == 7));
        assert_eq!(std::fs::read(&p).unwrap(), vec![7u8; 2048]);
        // Past the end of the file: an I/O error, not a panic.
        assert_eq!(
            d.execute(&DiskJob::Read {
                id: 3,
                sector: 100,
                len: 512
            })
            .1,
            STATUS_IOERR
        );
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn write_through_reaches_the_file() {
        let p = image("wt", &[0u8; 1024]);
        let spec = DriveSpec {
            file: p.clone(),
            read_only: false,
        };
        let mut d = Disk::open(&spec, WritePolicy::WriteThrough).unwrap();
        assert_eq!(
            d.execute(&DiskJob::Write {
                id: 1,
                sector: 1,
                data: vec![5u8; 512]
            })
            .1,
            STATUS_OK
        );
        assert_eq!(d.execute(&DiskJob::Flush { id: 2 }).1, STATUS_OK);
        let f = std::fs::read(&p).unwrap();
        assert!(f[512..].iter().all(|&b| b == 5) && f[..512].iter().all(|&b| b == 0));
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn missing_image_is_a_clear_error() {
        let e = image_sectors(Path::new("/nonexistent/reprise.img")).unwrap_err();
        assert!(
            e.contains("cannot open disk image /nonexistent/reprise.img"),
            "{e}"
        );
    }
}
