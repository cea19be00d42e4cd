//! Inspection of a log: [`dump`] (one line per record, human or JSON lines) and [`stats`].

use crate::clock::IcountShift;
use crate::codec::put_varint;
use crate::event::{
    cause_name, checkpoint_name, decode, sync_name, thread_name, AsyncEvent, CpuEvent, Event,
};
use crate::log::{LogError, LogHeader, LogReader};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The event's fields as JSON (without icount and name).
pub fn event_json(ev: &Event) -> Value {
    match ev {
        Event::Instructions => json!({}),
        Event::Cpu(CpuEvent::Interrupt { vector }) => json!({ "vector": vector }),
        Event::Cpu(CpuEvent::Exception { vector, error_code }) => {
            json!({ "vector": vector, "error_code": error_code })
        }
        Event::Async(a) => match a {
            AsyncEvent::SerialInput { port, bytes } => {
                json!({ "port": port, "bytes": hex(bytes), "text": String::from_utf8_lossy(bytes) })
            }
            AsyncEvent::BlockComplete {
                device,
                request,
                status,
                data,
            } => {
                json!({ "device": device, "request": request, "status": status, "len": data.len() })
            }
            AsyncEvent::NetFrame { device, frame } => {
                json!({ "device": device, "len": frame.len() })
            }
            AsyncEvent::AudioBuffer { device, data } => {
                json!({ "device": device, "len": data.len() })
            }
            AsyncEvent::Input {
                device,
                kind,
                code,
                value,
            } => json!({ "device": device, "type": kind, "code": code, "value": value }),
            AsyncEvent::DeferredWork { device, token } => {
                json!({ "device": device, "token": token })
            }
        },
        Event::Sync { data, .. } => match <[u8; 8]>::try_from(data.as_slice()) {
            Ok(a) => json!({ "value": u64::from_le_bytes(a), "bytes": hex(data) }),
            Err(_) => json!({ "bytes": hex(data) }),
        },
        Event::Checkpoint {
            thread,
            checkpoint: _,
            value,
        } => json!({ "thread": thread_name(*thread), "value": value }),
        Event::Digest { regs, ram } => {
            json!({ "regs": format!("{regs:016x}"), "ram": format!("{ram:016x}") })
        }
        Event::SnapshotRef { chunk, offset } => json!({ "chunk": chunk, "offset": offset }),
        Event::Shutdown(c) => json!({ "cause": cause_name(*c) }),
        Event::End { virtual_ns } => json!({ "virtual_ns": virtual_ns }),
        Event::Unknown { kind, payload } => json!({ "kind": kind, "len": payload.len() }),
    }
}

fn event_human(ev: &Event) -> String {
    match ev {
        Event::Async(AsyncEvent::SerialInput { port, bytes }) => {
            format!("port {port} {:?}", String::from_utf8_lossy(bytes))
        }
        Event::Sync { kind, data } => match <[u8; 8]>::try_from(data.as_slice()) {
            Ok(a) => format!("{} = {}", sync_name(*kind), u64::from_le_bytes(a)),
            Err(_) => format!("{} = {}", sync_name(*kind), hex(data)),
        },
        Event::Checkpoint {
            thread,
            checkpoint,
            value,
        } => format!(
            "[{}] {}{}",
            thread_name(*thread),
            checkpoint_name(*checkpoint),
            if *value != 0 {
                format!(" value {value}")
            } else {
                String::new()
            }
        ),
        other => {
            let v = event_json(other);
            match v.as_object() {
                Some(m) if m.is_empty() => String::new(),
                Some(m) => m
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                None => v.to_string(),
            }
        }
    }
}

fn header_json(h: &LogHeader) -> Value {
    let shift = match h.clock.shift {
        IcountShift::Fixed(n) => json!({ "fixed": n }),
        IcountShift::Auto { initial } => json!({ "auto": initial }),
    };
    json!({
        "header": {
            "producer": h.producer,
            "shift": shift,
            "sleep": matches!(h.clock.sleep, crate::clock::SleepPolicy::On),
            "config_bytes": h.config.len(),
            "images": h.images.iter().map(|i| json!({
                "path": i.path, "size": i.size, "sha256": i.id.to_string()
            })).collect::<Vec<_>>(),
        }
    })
}

