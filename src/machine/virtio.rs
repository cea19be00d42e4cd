//! The virtio-mmio devices on the board (virtio-blk, virtio-rng) and their host side.
//!
//! * The devices see guest RAM through a `vm_memory::GuestMemoryMmap` built over the
//!   CPU's RAM mapping ([`guest_memory`]); their DMA does not pass the CPU's MMU, so the
//!   pages they write are collected and the machine drops translated code after them.
//! * Their backends only queue requests ([`Outbox`]); after each MMIO write the board
//!   hands the queued block requests to the disk I/O worker (run, record) or drops them
//!   (replay: the completions come from the log), and completes entropy requests at
//!   once with bytes that pass `Mode::sync_input(SyncKind::DeviceRng)` (recorded, and
//!   taken from the log in replay).
//! * Block completions arrive as `AsyncEvent::BlockComplete` at checkpoints
//!   ([`Virtio::block_complete`]).

use crate::host::{DiskClient, DiskJob};
use reprise_devices::virtio::{
    BlkConfig, BlkRequest, BlkRequestKind, BlkStatus, BlockBackend, EntropyBackend, RngRequest,
    VirtioBlk, VirtioBlkState, VirtioRng, VirtioRngState,
};
use reprise_replay::{Mode, ReplayError, SyncKind};
use serde::{Deserialize, Serialize};
use vm_memory::{GuestAddress, GuestMemoryMmap, GuestRegionMmap, MmapRegion};

/// Guest memory as the virtio devices see it.
pub type Mem = GuestMemoryMmap<()>;

/// A backend that only queues what the device asks for.
#[derive(Debug)]
pub struct Outbox<T>(pub Vec<T>);

impl BlockBackend for Outbox<BlkRequest> {
    fn submit(&mut self, request: BlkRequest) {
        self.0.push(request);
    }
}

impl EntropyBackend for Outbox<RngRequest> {
    fn request(&mut self, request: RngRequest) {
        self.0.push(request);
    }
}

type Blk = VirtioBlk<Mem, Outbox<BlkRequest>>;
type Rng = VirtioRng<Mem, Outbox<RngRequest>>;

/// Builds the devices' view of guest RAM: `len` bytes at `ptr`, guest address 0.
///
/// # Safety
/// `ptr .. ptr + len` must be a live read-write mapping (the CPU's guest RAM) that
/// outlives every clone of the returned memory and is never unmapped or moved while
/// they exist.
pub unsafe fn guest_memory(ptr: *mut u8, len: usize) -> Result<Mem, String> {
    // SAFETY: the caller guarantees the mapping is live, read-write and `len` bytes
    // long for as long as the region exists. A raw-pointer region does not own the
    // mapping: dropping it does not unmap the CPU's RAM.
    let region = unsafe {
        MmapRegion::build_raw(
            ptr,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        )
    }
    .map_err(|e| format!("cannot describe guest RAM to the virtio devices: {e}"))?;
    let region = GuestRegionMmap::new(region, GuestAddress(0))
        .ok_or("guest RAM does not fit the guest address space")?;
    GuestMemoryMmap::from_regions(vec![region])
        .map_err(|e| format!("cannot describe guest RAM to the virtio devices: {e}"))
}

/// What virtio devices the machine has.
#[derive(Clone, Debug, Default)]
pub struct VirtioConfig {
    /// virtio-blk devices (drive 0, 1, …) with these configurations (capacity from
    /// the image); at most `layout::MAX_DRIVES`.
    pub blk: Vec<BlkConfig>,
    /// virtio-rng present.
    pub rng: bool,
    /// virtio-net with this configuration (see `super::net`).
    pub net: Option<super::net::NetSetup>,
}

impl VirtioConfig {
    /// Whether any virtio device is present.
    pub fn any(&self) -> bool {
        !self.blk.is_empty() || self.rng || self.net.is_some()
    }
}

/// The devices' guest-visible state, for snapshots.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VirtioState {
    pub blk: Vec<VirtioBlkState>,
    pub rng: Option<VirtioRngState>,
    pub net: Option<reprise_devices::virtio::VirtioNetState>,
}

