//! The tap backend: frames go to and come from a host tap interface created or attached
//! with TUNSETIFF on /dev/net/tun (IFF_TAP | IFF_NO_PI: bare Ethernet frames).

use super::{NetClient, STOP_POLL};
use crate::host::HostInput;
use crossbeam_channel::Sender;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

const TUN_PATH: &str = "/dev/net/tun";
/// _IOW('T', 202, int).
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags (padded to 40 bytes).
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

pub fn open(
    ifname: &str,
    device: u32,
    tx: Sender<HostInput>,
    stop: Arc<AtomicBool>,
) -> Result<(NetClient, Vec<JoinHandle<()>>), String> {
    let hint = "tap needs /dev/net/tun and the CAP_NET_ADMIN capability (or a tap interface \
                created for this user with `ip tuntap add NAME mode tap user USER`); use \
                --netdev user or --netdev udp where the host does not permit it";
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(TUN_PATH)
        .map_err(|e| {
            format!("--netdev tap,ifname={ifname}: cannot open {TUN_PATH}: {e}; {hint}")
        })?;
    let mut req = IfReq {
        name: [0; 16],
        flags: IFF_TAP | IFF_NO_PI,
        _pad: [0; 22],
    };
    let name = ifname.as_bytes();
    if name.is_empty() || name.len() >= req.name.len() {
        return Err(format!(
            "--netdev tap,ifname={ifname}: the name must be 1 to 15 bytes"
        ));
    }
    if let Some(dst) = req.name.get_mut(..name.len()) {
        dst.copy_from_slice(name);
    }
    // SAFETY: the descriptor is open and owned by `file`; TUNSETIFF reads and writes a
    // `struct ifreq`, which `req` is (40 bytes, name then flags), alive for the call.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut req as *mut IfReq) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!(
            "--netdev tap,ifname={ifname}: TUNSETIFF failed: {e}; {hint}"
        ));
    }
    let file = Arc::new(file);
    let reader = file.clone();
    let t = std::thread::Builder::new()
        .name("reprise-net-tap".into())
        .spawn(move || read_loop(&reader, device, &tx, &stop))
        .map_err(|e| format!("--netdev tap: cannot start the reader thread: {e}"))?;
    Ok((NetClient::Tap(file), vec![t]))
}

fn read_loop(file: &File, device: u32, tx: &Sender<HostInput>, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65536 + 64];
    let timeout = i32::try_from(STOP_POLL.as_millis()).unwrap_or(50);
    while !stop.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout) };
        if n <= 0 {
            continue;
        }
        if pfd.revents & libc::POLLIN == 0 {
            // An error or hang-up on the device: do not spin on it.
            std::thread::sleep(STOP_POLL);
            continue;
        }
        match (&*file).read(&mut buf) {
            Ok(0) | Err(_) => continue,
            Ok(n) => {
                let frame = buf.get(..n).unwrap_or_default().to_vec();
                if tx.send(HostInput::Net { device, frame }).is_err() {
                    return;
                }
            }
        }
    }
}
