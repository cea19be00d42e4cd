//! Turning a virtio-blk descriptor chain into a request (spec §5.2.6).
//!
//! A request is a 16-byte header (type, reserved, sector) at the start of the
//! device-readable bytes, data (device-readable for OUT, device-writable for IN and
//! GET_ID) and a status byte, the last device-writable byte. Framing is free: the
//! header, data and status may be split over descriptors in any way.

use super::{BlkConfig, BlkRequestKind, BlkStatus, SECTOR_SIZE};
use crate::virtio::chain::{self, Chain, Segment};
use crate::virtio::DriverError;
use vm_memory::{GuestMemory, Permissions};

pub const VIRTIO_BLK_T_IN: u32 = 0;
pub const VIRTIO_BLK_T_OUT: u32 = 1;
pub const VIRTIO_BLK_T_FLUSH: u32 = 4;
pub const VIRTIO_BLK_T_GET_ID: u32 = 8;
const HEADER_LEN: u64 = 16;

/// What to do with a chain.
#[derive(Debug)]
pub enum Parsed {
    /// Hand it to the backend. `segs` are where a read's data go (or a write's came
    /// from); `data` is a write's payload.
    Submit {
        kind: BlkRequestKind,
        sector: u64,
        len: u32,
        segs: Vec<Segment>,
        data: Vec<u8>,
        status: Segment,
    },
    /// Answer at once: write `data` (GET_ID) into `segs`, then `status`.
    Immediate {
        status_code: BlkStatus,
        segs: Vec<Segment>,
        data: Vec<u8>,
        status: Segment,
    },
}

fn immediate(code: BlkStatus, status: Segment) -> Parsed {
    Parsed::Immediate {
        status_code: code,
        segs: Vec::new(),
        data: Vec::new(),
        status,
    }
}

pub fn parse<M: GuestMemory>(mem: &M, c: &Chain, cfg: &BlkConfig) -> Result<Parsed, DriverError> {
    let missing = DriverError::MissingHeader {
        queue: c.queue,
        head: c.head,
    };
    let (in_segs, status_segs) = chain::split_back(&c.writable, 1).ok_or(missing.clone())?;
    let status = *status_segs.first().ok_or(missing.clone())?;
    let (header_segs, out_segs) = chain::split_front(&c.readable, HEADER_LEN).ok_or(missing)?;
    if c.outside_ram {
        // A DMA address outside RAM: fail this request if the status byte can be
        // written, otherwise the chain is unusable.
        if chain::in_ram(mem, &[status], Permissions::Write) {
            return Ok(immediate(BlkStatus::IoErr, status));
        }
        return Err(DriverError::BufferOutsideRam {
            queue: c.queue,
            head: c.head,
        });
    }
    let mut header = Vec::with_capacity(16);
    if chain::read_into(mem, &header_segs, &mut header).is_err() {
        return Ok(immediate(BlkStatus::IoErr, status));
    }
    let (Some(kind), Some(sector)) = (header.get(0..4), header.get(8..16)) else {
        return Ok(immediate(BlkStatus::IoErr, status));
    };
    let kind = u32::from_le_bytes(kind.try_into().unwrap_or_default());
    let sector = u64::from_le_bytes(sector.try_into().unwrap_or_default());

    match kind {
        VIRTIO_BLK_T_IN => Ok(data_request(
            mem,
            BlkRequestKind::Read,
            sector,
            in_segs,
            status,
            cfg,
        )),
        VIRTIO_BLK_T_OUT => {
            if cfg.read_only {
                // Spec §5.2.6.2: IOERR, and no data written.
                return Ok(immediate(BlkStatus::IoErr, status));
            }
            Ok(data_request(
                mem,
                BlkRequestKind::Write,
                sector,
                out_segs,
                status,
                cfg,
            ))
        }
        VIRTIO_BLK_T_FLUSH => Ok(Parsed::Submit {
            kind: BlkRequestKind::Flush,
            sector: 0,
            len: 0,
            segs: Vec::new(),
            data: Vec::new(),
            status,
        }),
        VIRTIO_BLK_T_GET_ID => Ok(Parsed::Immediate {
            status_code: BlkStatus::Ok,
            segs: in_segs,
            data: cfg.serial_bytes().to_vec(),
            status,
        }),
        _ => Ok(immediate(BlkStatus::Unsupp, status)),
    }
}

fn data_request<M: GuestMemory>(
    mem: &M,
    kind: BlkRequestKind,
    sector: u64,
    segs: Vec<Segment>,
    status: Segment,
    cfg: &BlkConfig,
) -> Parsed {
    let bytes = chain::total(&segs);
    let fits = bytes.is_multiple_of(SECTOR_SIZE)
        && bytes <= u64::from(cfg.max_request_bytes)
        && segs.len() <= cfg.seg_max as usize
        && sector
            .checked_add(bytes / SECTOR_SIZE)
            .is_some_and(|end| end <= cfg.capacity_sectors);
    let Ok(len) = u32::try_from(bytes) else {
        return immediate(BlkStatus::IoErr, status);
    };
    if !fits {
        return immediate(BlkStatus::IoErr, status);
    }
    let mut data = Vec::new();
    if kind == BlkRequestKind::Write {
        data.reserve(len as usize);
        if chain::read_into(mem, &segs, &mut data).is_err() {
            return immediate(BlkStatus::IoErr, status);
        }
    }
    Parsed::Submit {
        kind,
        sector,
        len,
        segs,
        data,
        status,
    }
}