#[derive(Default)]
pub struct Virtio {
    /// Drive i's device.
    pub blk: Vec<Blk>,
    pub rng: Option<Rng>,
    pub net: Option<super::net::NetDev>,
    /// virtio-net's backend client and capture file.
    pub net_host: super::net::NetHost,
    /// The disk I/O workers by drive (run, record); empty in replay.
    pub disk: Vec<DiskClient>,
    config: VirtioConfig,
    mem: Option<Mem>,
    /// All translated code must be dropped before the CPU runs on (after a restore).
    pub code_dirty: bool,
    /// Physical pages the devices wrote (DMA): their translated code must be dropped
    /// before the CPU runs on.
    pub dirty_pages: Vec<u64>,
}

/// The device number of drive 0 in `BlockComplete` events (drive i is device i).
pub const BLK_DEVICE: u32 = 0;

impl Virtio {
    pub fn new(
        config: VirtioConfig,
        mem: Option<Mem>,
        disk: Vec<DiskClient>,
    ) -> Result<Virtio, String> {
        if config.blk.len() > crate::layout::MAX_DRIVES {
            return Err(format!(
                "{} drives given; the machine has room for {}",
                config.blk.len(),
                crate::layout::MAX_DRIVES
            ));
        }
        let mut v = Virtio {
            config,
            mem,
            disk,
            ..Virtio::default()
        };
        v.build(&VirtioState::default(), false)?;
        v.net_host.pcap = super::net::open_pcap(v.config.net.as_ref())?;
        Ok(v)
    }

    fn build(&mut self, state: &VirtioState, from_state: bool) -> Result<(), String> {
        let Some(mem) = self.mem.clone() else {
            return Ok(());
        };
        let err = |e: reprise_devices::virtio::VirtioError| e.to_string();
        if from_state && state.blk.len() != self.config.blk.len() {
            return Err(format!(
                "the snapshot has {} virtio-blk devices, the machine {}",
                state.blk.len(),
                self.config.blk.len()
            ));
        }
        let mut blk = Vec::with_capacity(self.config.blk.len());
        for (i, c) in self.config.blk.iter().enumerate() {
            let d = match state.blk.get(i).filter(|_| from_state) {
                Some(s) => Blk::from_state(c.clone(), mem.clone(), Outbox(Vec::new()), s),
                None => Blk::new(c.clone(), mem.clone(), Outbox(Vec::new())),
            };
            blk.push(d.map_err(err)?);
        }
        self.blk = blk;
        self.rng = match (self.config.rng, &state.rng, from_state) {
            (true, Some(s), true) => {
                Some(Rng::from_state(mem.clone(), Outbox(Vec::new()), s).map_err(err)?)
            }
            (true, _, _) => Some(Rng::new(mem.clone(), Outbox(Vec::new())).map_err(err)?),
            (false, _, _) => None,
        };
        self.net = super::net::build(
            self.config.net.as_ref(),
            state.net.as_ref(),
            from_state,
            mem,
        )?;
        Ok(())
    }

    pub fn state(&self) -> VirtioState {
        VirtioState {
            blk: self.blk.iter().map(|d| d.state()).collect(),
            rng: self.rng.as_ref().map(|d| d.state()),
            net: self.net.as_ref().map(|d| d.state()),
        }
    }

    /// Restores the devices. Block requests in flight are sent to the disk worker
    /// again when there is one (outside replay); in replay their completions come
    /// from the log.
    pub fn restore(&mut self, state: &VirtioState) -> Result<(), String> {
        self.build(state, true)?;
        for (blk, disk) in self.blk.iter().zip(&self.disk) {
            for r in blk.in_flight_requests() {
                disk.send(job(r));
            }
        }
        self.code_dirty = true;
        Ok(())
    }

    /// A machine reset: the devices are built anew from their configuration. The
    /// block device's request numbers go on from where they were, so a completion of
    /// a request issued before the reset matches nothing and is ignored.
    pub fn reset(&mut self) -> Result<(), String> {
        let next_ids: Vec<u64> = self.blk.iter().map(|d| d.state().next_id).collect();
        self.build(&VirtioState::default(), false)?;
        let mut state = self.state();
        for (s, n) in state.blk.iter_mut().zip(next_ids) {
            s.next_id = n;
        }
        self.build(&state, true)?;
        self.code_dirty = true;
        Ok(())
    }

