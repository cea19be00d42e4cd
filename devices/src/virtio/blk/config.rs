//! What the machine configures for a virtio-blk device, the features that follow from
//! it, and the configuration space the driver reads (struct virtio_blk_config).

use super::{ID_BYTES, SECTOR_SIZE};
use crate::virtio::feature;

/// Feature bits (spec §5.2.3).
pub mod features {
    pub const SIZE_MAX: u64 = 1 << 1;
    pub const SEG_MAX: u64 = 1 << 2;
    pub const RO: u64 = 1 << 5;
    pub const BLK_SIZE: u64 = 1 << 6;
    pub const FLUSH: u64 = 1 << 9;
}

/// What the machine configures (not state: it is given again on restore).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlkConfig {
    /// Disk size in 512-byte sectors.
    pub capacity_sectors: u64,
    pub read_only: bool,
    /// GET_ID answer; padded with zeros / cut to 20 bytes.
    pub serial: Vec<u8>,
    /// Queue size offered (power of two, at most 32768).
    pub queue_size: u16,
    /// Most data segments in one request (reported in config space).
    pub seg_max: u32,
    /// Largest data transfer accepted in one request; larger ones get IOERR. Linux's
    /// default request size limit (max_sectors_kb, 1280 KiB) stays well below it.
    pub max_request_bytes: u32,
}

impl BlkConfig {
    /// A writable disk of `capacity_sectors` sectors with the default queue (256
    /// entries, 254 segments) and a 16 MiB request limit.
    pub fn new(capacity_sectors: u64) -> Self {
        BlkConfig {
            capacity_sectors,
            read_only: false,
            serial: Vec::new(),
            queue_size: 256,
            seg_max: 254,
            max_request_bytes: 16 << 20,
        }
    }

    pub(super) fn serial_bytes(&self) -> [u8; ID_BYTES] {
        let mut id = [0u8; ID_BYTES];
        for (d, s) in id.iter_mut().zip(&self.serial) {
            *d = *s;
        }
        id
    }

    pub(super) fn features(&self) -> u64 {
        let ro = if self.read_only { features::RO } else { 0 };
        features::SEG_MAX
            | features::BLK_SIZE
            | features::FLUSH
            | ro
            | feature::RING_INDIRECT_DESC
            | feature::VERSION_1
    }

    /// The configuration space (struct virtio_blk_config up to num_queues).
    pub(super) fn space(&self) -> [u8; 36] {
        let mut c = [0u8; 36];
        c[0..8].copy_from_slice(&self.capacity_sectors.to_le_bytes());
        c[12..16].copy_from_slice(&self.seg_max.to_le_bytes());
        c[20..24].copy_from_slice(&(SECTOR_SIZE as u32).to_le_bytes());
        c[34..36].copy_from_slice(&1u16.to_le_bytes());
        c
    }
}
