//! Serial backends: where COM1's bytes come from and go to.
//!
//! `--serial stdio` (the default) writes the guest's output to stdout and reads stdin
//! (as QEMU's `-serial stdio`); `null` discards output and never delivers
//! input; `file:PATH` appends output to a file; `unix:PATH` and `tcp:HOST:PORT` connect
//! to a listening peer and carry both directions over the socket (as QEMU's
//! `-serial unix:PATH` / `-serial tcp:HOST:PORT` without `server`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

/// A serial backend as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SerialBackend {
    Stdio,
    Null,
    File(PathBuf),
    Unix(PathBuf),
    Tcp(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SerialBackendError {
    #[error(
        "unknown serial backend `{0}`: use stdio, null, file:PATH, unix:PATH or tcp:HOST:PORT"
    )]
    Unknown(String),
    #[error("cannot open serial output file {path}: {err}")]
    File { path: PathBuf, err: std::io::Error },
    #[error(
        "cannot connect the serial port to unix socket {path}: {err} (is a peer listening there?)"
    )]
    Unix { path: PathBuf, err: std::io::Error },
    #[error("cannot connect the serial port to tcp:{addr}: {err} (is a peer listening there?)")]
    Tcp { addr: String, err: std::io::Error },
}

impl std::str::FromStr for SerialBackend {
    type Err = SerialBackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "stdio" => SerialBackend::Stdio,
            "null" => SerialBackend::Null,
            _ => match s.split_once(':') {
                Some(("file", p)) if !p.is_empty() => SerialBackend::File(p.into()),
                Some(("unix", p)) if !p.is_empty() => SerialBackend::Unix(p.into()),
                Some(("tcp", a)) if a.contains(':') => SerialBackend::Tcp(a.to_string()),
                _ => return Err(SerialBackendError::Unknown(s.to_string())),
            },
        })
    }
}

impl std::fmt::Display for SerialBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SerialBackend::Stdio => write!(f, "stdio"),
            SerialBackend::Null => write!(f, "null"),
            SerialBackend::File(p) => write!(f, "file:{}", p.display()),
            SerialBackend::Unix(p) => write!(f, "unix:{}", p.display()),
            SerialBackend::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// An opened backend: the writer for guest output and, if the backend can deliver
/// input, a reader for the iothread.
pub struct OpenSerial {
    pub output: Box<dyn Write + Send>,
    pub input: Option<Box<dyn Read + Send>>,
}

/// A sink that accepts and drops everything.
struct Discard;

impl Write for Discard {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SerialBackend {
    /// Opens the backend. `stdio_output` is the writer used for `stdio` (the console);
    /// `read_stdin` says whether `stdio` also delivers the host's stdin to the guest.
    pub fn open(
        &self,
        stdio_output: Box<dyn Write + Send>,
        read_stdin: bool,
    ) -> Result<OpenSerial, SerialBackendError> {
        Ok(match self {
            SerialBackend::Stdio => OpenSerial {
                output: stdio_output,
                input: read_stdin.then(|| Box::new(std::io::stdin()) as Box<dyn Read + Send>),
            },
            SerialBackend::Null => OpenSerial {
                output: Box::new(Discard),
                input: None,
            },
            SerialBackend::File(path) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|err| SerialBackendError::File {
                        path: path.clone(),
                        err,
                    })?;
                OpenSerial {
                    output: Box::new(f),
                    input: None,
                }
            }
            SerialBackend::Unix(path) => {
                let s = std::os::unix::net::UnixStream::connect(path).map_err(|err| {
                    SerialBackendError::Unix {
                        path: path.clone(),
                        err,
                    }
                })?;
                let r = s.try_clone().map_err(|err| SerialBackendError::Unix {
                    path: path.clone(),
                    err,
                })?;
                OpenSerial {
                    output: Box::new(s),
                    input: Some(Box::new(r)),
                }
            }
            SerialBackend::Tcp(addr) => {
                let s =
                    TcpStream::connect(addr.as_str()).map_err(|err| SerialBackendError::Tcp {
                        addr: addr.clone(),
                        err,
                    })?;
                let _ = s.set_nodelay(true);
                let r = s.try_clone().map_err(|err| SerialBackendError::Tcp {
                    addr: addr.clone(),
                    err,
                })?;
                OpenSerial {
                    output: Box::new(s),
                    input: Some(Box::new(r)),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_backend_and_prints_it_back() {
        for s in [
            "stdio",
            "null",
            "file:/tmp/x",
            "unix:/tmp/s",
            "tcp:127.0.0.1:4555",
        ] {
            let b: SerialBackend = s.parse().unwrap();
            assert_eq!(b.to_string(), s);
        }
    }

    #[test]
    fn bad_backends_say_what_is_accepted() {
        for s in ["", "pty", "file:", "tcp:nohost", "unix:"] {
            let e = s.parse::<SerialBackend>().unwrap_err().to_string();
            assert!(e.contains("tcp:HOST:PORT"), "{s}: {e}");
        }
    }

    #[test]
    fn tcp_backend_carries_both_directions() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let b: SerialBackend = format!("tcp:{addr}").parse().unwrap();
        let mut open = b.open(Box::new(Discard), false).unwrap();
        let (mut peer, _) = l.accept().unwrap();
        open.output.write_all(b"out").unwrap();
        let mut buf = [0u8; 3];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"out");
        peer.write_all(b"in").unwrap();
        let mut got = [0u8; 2];
        open.input.as_mut().unwrap().read_exact(&mut got).unwrap();
        assert_eq!(&got, b"in");
    }

    #[test]
    fn unreachable_peer_is_a_clear_error() {
        let e = "unix:/nonexistent/reprise.sock"
            .parse::<SerialBackend>()
            .unwrap()
            .open(Box::new(Discard), false)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("/nonexistent/reprise.sock") && e.contains("listening"),
            "{e}"
        );
    }
}
