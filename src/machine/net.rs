//! virtio-net on the board: the device, where its transmitted frames go, and the
//! `--pcap` capture.
//!
//! * Transmit (a guest write to the device's window): the frames the device hands out
//!   go to the backend's [`NetClient`] in run and record; in replay there is no client
//!   (the backend is never opened) and they go nowhere. Either way they are captured.
//! * Receive: frames from the backend reach the vCPU thread as `HostInput::Net`, pass
//!   the record/replay layer as `AsyncEvent::NetFrame` at a checkpoint (recorded with
//!   the instruction count; taken from the log in replay) and are delivered with
//!   [`Virtio::net_receive`].
//! * Capture timestamps are the virtual clock, so every replay writes the same file.

use super::virtio::{Mem, Outbox, Virtio};
use crate::host::net::pcap::PcapWriter;
use crate::host::NetClient;
use reprise_devices::virtio::{NetBackend, NetConfig, VirtioNet, VirtioNetState};
use std::path::PathBuf;

/// The device number of virtio-net in `NetFrame` events.
pub const NET_DEVICE: u32 = 0;

pub type NetDev = VirtioNet<Mem, Outbox<Vec<u8>>>;

impl NetBackend for Outbox<Vec<u8>> {
    fn transmit(&mut self, frame: Vec<u8>) {
        self.0.push(frame);
    }
}

/// virtio-net as the machine is configured with it.
#[derive(Clone, Debug, Default)]
pub struct NetSetup {
    pub device: NetConfig,
    /// `--pcap FILE`.
    pub pcap: Option<PathBuf>,
}

/// The host side of virtio-net.
#[derive(Default)]
pub struct NetHost {
    /// Where transmitted frames go (`None` in replay).
    pub client: Option<NetClient>,
    pub pcap: Option<PcapWriter>,
}

/// Builds the device (restoring `state` when `from_state`).
pub(super) fn build(
    setup: Option<&NetSetup>,
    state: Option<&VirtioNetState>,
    from_state: bool,
    mem: Mem,
) -> Result<Option<NetDev>, String> {
    let Some(setup) = setup else {
        return Ok(None);
    };
    let dev = match (state, from_state) {
        (Some(s), true) => NetDev::from_state(&setup.device, mem, Outbox(Vec::new()), s),
        _ => NetDev::new(&setup.device, mem, Outbox(Vec::new())),
    };
    dev.map(Some).map_err(|e| e.to_string())
}

/// Opens the capture file, if one was asked for (before the guest starts).
pub(super) fn open_pcap(setup: Option<&NetSetup>) -> Result<Option<PcapWriter>, String> {
    match setup.and_then(|s| s.pcap.as_ref()) {
        Some(p) => PcapWriter::create(p).map(Some),
        None => Ok(None),
    }
}

impl Virtio {
    pub fn net_read(&self, off: u64, data: &mut [u8]) {
        if let Some(d) = self.net.as_ref() {
            d.mmio_read(off, data);
        }
    }

    /// A guest write to virtio-net's window at virtual time `now_ns`: frames the guest
    /// transmitted are captured and go to the backend (none in replay).
    pub fn net_write(&mut self, off: u64, data: &[u8], now_ns: u64) {
        let Some(d) = self.net.as_mut() else {
            return;
        };
        d.mmio_write(off, data);
        let frames = std::mem::take(&mut d.backend_mut().0);
        self.dirty_pages.extend(d.take_dirty_pages());
        for f in frames {
            if let Some(p) = self.net_host.pcap.as_mut() {
                p.frame(now_ns, &f);
            }
            if let Some(c) = self.net_host.client.as_ref() {
                c.send(f);
            }
        }
    }

    /// A frame from outside, applied at a checkpoint at virtual time `now_ns`.
    pub fn net_receive(&mut self, frame: Vec<u8>, now_ns: u64) {
        let Some(d) = self.net.as_mut() else {
            return;
        };
        if let Some(p) = self.net_host.pcap.as_mut() {
            p.frame(now_ns, &frame);
        }
        d.receive(frame);
        self.dirty_pages.extend(d.take_dirty_pages());
    }

    pub fn net_irq(&self) -> Option<bool> {
        self.net.as_ref().map(|d| d.irq_level())
    }
}

/// The virtio-net setup for `--netdev` / `--pcap` (`None` without a netdev).
pub fn setup(
    netdev: Option<&crate::host::NetdevSpec>,
    pcap: Option<&std::path::Path>,
) -> Result<Option<NetSetup>, String> {
    match (netdev, pcap) {
        (None, Some(p)) => Err(format!(
            "--pcap {} captures virtio-net's traffic: it needs --netdev",
            p.display()
        )),
        (None, None) => Ok(None),
        (Some(_), p) => Ok(Some(NetSetup {
            device: NetConfig::default(),
            pcap: p.map(|p| p.to_path_buf()),
        })),
    }
}
