//! Event payloads, byte by byte. `varint` is unsigned LEB128, `zigzag` a signed varint,
//! `bytes` a varint length then the bytes, `u8` one byte, `u64le` eight bytes LE.
//!
//! | kind | event | payload |
//! |---|---|---|
//! | 1 | instructions | (empty) |
//! | 2 | interrupt | u8 vector |
//! | 3 | exception | u8 vector, u8 has_error (0/1), varint error code if has_error |
//! | 10 | async serial input | u8 port, bytes data |
//! | 11 | async block completion | varint device, varint request, u8 status, bytes data |
//! | 12 | async network frame | varint device, bytes frame |
//! | 13 | async audio buffer | varint device, bytes data |
//! | 14 | async input event | varint device, varint kind, varint code, zigzag value |
//! | 15 | async deferred work | varint device, varint token |
//! | 20–25 | sync input (host clock, real-time clock, RDRAND, RDSEED, device RNG, char write) | the raw bytes (the whole payload) |
//! | 26 | sync: audio frames accepted by the output | u32le frame count |
//! | 27 | sync: audio input captured | interleaved i16le samples (the whole payload) |
//! | 30 | checkpoint | u8 thread (0 vCPU, 1 io), u8 checkpoint (see below), varint value |
//! | 40 | digest | u64le registers digest, u64le RAM digest |
//! | 41 | snapshot reference | varint chunk number, varint byte offset of the chunk |
//! | 50 | shutdown | u8 cause |
//! | 51 | end | varint virtual clock in ns |
//!
//! Checkpoint numbers: 0 clock warp start, 1 clock warp account, 2 virtual timers, 3 host
//! clock timers, 4 reset requested, 5 suspend requested, 6 init, 7 reset, 8 async poll.
//! Shutdown causes: 0 guest shutdown, 1 guest reset, 2 guest crash, 3 host quit,
//! 4 instruction limit, 5 error; other numbers are kept as `Other(n)`.

use super::kind as k;
use super::{AsyncEvent, Checkpoint, CpuEvent, Event, ShutdownCause, SyncKind, Thread};
use crate::codec::{put_bytes, put_varint, put_zigzag, Dec, DecodeError};

fn sync_kind_number(s: SyncKind) -> u64 {
    match s {
        SyncKind::HostClock => k::SYNC_HOST_CLOCK,
        SyncKind::RealTimeClock => k::SYNC_REALTIME_CLOCK,
        SyncKind::RdRand => k::SYNC_RDRAND,
        SyncKind::RdSeed => k::SYNC_RDSEED,
        SyncKind::DeviceRng => k::SYNC_DEVICE_RNG,
        SyncKind::CharWrite => k::SYNC_CHAR_WRITE,
        SyncKind::AudioPlayed => k::SYNC_AUDIO_PLAYED,
        SyncKind::AudioCaptured => k::SYNC_AUDIO_CAPTURED,
    }
}

fn checkpoint_number(c: Checkpoint) -> u8 {
    match c {
        Checkpoint::ClockWarpStart => 0,
        Checkpoint::ClockWarpAccount => 1,
        Checkpoint::VirtualTimers => 2,
        Checkpoint::HostClockTimers => 3,
        Checkpoint::ResetRequested => 4,
        Checkpoint::SuspendRequested => 5,
        Checkpoint::Init => 6,
        Checkpoint::Reset => 7,
        Checkpoint::AsyncPoll => 8,
    }
}

fn cause_number(c: ShutdownCause) -> u8 {
    match c {
        ShutdownCause::GuestShutdown => 0,
        ShutdownCause::GuestReset => 1,
        ShutdownCause::GuestCrash => 2,
        ShutdownCause::HostQuit => 3,
        ShutdownCause::InstructionLimit => 4,
        ShutdownCause::Error => 5,
        ShutdownCause::Other(n) => n,
    }
}

/// Encodes an event as (record kind, payload).
pub fn encode(ev: &Event) -> (u64, Vec<u8>) {
    let mut p = Vec::new();
    let kind = match ev {
        Event::Instructions => k::INSTRUCTIONS,
        Event::Cpu(CpuEvent::Interrupt { vector }) => {
            p.push(*vector);
            k::INTERRUPT
        }
        Event::Cpu(CpuEvent::Exception { vector, error_code }) => {
            p.push(*vector);
            match error_code {
                Some(e) => {
                    p.push(1);
                    put_varint(&mut p, u64::from(*e));
                }
                None => p.push(0),
            }
            k::EXCEPTION
        }
        Event::Async(a) => encode_async(a, &mut p),
        Event::Sync { kind, data } => {
            p.extend_from_slice(data);
            sync_kind_number(*kind)
        }
        Event::Checkpoint {
            thread,
            checkpoint,
            value,
        } => {
            p.push(match thread {
                Thread::Vcpu => 0,
                Thread::Io => 1,
            });
            p.push(checkpoint_number(*checkpoint));
            put_varint(&mut p, *value);
            k::CHECKPOINT
        }
        Event::Digest { regs, ram } => {
            p.extend_from_slice(&regs.to_le_bytes());
            p.extend_from_slice(&ram.to_le_bytes());
            k::DIGEST
        }
        Event::SnapshotRef { chunk, offset } => {
            put_varint(&mut p, *chunk);
            put_varint(&mut p, *offset);
            k::SNAPSHOT_REF
        }
        Event::Shutdown(c) => {
            p.push(cause_number(*c));
            k::SHUTDOWN
        }
        Event::End { virtual_ns } => {
            put_varint(&mut p, *virtual_ns);
            k::END
        }
        Event::Unknown { kind, payload } => {
            p.extend_from_slice(payload);
            *kind
        }
    };
    (kind, p)
}