    pub fn blk_read(&self, drive: usize, off: u64, data: &mut [u8]) {
        if let Some(d) = self.blk.get(drive) {
            d.mmio_read(off, data);
        }
    }

    pub fn rng_read(&self, off: u64, data: &mut [u8]) {
        if let Some(d) = self.rng.as_ref() {
            d.mmio_read(off, data);
        }
    }

    /// A guest write to virtio-blk's window: the device runs, new requests go to the
    /// disk worker (or nowhere, in replay).
    pub fn blk_write(&mut self, drive: usize, off: u64, data: &[u8]) {
        let Some(d) = self.blk.get_mut(drive) else {
            return;
        };
        d.mmio_write(off, data);
        let reqs = std::mem::take(&mut d.backend_mut().0);
        if let Some(disk) = self.disk.get(drive) {
            for r in reqs {
                disk.send(job(r));
            }
        }
        self.note_dirty();
    }

    /// A guest write to virtio-rng's window: requests are answered at once with
    /// entropy that passes the record/replay layer at `icount`.
    pub fn rng_write(
        &mut self,
        off: u64,
        data: &[u8],
        icount: u64,
        mode: &mut dyn Mode,
    ) -> Result<(), ReplayError> {
        let Some(d) = self.rng.as_mut() else {
            return Ok(());
        };
        d.mmio_write(off, data);
        let reqs = std::mem::take(&mut d.backend_mut().0);
        let mut result = Ok(());
        for r in reqs {
            let len = r.len as usize;
            match mode.sync_input(icount, SyncKind::DeviceRng, &mut || host_random(len)) {
                // The id is one the device just issued: completing it cannot fail.
                Ok(bytes) => {
                    let _ = d.complete(r.id, &bytes);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.note_dirty();
        result
    }

    /// A block completion applied at a checkpoint. A completion that matches no
    /// request in flight (dropped by a device reset) is ignored, as the device says.
    pub fn block_complete(&mut self, drive: usize, request: u64, status: u8, data: &[u8]) {
        let Some(d) = self.blk.get_mut(drive) else {
            return;
        };
        let status = match status {
            0 => BlkStatus::Ok,
            2 => BlkStatus::Unsupp,
            _ => BlkStatus::IoErr,
        };
        let _ = d.complete(request, status, data);
        self.note_dirty();
    }

    fn note_dirty(&mut self) {
        for d in self.blk.iter_mut() {
            self.dirty_pages.extend(d.take_dirty_pages());
        }
        if let Some(d) = self.rng.as_mut() {
            self.dirty_pages.extend(d.take_dirty_pages());
        }
        if let Some(d) = self.net.as_mut() {
            self.dirty_pages.extend(d.take_dirty_pages());
        }
    }

    /// Drive i's interrupt line.
    pub fn blk_irq(&self, drive: usize) -> Option<bool> {
        self.blk.get(drive).map(|d| d.irq_level())
    }

    /// The shared pin of drives 1-3: the OR of their lines (`None` without them).
    pub fn blk_shared_irq(&self) -> Option<bool> {
        let rest = self.blk.get(1..).filter(|r| !r.is_empty())?;
        Some(rest.iter().any(|d| d.irq_level()))
    }

    pub fn rng_irq(&self) -> Option<bool> {
        self.rng.as_ref().map(|d| d.irq_level())
    }
}

fn job(r: BlkRequest) -> DiskJob {
    match r.kind {
        BlkRequestKind::Read => DiskJob::Read {
            id: r.id,
            sector: r.sector,
            len: r.len,
        },
        BlkRequestKind::Write => DiskJob::Write {
            id: r.id,
            sector: r.sector,
            data: r.data,
        },
        BlkRequestKind::Flush => DiskJob::Flush { id: r.id },
    }
}

/// `n` bytes from the host's random source (zeros if it fails; recorded either way).
pub fn host_random(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    let _ = getrandom::fill(&mut b);
    b
}
