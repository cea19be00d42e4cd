//! The UDP backend (QEMU's `-netdev dgram`): each frame the guest sends is one datagram
//! to `remote`; each datagram that reaches `local` is one frame for the guest.

use super::{NetClient, STOP_POLL};
use crate::host::HostInput;
use crossbeam_channel::Sender;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Largest datagram read (a frame of at most virtio-net's 65550 bytes fits).
const MAX_DATAGRAM: usize = 65536 + 64;

pub fn open(
    local: SocketAddr,
    remote: SocketAddr,
    device: u32,
    tx: Sender<HostInput>,
    stop: Arc<AtomicBool>,
) -> Result<(NetClient, Vec<JoinHandle<()>>), String> {
    let sock = UdpSocket::bind(local).map_err(|e| {
        format!(
            "--netdev udp: cannot bind {local}: {e}{}",
            if e.kind() == std::io::ErrorKind::AddrInUse {
                "; another program (or another reprise) uses this port: choose another local= port"
            } else {
                ""
            }
        )
    })?;
    sock.set_read_timeout(Some(STOP_POLL))
        .map_err(|e| format!("--netdev udp: cannot set a read timeout on {local}: {e}"))?;
    let sock = Arc::new(sock);
    let reader = sock.clone();
    let t = std::thread::Builder::new()
        .name("reprise-net-udp".into())
        .spawn(move || read_loop(&reader, device, &tx, &stop))
        .map_err(|e| format!("--netdev udp: cannot start the reader thread: {e}"))?;
    Ok((NetClient::Udp(sock, remote), vec![t]))
}

fn read_loop(sock: &UdpSocket, device: u32, tx: &Sender<HostInput>, stop: &AtomicBool) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !stop.load(Ordering::SeqCst) {
        // Errors — timeouts (to look at the stop flag), ICMP port-unreachable reports
        // for earlier sends, interrupted calls — just mean: keep reading.
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            let frame = buf.get(..n).unwrap_or_default().to_vec();
            if tx.send(HostInput::Net { device, frame }).is_err() {
                return;
            }
        }
    }
}