fn encode_async(a: &AsyncEvent, p: &mut Vec<u8>) -> u64 {
    match a {
        AsyncEvent::SerialInput { port, bytes } => {
            p.push(*port);
            put_bytes(p, bytes);
            k::ASYNC_SERIAL_INPUT
        }
        AsyncEvent::BlockComplete {
            device,
            request,
            status,
            data,
        } => {
            put_varint(p, u64::from(*device));
            put_varint(p, *request);
            p.push(*status);
            put_bytes(p, data);
            k::ASYNC_BLOCK_COMPLETE
        }
        AsyncEvent::NetFrame { device, frame } => {
            put_varint(p, u64::from(*device));
            put_bytes(p, frame);
            k::ASYNC_NET_FRAME
        }
        AsyncEvent::AudioBuffer { device, data } => {
            put_varint(p, u64::from(*device));
            put_bytes(p, data);
            k::ASYNC_AUDIO_BUFFER
        }
        AsyncEvent::Input {
            device,
            kind,
            code,
            value,
        } => {
            put_varint(p, u64::from(*device));
            put_varint(p, u64::from(*kind));
            put_varint(p, u64::from(*code));
            put_zigzag(p, i64::from(*value));
            k::ASYNC_INPUT
        }
        AsyncEvent::DeferredWork { device, token } => {
            put_varint(p, u64::from(*device));
            put_varint(p, *token);
            k::ASYNC_DEFERRED_WORK
        }
    }
}

fn u32_field(d: &mut Dec<'_>) -> Result<u32, DecodeError> {
    Ok(d.varint_max(u64::from(u32::MAX))? as u32)
}

fn u16_field(d: &mut Dec<'_>) -> Result<u16, DecodeError> {
    Ok(d.varint_max(u64::from(u16::MAX))? as u16)
}

