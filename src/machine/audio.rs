//! The machine's sound card: an AC'97 function on the PCI bus, and the
//! [`FunctionHost`] its outside-world answers go through.
//!
//! Every answer passes [`Mode::sync_input`] at the instruction count of the access or
//! timer step that asked: how many frames the output accepted
//! ([`SyncKind::AudioPlayed`], u32 LE) and what the input captured
//! ([`SyncKind::AudioCaptured`], i16 LE samples). Run and record ask the opened
//! [`AudioBackend`] (record logs the answers); replay takes them from the log and never
//! opens or consults a backend, so the guest sees the same timing and the same input
//! with or without one. A replay may re-render the output into a WAV file
//! ([`AudioSide::render`]): the frames the log says were accepted are written there.

use crate::host::audio::WavOut;
use crate::host::AudioBackend;
use reprise_devices::pci::FunctionHost;
use reprise_replay::{Mode, ReplayError, SyncKind};

/// The PCI slot of the AC'97 function on bus 0.
pub const AC97_SLOT: u8 = 5;

/// The host side of the machine's audio.
#[derive(Default)]
pub struct AudioSide {
    /// The opened backends (run, record); `None`: output accepted and dropped, input
    /// silent (and in replay: not used at all).
    pub backend: Option<AudioBackend>,
    /// Replay: the output re-rendered from the log's answers.
    pub render: Option<WavOut>,
}

impl AudioSide {
    /// Patches the output files' headers (at every machine stop that returns).
    pub fn flush(&mut self) {
        if let Some(b) = self.backend.as_mut() {
            b.flush();
        }
        if let Some(r) = self.render.as_mut() {
            r.flush();
        }
    }
}

/// A [`FunctionHost`] for one bus access or timer step at `icount`. The first
/// record/replay error is kept in `error` (the machine stops on it); after one,
/// answers are "nothing accepted, nothing captured".
pub struct RecordedHost<'a> {
    pub mode: &'a mut dyn Mode,
    pub audio: &'a mut AudioSide,
    pub error: &'a mut Option<ReplayError>,
    pub icount: u64,
}

impl RecordedHost<'_> {
    fn diverged(&mut self, kind: SyncKind, expected: String, actual: String) {
        if self.error.is_none() {
            *self.error = Some(ReplayError::Divergence {
                window: (self.icount, self.icount),
                icount: self.icount,
                expected: format!("{kind:?} {expected}"),
                actual,
            });
        }
    }
}

impl FunctionHost for RecordedHost<'_> {
    fn audio_play(&mut self, samples: &[i16], rate_hz: u32) -> usize {
        if self.error.is_some() {
            return 0;
        }
        let frames = samples.len() / 2;
        let backend = &mut self.audio.backend;
        let answer = self
            .mode
            .sync_input(self.icount, SyncKind::AudioPlayed, &mut || {
                let n = match backend.as_mut() {
                    Some(b) => b.play(samples, rate_hz),
                    None => frames,
                };
                (n.min(frames) as u32).to_le_bytes().to_vec()
            });
        let bytes = match answer {
            Ok(b) => b,
            Err(e) => {
                *self.error = Some(e);
                return 0;
            }
        };
        let n = match <[u8; 4]>::try_from(bytes.as_slice()) {
            Ok(a) => u32::from_le_bytes(a) as usize,
            Err(_) => {
                self.diverged(
                    SyncKind::AudioPlayed,
                    format!("with {} bytes", bytes.len()),
                    "a 4-byte frame count".into(),
                );
                return 0;
            }
        };
        if n > frames {
            self.diverged(
                SyncKind::AudioPlayed,
                format!("accepting {n} frames"),
                format!("an offer of {frames} frames"),
            );
            return 0;
        }
        if let (Some(r), Some(s)) = (self.audio.render.as_mut(), samples.get(..n * 2)) {
            r.write(s, rate_hz);
        }
        n
    }

    fn audio_capture(&mut self, samples: &mut [i16], channels: u8, rate_hz: u32) -> usize {
        if self.error.is_some() {
            return 0;
        }
        let ch = usize::from(channels.max(1));
        let frames = samples.len() / ch;
        let backend = &mut self.audio.backend;
        let answer = self
            .mode
            .sync_input(self.icount, SyncKind::AudioCaptured, &mut || {
                let mut buf = vec![0i16; frames * ch];
                let n = match backend.as_mut() {
                    Some(b) => b.capture(&mut buf, channels, rate_hz),
                    None => frames,
                };
                buf.iter()
                    .take(n.min(frames) * ch)
                    .flat_map(|s| s.to_le_bytes())
                    .collect()
            });
        let bytes = match answer {
            Ok(b) => b,
            Err(e) => {
                *self.error = Some(e);
                return 0;
            }
        };
        if bytes.len() % (2 * ch) != 0 || bytes.len() / (2 * ch) > frames {
            self.diverged(
                SyncKind::AudioCaptured,
                format!("with {} bytes", bytes.len()),
                format!("a capture of up to {frames} {ch}-channel frames"),
            );
            return 0;
        }
        for (s, b) in samples.iter_mut().zip(bytes.chunks_exact(2)) {
            *s = i16::from_le_bytes([b[0], b[1]]);
        }
        bytes.len() / (2 * ch)
    }
}

/// Adds the AC'97 function to the bus when the machine has one (`mem`: guest RAM as
/// its DMA sees it).
pub fn add_ac97(
    pci: &mut reprise_devices::pci::Pci,
    present: bool,
    mem: Option<&super::virtio::Mem>,
) -> Result<(), String> {
    if !present {
        return Ok(());
    }
    let mem = mem.ok_or("the AC'97 needs guest RAM described for DMA")?;
    pci.add_function(
        AC97_SLOT,
        Box::new(reprise_devices::ac97::Ac97::new(mem.clone())),
    )
}

impl super::Machine {
    /// Gives the sound card its host side: opened backends (run, record) or a file to
    /// re-render the output into (replay). Without one, output is dropped and input is
    /// silent; in replay nothing is asked of it either way.
    pub fn attach_audio(&mut self, side: AudioSide) {
        self.board.audio = side;
    }

    /// Patches the audio output files' headers.
    pub fn flush_audio(&mut self) {
        self.board.audio.flush();
    }
}
