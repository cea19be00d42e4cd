//! Host network backends for virtio-net: where the guest's frames go and where the
//! frames it receives come from.
//!
//! * `udp` ([`udp`]): one Ethernet frame per UDP datagram between a local and a remote
//!   address, as QEMU's `-netdev dgram`;
//! * `user` ([`slirp`]): user-mode networking through the distribution's libslirp,
//!   loaded at run time (the guest reaches the host's loopback services at 10.0.2.2);
//! * `tap` ([`tap`]): a host tap interface through /dev/net/tun.
//!
//! Every backend is opened before the guest starts (a port in use, a missing library
//! or a refused tap is an error then). Frames from outside arrive on a reader thread
//! as [`HostInput::Net`] over the iothread's channel; the vCPU thread applies them at
//! checkpoints, where the recorder logs them. In replay no backend is opened at all.

pub mod pcap;
pub mod slirp;
pub mod tap;
pub mod udp;

use super::HostInput;
use crossbeam_channel::Sender;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A `--netdev` option.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetdevSpec {
    /// `udp,local=ADDR:PORT,remote=ADDR:PORT`.
    Udp {
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// `user[,hostfwd=tcp::HOSTPORT-:GUESTPORT]...`.
    User { hostfwd: Vec<HostFwd> },
    /// `tap,ifname=NAME`.
    Tap { ifname: String },
}

/// A host port forwarded into the guest (user networking).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFwd {
    pub udp: bool,
    pub host_port: u16,
    pub guest_port: u16,
}

const NETDEV_HELP: &str = "expected udp,local=127.0.0.1:PORT,remote=127.0.0.1:PORT or \
                           user[,hostfwd=tcp::HOSTPORT-:GUESTPORT] or tap,ifname=NAME";

impl std::str::FromStr for NetdevSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(',');
        let kind = parts.next().unwrap_or_default();
        let mut kv = Vec::new();
        for p in parts {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| format!("--netdev {s}: `{p}` is not KEY=VALUE; {NETDEV_HELP}"))?;
            kv.push((k, v));
        }
        let unknown = |k: &str| format!("--netdev {s}: unknown option `{k}`; {NETDEV_HELP}");
        match kind {
            "udp" | "dgram" => {
                let (mut local, mut remote) = (None, None);
                for (k, v) in kv {
                    let addr = v
                        .parse::<SocketAddr>()
                        .map_err(|e| format!("--netdev {s}: {k}={v} is not ADDRESS:PORT ({e})"))?;
                    match k {
                        "local" => local = Some(addr),
                        "remote" => remote = Some(addr),
                        _ => return Err(unknown(k)),
                    }
                }
                match (local, remote) {
                    (Some(local), Some(remote)) => Ok(NetdevSpec::Udp { local, remote }),
                    _ => Err(format!(
                        "--netdev {s}: udp needs both local= and remote=; {NETDEV_HELP}"
                    )),
                }
            }
            "user" => {
                let mut hostfwd = Vec::new();
                for (k, v) in kv {
                    match k {
                        "hostfwd" => hostfwd.push(parse_hostfwd(v).map_err(|e| {
                            format!("--netdev {s}: hostfwd={v}: {e}; expected hostfwd=tcp::HOSTPORT-:GUESTPORT")
                        })?),
                        _ => return Err(unknown(k)),
                    }
                }
                Ok(NetdevSpec::User { hostfwd })
            }
            "tap" => {
                let mut ifname = None;
                for (k, v) in kv {
                    match k {
                        "ifname" => ifname = Some(v.to_string()),
                        _ => return Err(unknown(k)),
                    }
                }
                match ifname {
                    Some(n) if !n.is_empty() && n.len() < 16 => Ok(NetdevSpec::Tap { ifname: n }),
                    _ => Err(format!(
                        "--netdev {s}: tap needs ifname=NAME (1 to 15 characters)"
                    )),
                }
            }
            _ => Err(format!(
                "--netdev {s}: unknown backend `{kind}`; {NETDEV_HELP}"
            )),
        }
    }
}