/// Decodes a record's payload. Unknown kinds become [`Event::Unknown`]; a known kind
/// whose payload does not parse is an error.
pub fn decode(kind: u64, payload: &[u8]) -> Result<Event, DecodeError> {
    let mut d = Dec::new(payload, "event payload");
    let ev = match kind {
        k::INSTRUCTIONS => Event::Instructions,
        k::INTERRUPT => Event::Cpu(CpuEvent::Interrupt { vector: d.u8()? }),
        k::EXCEPTION => {
            let vector = d.u8()?;
            let error_code = match d.u8()? {
                0 => None,
                1 => Some(u32_field(&mut d)?),
                n => {
                    return Err(DecodeError::OutOfRange {
                        what: "exception has_error flag",
                        value: u64::from(n),
                    })
                }
            };
            Event::Cpu(CpuEvent::Exception { vector, error_code })
        }
        k::ASYNC_SERIAL_INPUT => Event::Async(AsyncEvent::SerialInput {
            port: d.u8()?,
            bytes: d.bytes()?.to_vec(),
        }),
        k::ASYNC_BLOCK_COMPLETE => Event::Async(AsyncEvent::BlockComplete {
            device: u32_field(&mut d)?,
            request: d.varint()?,
            status: d.u8()?,
            data: d.bytes()?.to_vec(),
        }),
        k::ASYNC_NET_FRAME => Event::Async(AsyncEvent::NetFrame {
            device: u32_field(&mut d)?,
            frame: d.bytes()?.to_vec(),
        }),
        k::ASYNC_AUDIO_BUFFER => Event::Async(AsyncEvent::AudioBuffer {
            device: u32_field(&mut d)?,
            data: d.bytes()?.to_vec(),
        }),
        k::ASYNC_INPUT => {
            let device = u32_field(&mut d)?;
            let kind = u16_field(&mut d)?;
            let code = u16_field(&mut d)?;
            let v = d.zigzag()?;
            let value = i32::try_from(v).map_err(|_| DecodeError::OutOfRange {
                what: "input event value",
                value: v as u64,
            })?;
            Event::Async(AsyncEvent::Input {
                device,
                kind,
                code,
                value,
            })
        }
        k::ASYNC_DEFERRED_WORK => Event::Async(AsyncEvent::DeferredWork {
            device: u32_field(&mut d)?,
            token: d.varint()?,
        }),
        k::SYNC_HOST_CLOCK..=k::SYNC_AUDIO_CAPTURED => {
            let kind = SyncKind::ALL
                .into_iter()
                .find(|s| sync_kind_number(*s) == kind)
                .unwrap_or(SyncKind::HostClock);
            return Ok(Event::Sync {
                kind,
                data: payload.to_vec(),
            });
        }
        k::CHECKPOINT => {
            let thread = match d.u8()? {
                0 => Thread::Vcpu,
                1 => Thread::Io,
                n => {
                    return Err(DecodeError::OutOfRange {
                        what: "checkpoint thread",
                        value: u64::from(n),
                    })
                }
            };
            let n = d.u8()?;
            let checkpoint = Checkpoint::ALL
                .into_iter()
                .find(|c| checkpoint_number(*c) == n)
                .ok_or(DecodeError::OutOfRange {
                    what: "checkpoint number",
                    value: u64::from(n),
                })?;
            Event::Checkpoint {
                thread,
                checkpoint,
                value: d.varint()?,
            }
        }
        k::DIGEST => Event::Digest {
            regs: d.u64_le()?,
            ram: d.u64_le()?,
        },
        k::SNAPSHOT_REF => Event::SnapshotRef {
            chunk: d.varint()?,
            offset: d.varint()?,
        },
        k::SHUTDOWN => {
            let n = d.u8()?;
            let cause = [
                ShutdownCause::GuestShutdown,
                ShutdownCause::GuestReset,
                ShutdownCause::GuestCrash,
                ShutdownCause::HostQuit,
                ShutdownCause::InstructionLimit,
                ShutdownCause::Error,
            ]
            .into_iter()
            .find(|c| cause_number(*c) == n)
            .unwrap_or(ShutdownCause::Other(n));
            Event::Shutdown(cause)
        }
        k::END => Event::End {
            virtual_ns: d.varint()?,
        },
        _ => {
            return Ok(Event::Unknown {
                kind,
                payload: payload.to_vec(),
            })
        }
    };
    d.finish()?;
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of every event kind, with values at awkward edges.
    pub fn every_event() -> Vec<Event> {
        let mut v = vec![
            Event::Instructions,
            Event::Cpu(CpuEvent::Interrupt { vector: 0x20 }),
            Event::Cpu(CpuEvent::Exception {
                vector: 14,
                error_code: Some(u32::MAX),
            }),
            Event::Cpu(CpuEvent::Exception {
                vector: 6,
                error_code: None,
            }),
            Event::Async(AsyncEvent::SerialInput {
                port: 0,
                bytes: b"ls\n".to_vec(),
            }),
            Event::Async(AsyncEvent::BlockComplete {
                device: 1,
                request: u64::MAX,
                status: 0,
                data: vec![0xaa; 600],
            }),
            Event::Async(AsyncEvent::NetFrame {
                device: u32::MAX,
                frame: vec![1, 2, 3],
            }),
            Event::Async(AsyncEvent::AudioBuffer {
                device: 0,
                data: vec![],
            }),
            Event::Async(AsyncEvent::Input {
                device: 2,
                kind: 3,
                code: 0xffff,
                value: i32::MIN,
            }),
            Event::Async(AsyncEvent::DeferredWork {
                device: 7,
                token: 99,
            }),
            Event::Digest {
                regs: u64::MAX,
                ram: 1,
            },
            Event::SnapshotRef {
                chunk: 3,
                offset: 1 << 40,
            },
            Event::End {
                virtual_ns: 123_456_789,
            },
            Event::Unknown {
                kind: 1000,
                payload: vec![9, 9],
            },
            Event::Shutdown(ShutdownCause::Other(200)),
        ];
        for s in SyncKind::ALL {
            v.push(Event::Sync {
                kind: s,
                data: 0x1122_3344_5566_7788u64.to_le_bytes().to_vec(),
            });
        }
        for c in Checkpoint::ALL {
            for t in [Thread::Vcpu, Thread::Io] {
                v.push(Event::Checkpoint {
                    thread: t,
                    checkpoint: c,
                    value: 1 << 63,
                });
            }
        }
        for c in [
            ShutdownCause::GuestShutdown,
            ShutdownCause::GuestReset,
            ShutdownCause::GuestCrash,
            ShutdownCause::HostQuit,
            ShutdownCause::InstructionLimit,
            ShutdownCause::Error,
        ] {
            v.push(Event::Shutdown(c));
        }
        v
    }

    #[test]
    fn every_event_round_trips() {
        for ev in every_event() {
            let (kind, p) = encode(&ev);
            assert_eq!(decode(kind, &p).unwrap(), ev, "kind {kind}");
        }
    }

    #[test]
    fn truncated_payloads_are_errors_not_panics() {
        for ev in every_event() {
            let (kind, p) = encode(&ev);
            for cut in 0..p.len() {
                // Sync and unknown payloads are raw bytes: any length is valid.
                if matches!(ev, Event::Sync { .. } | Event::Unknown { .. }) {
                    continue;
                }
                assert!(decode(kind, &p[..cut]).is_err(), "{ev:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let (kind, mut p) = encode(&Event::Cpu(CpuEvent::Interrupt { vector: 1 }));
        p.push(0);
        assert!(matches!(
            decode(kind, &p),
            Err(DecodeError::Trailing { .. })
        ));
    }
}
