//! Audio backends: where a sound device's output goes and its input comes from.
//!
//! `--audio ac97[,out=wav:PATH|null][,in=wav:PATH|silence]` adds an AC'97 sound card
//! ([`AudioSpec`]). Output: `wav:PATH` writes 16-bit stereo PCM at the rate the guest
//! first plays at (the header is patched on every flush, at least every
//! [`FLUSH_FRAMES`] frames and when the machine ends, so a run killed after a flush
//! leaves a valid file); `null` (the default) discards. Input: `wav:PATH` plays a
//! 16-bit PCM WAV file (mono or stereo, any rate: converted to what the guest asks by
//! duplicating/averaging channels and picking the nearest sample), then silence;
//! `silence` (the default) gives zeros.
//!
//! Both accept everything at once: output is paced by the device's virtual sample
//! clock, never by the host. In replay no backend is opened at all: the machine takes
//! the answers from the log (`--audio-out PATH` re-renders the output there).

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// Output frames written between two header patches.
pub const FLUSH_FRAMES: u64 = 4800;

/// Where the sound card's output goes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AudioOut {
    #[default]
    Null,
    Wav(PathBuf),
}

/// Where the sound card's input comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AudioIn {
    #[default]
    Silence,
    Wav(PathBuf),
}

/// `--audio`: the sound device and its backends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioSpec {
    pub out: AudioOut,
    pub input: AudioIn,
}

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("bad --audio `{0}`: expected ac97[,out=wav:PATH|null][,in=wav:PATH|silence] ({1})")]
    Spec(String, String),
    #[error("cannot create audio output {path}: {err}")]
    Create { path: PathBuf, err: String },
    #[error("cannot read audio input {path}: {err} (give a 16-bit PCM WAV file, or in=silence)")]
    Input { path: PathBuf, err: String },
}

impl std::str::FromStr for AudioSpec {
    type Err = AudioError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| AudioError::Spec(s.to_string(), why.to_string());
        let mut parts = s.split(',');
        match parts.next() {
            Some("ac97") => {}
            Some(other) => return Err(bad(&format!("unknown sound device `{other}`"))),
            None => return Err(bad("empty")),
        }
        let mut spec = AudioSpec::default();
        let (mut seen_out, mut seen_in) = (false, false);
        for p in parts {
            match p.split_once('=') {
                Some(("out", v)) if !seen_out => {
                    seen_out = true;
                    spec.out = match v.split_once(':') {
                        _ if v == "null" => AudioOut::Null,
                        Some(("wav", path)) if !path.is_empty() => AudioOut::Wav(path.into()),
                        _ => return Err(bad(&format!("unknown output `{v}`"))),
                    };
                }
                Some(("in", v)) if !seen_in => {
                    seen_in = true;
                    spec.input = match v.split_once(':') {
                        _ if v == "silence" => AudioIn::Silence,
                        Some(("wav", path)) if !path.is_empty() => AudioIn::Wav(path.into()),
                        _ => return Err(bad(&format!("unknown input `{v}`"))),
                    };
                }
                Some(("out" | "in", _)) => return Err(bad(&format!("`{p}` given twice"))),
                _ => return Err(bad(&format!("unknown option `{p}`"))),
            }
        }
        Ok(spec)
    }
}

impl std::fmt::Display for AudioSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ac97")?;
        match &self.out {
            AudioOut::Null => write!(f, ",out=null")?,
            AudioOut::Wav(p) => write!(f, ",out=wav:{}", p.display())?,
        }
        match &self.input {
            AudioIn::Silence => write!(f, ",in=silence"),
            AudioIn::Wav(p) => write!(f, ",in=wav:{}", p.display()),
        }
    }
}

/// A WAV file being written.
pub struct WavOut {
    path: PathBuf,
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    rate: u32,
    frames: u64,
    unflushed: u64,
    /// The first write error (later writes are dropped; the guest cannot tell).
    pub error: Option<String>,
}