/// `tcp::HOSTPORT-:GUESTPORT` (or udp, or with addresses left empty as QEMU allows).
fn parse_hostfwd(v: &str) -> Result<HostFwd, String> {
    let (proto, rest) = v.split_once(':').ok_or("no protocol")?;
    let udp = match proto {
        "tcp" | "" => false,
        "udp" => true,
        _ => return Err(format!("unknown protocol `{proto}`")),
    };
    let (host, guest) = rest
        .split_once('-')
        .ok_or("no `-` between host and guest")?;
    let port = |x: &str| -> Result<u16, String> {
        let p = x.rsplit(':').next().unwrap_or_default();
        p.parse::<u16>()
            .ok()
            .filter(|&n| n != 0)
            .ok_or_else(|| format!("`{p}` is not a port"))
    };
    if !host
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .ends_with(':')
    {
        return Err("host side must be :PORT (any host address is bound to 127.0.0.1)".into());
    }
    Ok(HostFwd {
        udp,
        host_port: port(host)?,
        guest_port: port(guest)?,
    })
}

/// Where the vCPU thread sends the guest's frames.
#[derive(Clone)]
pub enum NetClient {
    /// Straight onto a UDP socket (one datagram per frame).
    Udp(Arc<std::net::UdpSocket>, SocketAddr),
    /// To a backend thread (slirp).
    Channel(Sender<Vec<u8>>),
    /// Straight into a tap device.
    Tap(Arc<std::fs::File>),
}

impl NetClient {
    /// Sends one frame. Errors (a full socket buffer, an unreachable peer) lose the
    /// frame, as a real wire would.
    pub fn send(&self, frame: Vec<u8>) {
        match self {
            NetClient::Udp(sock, to) => {
                let _ = sock.send_to(&frame, to);
            }
            NetClient::Channel(tx) => {
                let _ = tx.send(frame);
            }
            NetClient::Tap(f) => {
                use std::io::Write;
                let _ = (&**f).write(&frame);
            }
        }
    }
}

/// A backend's threads: stopped and joined when dropped, so its socket or device is
/// closed when the machine goes away.
pub struct NetHandle {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for NetHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// How often reader threads look at their stop flag.
pub(crate) const STOP_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Opens the backend for virtio-net device `device`; frames it receives go to `tx`.
pub fn open(
    spec: &NetdevSpec,
    device: u32,
    tx: Sender<HostInput>,
) -> Result<(NetClient, NetHandle), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let (client, threads) = match spec {
        NetdevSpec::Udp { local, remote } => udp::open(*local, *remote, device, tx, stop.clone())?,
        NetdevSpec::User { hostfwd } => slirp::open(hostfwd, device, tx, stop.clone())?,
        NetdevSpec::Tap { ifname } => tap::open(ifname, device, tx, stop.clone())?,
    };
    Ok((client, NetHandle { stop, threads }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netdev_options_parse() {
        let u: NetdevSpec = "udp,local=127.0.0.1:5000,remote=127.0.0.1:5001"
            .parse()
            .unwrap();
        assert_eq!(
            u,
            NetdevSpec::Udp {
                local: "127.0.0.1:5000".parse().unwrap(),
                remote: "127.0.0.1:5001".parse().unwrap()
            }
        );
        let s: NetdevSpec = "user,hostfwd=tcp::8080-:80".parse().unwrap();
        assert_eq!(
            s,
            NetdevSpec::User {
                hostfwd: vec![HostFwd {
                    udp: false,
                    host_port: 8080,
                    guest_port: 80
                }]
            }
        );
        assert_eq!(
            "user".parse::<NetdevSpec>(),
            Ok(NetdevSpec::User { hostfwd: vec![] })
        );
        assert_eq!(
            "tap,ifname=tap0".parse::<NetdevSpec>(),
            Ok(NetdevSpec::Tap {
                ifname: "tap0".into()
            })
        );
        for bad in [
            "udp,local=127.0.0.1:5000",
            "udp,local=x,remote=127.0.0.1:1",
            "user,hostfwd=tcp::0-:80",
            "user,hostfwd=sctp::1-:2",
            "tap",
            "tap,ifname=waytoolonginterfacename",
            "bridge,br=br0",
            "user,foo=1",
        ] {
            let e = bad.parse::<NetdevSpec>().unwrap_err();
            assert!(e.contains("--netdev"), "{bad}: {e}");
        }
    }
}