/// Writes one line per record to `out` (after a header line). A damaged or cut log is
/// dumped up to where it is readable, then a last line gives the error, which is also
/// returned.
pub fn dump<R: Read + Seek>(
    reader: &mut LogReader<R>,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), LogError> {
    let io = |e| LogError::io("cannot write", "the dump", e);
    let h = reader.header().clone();
    if json {
        writeln!(out, "{}", header_json(&h)).map_err(io)?;
    } else {
        writeln!(
            out,
            "# {} · shift {:?} · sleep {:?} · config {} bytes · {} image(s)",
            h.producer,
            h.clock.shift,
            h.clock.sleep,
            h.config.len(),
            h.images.len()
        )
        .map_err(io)?;
        for i in &h.images {
            writeln!(
                out,
                "# image {} ({} bytes, sha256 {})",
                i.path, i.size, i.id
            )
            .map_err(io)?;
        }
    }
    loop {
        let rec = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(e) => {
                if json {
                    writeln!(out, "{}", json!({ "error": e.to_string() })).map_err(io)?;
                } else {
                    writeln!(out, "# {e}").map_err(io)?;
                }
                return Err(e);
            }
        };
        let ev = match decode(rec.kind, &rec.payload) {
            Ok(ev) => ev,
            Err(e) => {
                let text = format!("undecodable record of kind {}: {e}", rec.kind);
                if json {
                    let v = json!({ "icount": rec.icount, "event": "undecodable", "kind": rec.kind, "error": text });
                    writeln!(out, "{v}").map_err(io)?;
                } else {
                    writeln!(out, "{:>14} {:<28} {text}", rec.icount, "undecodable").map_err(io)?;
                }
                continue;
            }
        };
        if json {
            let mut v = event_json(&ev);
            if let Some(m) = v.as_object_mut() {
                m.insert("icount".into(), json!(rec.icount));
                m.insert("event".into(), json!(ev.name()));
                m.insert("chunk".into(), json!(rec.chunk));
            }
            writeln!(out, "{v}").map_err(io)?;
        } else {
            writeln!(
                out,
                "{:>14} {:<28} {}",
                rec.icount,
                ev.name(),
                event_human(&ev)
            )
            .map_err(io)?;
        }
    }
}

/// Count and bytes of one kind of record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindStats {
    pub count: u64,
    /// Uncompressed bytes including the record framing.
    pub bytes: u64,
}

/// Summary of a log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub per_kind: BTreeMap<String, KindStats>,
    pub records: u64,
    /// The last instruction count in the log.
    pub instructions: u64,
    /// Virtual time covered, in ns.
    pub virtual_ns: u64,
    /// True if `virtual_ns` is an estimate from the initial shift (no end record).
    pub virtual_estimated: bool,
    pub chunks: u64,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    pub snapshots: u64,
    pub snapshot_bytes: u64,
    pub file_bytes: u64,
    /// Why reading stopped early, if it did.
    pub problem: Option<String>,
}

impl Stats {
    /// Uncompressed record bytes / stored chunk bytes.
    pub fn compression_ratio(&self) -> f64 {
        if self.compressed_bytes == 0 {
            return 1.0;
        }
        self.uncompressed_bytes as f64 / self.compressed_bytes as f64
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:<30} {:>12} {:>14}", "event", "count", "bytes")?;
        for (k, s) in &self.per_kind {
            writeln!(f, "{k:<30} {:>12} {:>14}", s.count, s.bytes)?;
        }
        writeln!(f, "records: {}", self.records)?;
        writeln!(f, "instructions: {}", self.instructions)?;
        writeln!(
            f,
            "virtual time: {:.6} s{}",
            self.virtual_ns as f64 / 1e9,
            if self.virtual_estimated {
                " (estimated from the initial shift: no end record)"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "chunks: {} · records {} bytes uncompressed, {} stored · compression {:.2}x",
            self.chunks,
            self.uncompressed_bytes,
            self.compressed_bytes,
            self.compression_ratio()
        )?;
        writeln!(
            f,
            "snapshots: {} ({} bytes) · file {} bytes",
            self.snapshots, self.snapshot_bytes, self.file_bytes
        )?;
        if let Some(p) = &self.problem {
            writeln!(f, "note: {p}")?;
        }
        Ok(())
    }
}

fn framing_len(kind: u64, delta: u64, len: usize) -> u64 {
    let mut b = Vec::with_capacity(30);
    put_varint(&mut b, kind);
    put_varint(&mut b, delta);
    put_varint(&mut b, len as u64);
    b.len() as u64
}

/// Reads the whole log and summarises it. A damaged or cut log gives the statistics of
/// its readable part with `problem` set.
pub fn stats<R: Read + Seek>(reader: &mut LogReader<R>) -> Stats {
    let mut s = Stats {
        file_bytes: reader.file_len(),
        ..Default::default()
    };
    let mut end_ns = None;
    let mut prev = 0u64;
    loop {
        match reader.next_record() {
            Ok(Some(rec)) => {
                let name = match decode(rec.kind, &rec.payload) {
                    Ok(ev) => {
                        if let Event::End { virtual_ns } = ev {
                            end_ns = Some(virtual_ns);
                        }
                        ev.name()
                    }
                    Err(_) => format!("undecodable.{}", rec.kind),
                };
                let k = s.per_kind.entry(name).or_default();
                k.count += 1;
                k.bytes += rec.payload.len() as u64
                    + framing_len(rec.kind, rec.icount.saturating_sub(prev), rec.payload.len());
                prev = rec.icount;
                s.records += 1;
                s.instructions = rec.icount;
            }
            Ok(None) => break,
            Err(e) => {
                s.problem = Some(e.to_string());
                break;
            }
        }
    }
    let cs = reader.stats();
    s.chunks = cs.chunks;
    s.compressed_bytes = cs.compressed;
    s.uncompressed_bytes = cs.uncompressed;
    s.snapshots = cs.snapshot_chunks;
    s.snapshot_bytes = cs.snapshot_bytes;
    match end_ns {
        Some(ns) => s.virtual_ns = ns,
        None => {
            let shift = reader.header().clock.initial_shift();
            s.virtual_ns = s.instructions.saturating_mul(1u64 << shift);
            s.virtual_estimated = true;
        }
    }
    s
}