fn wav_spec(rate: u32) -> hound::WavSpec {
    hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

impl WavOut {
    /// Creates (truncates) `path` as an empty 48 kHz stereo WAV file.
    pub fn create(path: &Path) -> Result<WavOut, AudioError> {
        let w =
            hound::WavWriter::create(path, wav_spec(48_000)).map_err(|e| AudioError::Create {
                path: path.to_path_buf(),
                err: e.to_string(),
            })?;
        Ok(WavOut {
            path: path.to_path_buf(),
            writer: Some(w),
            rate: 48_000,
            frames: 0,
            unflushed: 0,
            error: None,
        })
    }

    /// Appends interleaved stereo frames played at `rate`. The file takes the rate of
    /// the first frames written; later frames at another rate are written as they are.
    pub fn write(&mut self, samples: &[i16], rate: u32) {
        if self.frames == 0 && rate != self.rate && !samples.is_empty() {
            // Nothing written yet: start the file again at the guest's rate.
            self.writer = None;
            match hound::WavWriter::create(&self.path, wav_spec(rate)) {
                Ok(w) => {
                    self.writer = Some(w);
                    self.rate = rate;
                }
                Err(e) => self.fail(e),
            }
        }
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        let mut err = None;
        for &s in samples {
            if let Err(e) = w.write_sample(s) {
                err = Some(e);
                break;
            }
        }
        if let Some(e) = err {
            self.fail(e);
            return;
        }
        let n = (samples.len() / 2) as u64;
        self.frames += n;
        self.unflushed += n;
        if self.unflushed >= FLUSH_FRAMES {
            self.flush();
        }
    }

    /// Patches the header so the file is valid as it stands.
    pub fn flush(&mut self) {
        self.unflushed = 0;
        if let Some(w) = self.writer.as_mut() {
            if let Err(e) = w.flush() {
                self.fail(e);
            }
        }
    }

    fn fail(&mut self, e: hound::Error) {
        if self.error.is_none() {
            self.error = Some(format!("audio output {}: {e}", self.path.display()));
        }
        self.writer = None;
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

impl Drop for WavOut {
    fn drop(&mut self) {
        if let Some(w) = self.writer.take() {
            let _ = w.finalize();
        }
    }
}

/// A WAV file played as input, converted to whatever format the guest asks for.
pub struct WavIn {
    /// Frames of the file, as (left, right) (a mono file has both equal).
    frames: Vec<(i16, i16)>,
    rate: u32,
    /// Output frames produced since `base` at `out_rate`.
    produced: u64,
    base: u64,
    out_rate: u32,
}

impl WavIn {
    pub fn open(path: &Path) -> Result<WavIn, AudioError> {
        let err = |e: String| AudioError::Input {
            path: path.to_path_buf(),
            err: e,
        };
        let r = hound::WavReader::open(path).map_err(|e| err(e.to_string()))?;
        let spec = r.spec();
        if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
            return Err(err(format!(
                "it is {}-bit {:?}; only 16-bit integer PCM is taken",
                spec.bits_per_sample, spec.sample_format
            )));
        }
        if !(1..=2).contains(&spec.channels) || spec.sample_rate == 0 {
            return Err(err(format!(
                "it has {} channels at {} Hz; mono or stereo is taken",
                spec.channels, spec.sample_rate
            )));
        }
        let samples = r
            .into_samples::<i16>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(e.to_string()))?;
        let frames = if spec.channels == 1 {
            samples.iter().map(|&s| (s, s)).collect()
        } else {
            samples.chunks_exact(2).map(|c| (c[0], c[1])).collect()
        };
        Ok(WavIn {
            frames,
            rate: spec.sample_rate,
            produced: 0,
            base: 0,
            out_rate: spec.sample_rate,
        })
    }

    /// Fills `out` (interleaved, `channels` per frame, at `rate`); past the end of the
    /// file, silence. Always fills every whole frame.
    pub fn read(&mut self, out: &mut [i16], channels: u8, rate: u32) -> usize {
        let ch = usize::from(channels.max(1));
        let rate = rate.max(1);
        if rate != self.out_rate {
            self.base = self.position();
            self.produced = 0;
            self.out_rate = rate;
        }
        let n = out.len() / ch;
        for frame in out.chunks_exact_mut(ch) {
            let (l, r) = usize::try_from(self.position())
                .ok()
                .and_then(|i| self.frames.get(i).copied())
                .unwrap_or((0, 0));
            if ch == 1 {
                frame[0] = ((i32::from(l) + i32::from(r)) / 2) as i16;
            } else {
                frame[0] = l;
                frame[1] = r;
                for s in frame.iter_mut().skip(2) {
                    *s = 0;
                }
            }
            self.produced += 1;
        }
        n
    }

    /// The file frame the next output frame comes from.
    fn position(&self) -> u64 {
        let step = u128::from(self.produced) * u128::from(self.rate) / u128::from(self.out_rate);
        self.base + u64::try_from(step).unwrap_or(u64::MAX)
    }
}

/// The opened backends of a sound card (run and record only).
pub struct AudioBackend {
    pub out: Option<WavOut>,
    pub input: Option<WavIn>,
}

impl AudioBackend {
    /// Opens what `spec` names (paths relative to the working directory). A missing
    /// or unreadable input file, or an output that cannot be created, is an error here,
    /// before the guest starts.
    pub fn open(spec: &AudioSpec) -> Result<AudioBackend, AudioError> {
        let input = match &spec.input {
            AudioIn::Silence => None,
            AudioIn::Wav(p) => Some(WavIn::open(p)?),
        };
        let out = match &spec.out {
            AudioOut::Null => None,
            AudioOut::Wav(p) => Some(WavOut::create(p)?),
        };
        Ok(AudioBackend { out, input })
    }

    /// Only an output file (replay's `--audio-out`).
    pub fn render_to(path: &Path) -> Result<AudioBackend, AudioError> {
        Ok(AudioBackend {
            out: Some(WavOut::create(path)?),
            input: None,
        })
    }

    /// Plays interleaved stereo frames; returns how many were accepted (all).
    pub fn play(&mut self, samples: &[i16], rate: u32) -> usize {
        if let Some(o) = self.out.as_mut() {
            o.write(samples, rate);
        }
        samples.len() / 2
    }

    /// Captures into `samples`; returns the whole frames written (all).
    pub fn capture(&mut self, samples: &mut [i16], channels: u8, rate: u32) -> usize {
        match self.input.as_mut() {
            Some(i) => i.read(samples, channels, rate),
            None => {
                samples.fill(0);
                samples.len() / usize::from(channels.max(1))
            }
        }
    }

    /// Patches the output's header (the machine calls this when it stops).
    pub fn flush(&mut self) {
        if let Some(o) = self.out.as_mut() {
            o.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_specs() {
        let s: AudioSpec = "ac97".parse().unwrap();
        assert_eq!(s, AudioSpec::default());
        let s: AudioSpec = "ac97,out=wav:/tmp/a.wav,in=wav:b.wav".parse().unwrap();
        assert_eq!(s.out, AudioOut::Wav("/tmp/a.wav".into()));
        assert_eq!(s.input, AudioIn::Wav("b.wav".into()));
        assert_eq!(s.to_string().parse::<AudioSpec>().unwrap(), s);
        for bad in [
            "",
            "sb16",
            "ac97,out=mp3:x",
            "ac97,in=wav:",
            "ac97,out=null,out=null",
            "ac97,volume=3",
        ] {
            let e = bad.parse::<AudioSpec>().unwrap_err().to_string();
            assert!(e.contains("expected ac97"), "{bad}: {e}");
        }
    }

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("reprise-audio-{}-{name}", std::process::id()))
    }

    #[test]
    fn wav_output_is_valid_after_a_flush_and_takes_the_first_rate() {
        let p = tmp("out.wav");
        let mut o = WavOut::create(&p).unwrap();
        o.write(&[1, 2, 3, 4], 44100);
        o.flush();
        // Read while the writer is still open (a run killed now keeps this).
        let r = hound::WavReader::open(&p).unwrap();
        assert_eq!(r.spec().sample_rate, 44100);
        let got: Vec<i16> = r.into_samples().map(|s| s.unwrap()).collect();
        assert_eq!(got, [1, 2, 3, 4]);
        o.write(&[5, 6], 22050);
        drop(o);
        let got: Vec<i16> = hound::WavReader::open(&p)
            .unwrap()
            .into_samples()
            .map(|s| s.unwrap())
            .collect();
        assert_eq!(got, [1, 2, 3, 4, 5, 6]);
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn wav_input_converts_channels_and_rate_then_gives_silence() {
        let p = tmp("in.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 24000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&p, spec).unwrap();
        for s in [10i16, 20, 30] {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        let mut i = WavIn::open(&p).unwrap();
        let mut buf = [0i16; 16];
        // 48 kHz stereo from 24 kHz mono: each sample twice, both channels.
        assert_eq!(i.read(&mut buf, 2, 48000), 8);
        assert_eq!(buf[..12], [10, 10, 10, 10, 20, 20, 20, 20, 30, 30, 30, 30]);
        assert_eq!(buf[12..], [0, 0, 0, 0]);
        let _ = std::fs::remove_file(&p);
        let e = WavIn::open(&p).err().unwrap().to_string();
        assert!(e.contains("cannot read audio input"), "{e}");
        // A float file is refused with the reason.
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 48000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&p, spec).unwrap();
        w.write_sample(0.5f32).unwrap();
        w.write_sample(0.5f32).unwrap();
        w.finalize().unwrap();
        let e = WavIn::open(&p).err().unwrap().to_string();
        assert!(e.contains("16-bit"), "{e}");
        let _ = std::fs::remove_file(&p);
    }
}
