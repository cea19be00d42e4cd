//! Register-level tests of the AC'97 function: mixer, semaphore, global registers,
//! playback and capture through buffer-descriptor lists on the virtual clock, a host
//! that accepts only part of what is offered, guest garbage, and state round trips.

use reprise_devices::ac97::{self, mixer, Ac97, BD_IOC, STEP_NS};
use reprise_devices::pci::{BarKind, FunctionHost, NullHost, PciFunction};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

type Mem = GuestMemoryMmap<()>;

const RAM: usize = 1 << 20;
const BDL: u64 = 0x1000;
const BUF: u64 = 0x10000;

/// Box offsets in BAR1.
const PI: u64 = 0x00;
const PO: u64 = 0x10;
const MC: u64 = 0x20;

/// A host that accepts at most `accept_max` frames per offer (records them all) and
/// captures a ramp.
#[derive(Default)]
struct TestHost {
    accept_max: Option<usize>,
    played: Vec<i16>,
    rates: Vec<u32>,
    offers: usize,
    ramp: i16,
    captured_calls: Vec<(usize, u8, u32)>,
    capture_max: Option<usize>,
}

impl FunctionHost for TestHost {
    fn audio_play(&mut self, samples: &[i16], rate_hz: u32) -> usize {
        self.offers += 1;
        self.rates.push(rate_hz);
        let frames = samples.len() / 2;
        let n = self.accept_max.map_or(frames, |m| m.min(frames));
        self.played.extend_from_slice(&samples[..n * 2]);
        n
    }

    fn audio_capture(&mut self, samples: &mut [i16], channels: u8, rate_hz: u32) -> usize {
        let ch = usize::from(channels);
        let frames = samples.len() / ch;
        let n = self.capture_max.map_or(frames, |m| m.min(frames));
        self.captured_calls.push((n, channels, rate_hz));
        for s in samples.iter_mut().take(n * ch) {
            *s = self.ramp;
            self.ramp = self.ramp.wrapping_add(1);
        }
        n
    }
}

fn mem() -> Mem {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), RAM)]).expect("test RAM")
}

struct Rig {
    dev: Ac97<Mem>,
    mem: Mem,
    host: TestHost,
    now: u64,
}

impl Rig {
    fn new() -> Rig {
        let mem = mem();
        let mut dev = Ac97::new(mem.clone());
        dev.set_bus_master(true);
        Rig {
            dev,
            mem,
            host: TestHost::default(),
            now: 0,
        }
    }

    fn r8(&mut self, bar: usize, off: u64) -> u8 {
        let mut b = [0u8; 1];
        self.dev
            .bar_read(bar, off, &mut b, self.now, &mut self.host);
        b[0]
    }
    fn r16(&mut self, bar: usize, off: u64) -> u16 {
        let mut b = [0u8; 2];
        self.dev
            .bar_read(bar, off, &mut b, self.now, &mut self.host);
        u16::from_le_bytes(b)
    }
    fn r32(&mut self, bar: usize, off: u64) -> u32 {
        let mut b = [0u8; 4];
        self.dev
            .bar_read(bar, off, &mut b, self.now, &mut self.host);
        u32::from_le_bytes(b)
    }
    fn w8(&mut self, bar: usize, off: u64, v: u8) {
        self.dev.bar_write(bar, off, &[v], self.now, &mut self.host);
    }
    fn w16(&mut self, bar: usize, off: u64, v: u16) {
        self.dev
            .bar_write(bar, off, &v.to_le_bytes(), self.now, &mut self.host);
    }
    fn w32(&mut self, bar: usize, off: u64, v: u32) {
        self.dev
            .bar_write(bar, off, &v.to_le_bytes(), self.now, &mut self.host);
    }

    /// Writes descriptor `i` of the list at BDL.
    fn bd(&self, i: u64, addr: u32, samples: u16, ctl: u16) {
        let mut d = addr.to_le_bytes().to_vec();
        d.extend_from_slice(&samples.to_le_bytes());
        d.extend_from_slice(&ctl.to_le_bytes());
        self.mem.write_slice(&d, GuestAddress(BDL + 8 * i)).unwrap();
    }

    fn fill_pcm(&self, addr: u64, samples: &[i16]) {
        let b: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.mem.write_slice(&b, GuestAddress(addr)).unwrap();
    }

    fn read_pcm(&self, addr: u64, n: usize) -> Vec<i16> {
        let mut b = vec![0u8; n * 2];
        self.mem.read_slice(&mut b, GuestAddress(addr)).unwrap();
        b.chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect()
    }

    /// Runs the device's deadlines up to `t`.
    fn run_to(&mut self, t: u64) {
        while let Some(d) = self.dev.next_deadline() {
            if d > t {
                break;
            }
            self.now = d;
            self.dev.advance(d, &mut self.host);
        }
        self.now = t;
    }

    fn start(&mut self, bx: u64, lvi: u8, cr_extra: u8) {
        self.w32(1, bx, BDL as u32);
        self.w8(1, bx + 5, lvi);
        self.w8(1, bx + 0xb, 0x01 | cr_extra);
    }
}

fn ramp(n: usize, start: i16) -> Vec<i16> {
    (0..n).map(|i| start.wrapping_add(i as i16)).collect()
}

#[test]
fn identity_and_bars() {
    let r = Rig::new();
    let id = r.dev.identity();
    assert_eq!((id.vendor_id, id.device_id), (0x8086, 0x2415));
    assert_eq!(id.class, 0x040100);
    assert_eq!(id.interrupt_pin, 1);
    let bars = r.dev.bars();
    assert_eq!(bars[0], Some(BarKind::Io { size: 256 }));
    assert_eq!(bars[1], Some(BarKind::Io { size: 64 }));
    assert!(bars[2..].iter().all(|b| b.is_none()));
}

#[test]
fn mixer_power_on_values_and_masks() {
    let mut r = Rig::new();
    assert_eq!(r.r16(0, mixer::VENDOR_ID1 as u64), 0x8384);
    assert_eq!(r.r16(0, mixer::VENDOR_ID2 as u64), 0x7600);
    assert_eq!(r.r16(0, mixer::MASTER_VOLUME as u64), 0x8000);
    assert_eq!(r.r16(0, mixer::PCM_OUT_VOLUME as u64), 0x8808);
    assert_eq!(r.r16(0, mixer::POWERDOWN as u64) & 0xf, 0xf);
    assert_eq!(r.r16(0, mixer::EXT_AUDIO_ID as u64) & 1, 1, "VRA");
    // The Linux ac97 layer's reset check: REC_GAIN keeps 0x8a05.
    r.w16(0, mixer::RECORD_GAIN as u64, 0x8a05);
    assert_eq!(r.r16(0, mixer::RECORD_GAIN as u64) & 0x7fff, 0x0a05);
    // Unimplemented bits do not stick.
    r.w16(0, mixer::MASTER_VOLUME as u64, 0xffff);
    assert_eq!(r.r16(0, mixer::MASTER_VOLUME as u64), 0xbf3f);
    // Byte write changes one byte.
    r.w8(0, mixer::MASTER_VOLUME as u64, 0x01);
    assert_eq!(r.r16(0, mixer::MASTER_VOLUME as u64), 0xbf01);
    // Vendor ID is read-only; a write to reset restores power-on values.
    r.w16(0, mixer::VENDOR_ID1 as u64, 0);
    assert_eq!(r.r16(0, mixer::VENDOR_ID1 as u64), 0x8384);
    r.w16(0, mixer::RESET as u64, 0);
    assert_eq!(r.r16(0, mixer::MASTER_VOLUME as u64), 0x8000);
    // A 32-bit read covers two registers.
    assert_eq!(r.r32(0, mixer::VENDOR_ID1 as u64), 0x7600_8384);
}

#[test]
fn variable_rate_needs_vra() {
    let mut r = Rig::new();
    let dac = mixer::PCM_FRONT_DAC_RATE as u64;
    r.w16(0, dac, 22050);
    assert_eq!(r.r16(0, dac), 48000, "rate is fixed without VRA");
    r.w16(0, mixer::EXT_AUDIO_CTRL as u64, 1);
    r.w16(0, dac, 22050);
    assert_eq!(r.r16(0, dac), 22050);
    r.w16(0, dac, 100);
    assert_eq!(r.r16(0, dac), 8000, "clamped to the lowest rate");
    r.w16(0, dac, 60000);
    assert_eq!(r.r16(0, dac), 48000);
    r.w16(0, mixer::EXT_AUDIO_CTRL as u64, 0);
    assert_eq!(r.r16(0, dac), 48000, "VRA off goes back to 48 kHz");
    // The mic rate needs VRM.
    r.w16(0, mixer::MIC_ADC_RATE as u64, 8000);
    assert_eq!(r.r16(0, mixer::MIC_ADC_RATE as u64), 48000);
    r.w16(0, mixer::EXT_AUDIO_CTRL as u64, 8);
    r.w16(0, mixer::MIC_ADC_RATE as u64, 8000);
    assert_eq!(r.r16(0, mixer::MIC_ADC_RATE as u64), 8000);
}

#[test]
fn codec_access_semaphore_and_global_registers() {
    let mut r = Rig::new();
    assert_eq!(r.r8(1, 0x34), 0, "free");
    assert_eq!(r.r8(1, 0x34), 1, "taken by the first read");
    r.r16(0, 0x7c);
    assert_eq!(r.r8(1, 0x34), 0, "a codec access gives it back");
    // Codec ready only out of cold reset.
    assert_eq!(r.r32(1, 0x30) & 0x100, 0);
    r.w32(1, 0x2c, 0x02 | 0x04);
    assert_eq!(r.r32(1, 0x2c), 0x02, "warm reset self-clears");
    assert_eq!(r.r32(1, 0x30) & 0x100, 0x100);
    // Cold reset resets the codec.
    r.w16(0, mixer::MASTER_VOLUME as u64, 0x0101);
    r.w32(1, 0x2c, 0);
    assert_eq!(r.r16(0, mixer::MASTER_VOLUME as u64), 0x8000);
}

#[test]
fn box_registers_after_reset() {
    let mut r = Rig::new();
    for bx in [PI, PO, MC] {
        assert_eq!(r.r16(1, bx + 6), 0x01, "halted");
        r.w32(1, bx, 0x1234_5677);
        assert_eq!(r.r32(1, bx), 0x1234_5670, "BDBAR is 8-byte aligned");
        r.w8(1, bx + 5, 40);
        assert_eq!(r.r8(1, bx + 5), 8, "LVI is 5 bits");
        r.w8(1, bx + 4, 3);
        assert_eq!(r.r8(1, bx + 4), 0, "CIV is read-only");
        r.w8(1, bx + 0xb, 0x02);
        assert_eq!(r.r8(1, bx + 0xb), 0, "RR self-clears");
        assert_eq!(r.r32(1, bx), 0, "RR resets the box");
        assert_eq!(r.r8(1, bx + 5), 0);
    }
}

#[test]
fn playback_moves_frames_at_the_sample_rate_and_interrupts() {
    let mut r = Rig::new();
    let a = ramp(960, 100);
    let b = ramp(480, -3000);
    r.fill_pcm(BUF, &a);
    r.fill_pcm(BUF + 0x1000, &b);
    r.bd(0, BUF as u32, 960, BD_IOC);
    r.bd(1, (BUF + 0x1000) as u32, 480, BD_IOC);
    r.start(PO, 1, 0x10 | 0x04);
    assert_eq!(r.r16(1, PO + 8), 960, "PICB: first buffer loaded");
    assert_eq!(r.r8(1, PO + 0xa), 1, "PIV");
    assert_eq!(r.dev.next_deadline(), Some(STEP_NS));
    r.run_to(STEP_NS);
    // 240 frames (480 samples) a 5 ms step at 48 kHz.
    assert_eq!(r.host.played.len(), 480);
    assert_eq!(r.r16(1, PO + 8), 480);
    assert!(!r.dev.irq_level());
    r.run_to(2 * STEP_NS);
    assert_eq!(r.r8(1, PO + 4), 1, "CIV moved to the second buffer");
    assert_eq!(r.r16(1, PO + 8), 480);
    assert_eq!(r.r16(1, PO + 6) & 0x08, 0x08, "BCIS");
    assert!(r.dev.irq_level());
    assert_eq!(r.r32(1, 0x30) & 0x40, 0x40, "POINT");
    r.w16(1, PO + 6, 0x08);
    assert!(!r.dev.irq_level(), "BCIS is write-1-clear");
    r.run_to(3 * STEP_NS);
    let sr = r.r16(1, PO + 6);
    assert_eq!(
        sr & 0x0f,
        0x0f,
        "DCH, CELV, LVBCI, BCIS after the last buffer: {sr:#x}"
    );
    assert_eq!(r.dev.next_deadline(), None, "halted");
    let mut want = a.clone();
    want.extend_from_slice(&b);
    assert_eq!(r.host.played, want);
    assert!(r.host.rates.iter().all(|&x| x == 48000));
}

#[test]
fn partial_acceptance_offers_the_rest_again() {
    let mut r = Rig::new();
    r.host.accept_max = Some(100);
    let a = ramp(2000, 7);
    r.fill_pcm(BUF, &a);
    r.bd(0, BUF as u32, 2000, 0);
    r.start(PO, 0, 0);
    r.run_to(STEP_NS);
    assert_eq!(
        r.r16(1, PO + 8),
        2000 - 200,
        "PICB moves by what was accepted"
    );
    r.run_to(20 * STEP_NS);
    assert_eq!(r.host.played, a, "nothing lost or repeated");
    assert_eq!(r.r16(1, PO + 6) & 0x07, 0x07, "done");
}

#[test]
fn capture_writes_host_frames_into_guest_buffers() {
    let mut r = Rig::new();
    r.bd(0, BUF as u32, 600, BD_IOC);
    r.bd(1, (BUF + 0x2000) as u32, 600, BD_IOC);
    r.start(PI, 1, 0x10);
    r.run_to(3 * STEP_NS);
    let got = [r.read_pcm(BUF, 600), r.read_pcm(BUF + 0x2000, 600)].concat();
    assert_eq!(got, ramp(1200, 0));
    assert_eq!(r.r16(1, PI + 6) & 0x0b, 0x0b, "DCH, CELV, BCIS");
    assert_eq!(r.r32(1, 0x30) & 0x20, 0x20, "PIINT");
    assert!(r
        .host
        .captured_calls
        .iter()
        .all(|c| c.1 == 2 && c.2 == 48000));
    let dirty = r.dev.take_dirty_pages();
    assert!(dirty.contains(&BUF) && dirty.contains(&(BUF + 0x2000)));
}

#[test]
fn capture_short_host_keeps_position() {
    let mut r = Rig::new();
    r.host.capture_max = Some(50);
    r.bd(0, BUF as u32, 1000, 0);
    r.start(PI, 0, 0);
    r.run_to(STEP_NS);
    assert_eq!(r.r16(1, PI + 8), 900);
    r.run_to(10 * STEP_NS);
    assert_eq!(r.read_pcm(BUF, 1000), ramp(1000, 0));
}

#[test]
fn mic_box_is_mono_at_the_mic_rate() {
    let mut r = Rig::new();
    r.w16(0, mixer::EXT_AUDIO_CTRL as u64, 8);
    r.w16(0, mixer::MIC_ADC_RATE as u64, 16000);
    r.bd(0, BUF as u32, 80, 0);
    r.start(MC, 0, 0);
    r.run_to(STEP_NS);
    assert_eq!(r.host.captured_calls, vec![(80, 1, 16000)]);
    assert_eq!(r.read_pcm(BUF, 80), ramp(80, 0));
    assert_eq!(r.r16(1, MC + 6) & 0x03, 0x03);
}

#[test]
fn variable_rate_sets_the_step_size() {
    let mut r = Rig::new();
    r.w16(0, mixer::EXT_AUDIO_CTRL as u64, 1);
    r.w16(0, mixer::PCM_FRONT_DAC_RATE as u64, 44100);
    r.fill_pcm(BUF, &ramp(20000, 0));
    r.bd(0, BUF as u32, 20000, 0);
    r.start(PO, 0, 0);
    r.run_to(200 * STEP_NS);
    // One virtual second at 44.1 kHz: exactly 44100 frames were due (capped by the
    // 10000-frame buffer here), 220.5 a step on average.
    assert_eq!(r.host.played.len(), 20000);
    assert_eq!(r.host.rates[0], 44100);
    let mut r = Rig::new();
    r.w16(0, mixer::EXT_AUDIO_CTRL as u64, 1);
    r.w16(0, mixer::PCM_FRONT_DAC_RATE as u64, 44100);
    r.fill_pcm(BUF, &ramp(60000, 0));
    r.bd(0, BUF as u32, 60000, 0);
    r.start(PO, 0, 0);
    r.run_to(100 * STEP_NS);
    assert_eq!(r.host.played.len(), 44100, "half a second");
}

#[test]
fn no_dma_without_bus_mastering() {
    let mut r = Rig::new();
    r.dev.set_bus_master(false);
    r.fill_pcm(BUF, &ramp(480, 1));
    r.bd(0, BUF as u32, 480, BD_IOC);
    r.start(PO, 0, 0x10);
    r.run_to(10 * STEP_NS);
    assert!(r.host.played.is_empty());
    assert_eq!(r.r16(1, PO + 8), 0, "descriptor not fetched");
    r.dev.set_bus_master(true);
    r.run_to(12 * STEP_NS);
    assert_eq!(r.host.played, ramp(480, 1));
}

#[test]
fn descriptor_list_outside_ram_is_a_fifo_error() {
    let mut r = Rig::new();
    r.w32(1, PO, 0xfff0_0000);
    r.w8(1, PO + 5, 3);
    r.w8(1, PO + 0xb, 0x01 | 0x08);
    assert_eq!(r.r16(1, PO + 6) & 0x11, 0x11, "FIFOE and DCH");
    assert!(r.dev.irq_level(), "FEIE");
    assert_eq!(r.dev.next_deadline(), None);
    r.w16(1, PO + 6, 0x10);
    assert!(!r.dev.irq_level());
    // A buffer outside RAM too, for capture (nothing written anywhere).
    let mut r = Rig::new();
    r.bd(0, 0xffff_0000, 100, 0);
    r.start(PI, 0, 0x08);
    r.run_to(STEP_NS);
    assert_eq!(r.r16(1, PI + 6) & 0x11, 0x11);
    assert!(r.host.captured_calls.is_empty(), "the host is not asked");
    // Buffer straddling the end of RAM.
    let mut r = Rig::new();
    r.bd(0, (RAM - 100) as u32, 200, 0);
    r.start(PO, 0, 0);
    r.run_to(STEP_NS);
    assert_eq!(r.r16(1, PO + 6) & 0x10, 0x10);
}

#[test]
fn zero_length_and_odd_descriptors() {
    let mut r = Rig::new();
    // All 32 descriptors empty, LVI one before CIV: a whole lap of empties.
    for i in 0..32 {
        r.bd(i, BUF as u32, 0, BD_IOC);
    }
    r.start(PO, 31, 0x10);
    r.run_to(STEP_NS);
    assert_eq!(r.r8(1, PO + 4), 31);
    assert_eq!(r.r16(1, PO + 6) & 0x0f, 0x0f);
    assert!(r.host.played.is_empty());
    // An odd sample count drops the lone last sample.
    let mut r = Rig::new();
    r.fill_pcm(BUF, &ramp(7, 1));
    r.bd(0, BUF as u32, 7, 0);
    r.start(PO, 0, 0);
    r.run_to(STEP_NS);
    assert_eq!(r.host.played, ramp(6, 1));
    assert_eq!(r.r16(1, PO + 6) & 0x03, 0x03);
}

#[test]
fn lvi_update_resumes_a_halted_box() {
    let mut r = Rig::new();
    r.fill_pcm(BUF, &ramp(200, 1));
    r.fill_pcm(BUF + 0x1000, &ramp(200, 1000));
    r.bd(0, BUF as u32, 200, 0);
    r.bd(1, (BUF + 0x1000) as u32, 200, 0);
    r.start(PO, 0, 0);
    r.run_to(STEP_NS);
    assert_eq!(r.r16(1, PO + 6) & 0x03, 0x03, "halted at LVI");
    r.w8(1, PO + 5, 1);
    assert_eq!(r.r16(1, PO + 6) & 0x03, 0, "running again");
    assert_eq!(r.r8(1, PO + 4), 1);
    r.run_to(3 * STEP_NS);
    assert_eq!(r.host.played, [ramp(200, 1), ramp(200, 1000)].concat());
    // Stop and restart keeps the position.
    let mut r = Rig::new();
    r.fill_pcm(BUF, &ramp(1000, 0));
    r.bd(0, BUF as u32, 1000, 0);
    r.start(PO, 0, 0);
    r.run_to(STEP_NS);
    r.w8(1, PO + 0xb, 0);
    assert_eq!(r.r16(1, PO + 6) & 1, 1);
    r.run_to(5 * STEP_NS);
    assert_eq!(r.host.played.len(), 480);
    r.w8(1, PO + 0xb, 1);
    r.run_to(7 * STEP_NS);
    assert_eq!(r.host.played, ramp(1000, 0));
}

#[test]
fn wide_and_narrow_accesses() {
    let mut r = Rig::new();
    r.bd(0, BUF as u32, 100, 0);
    r.start(PO, 5, 0x10);
    // dword at CIV: CIV | LVI << 8 | SR << 16.
    assert_eq!(r.r32(1, PO + 4), 5 << 8);
    // dword at PICB: PICB | PIV << 16 | CR << 24.
    assert_eq!(r.r32(1, PO + 8), 100 | 1 << 16 | 0x11 << 24);
    // Reads beyond the registers are zero, writes ignored.
    assert_eq!(r.r32(1, 0x3c), 0);
    r.w32(1, 0x38, 0xffff_ffff);
    assert_eq!(r.r32(0, 0xfe), 0, "past the last mixer register");
}

#[test]
fn state_round_trip_and_corrupt_blobs() {
    let mut r = Rig::new();
    r.w32(1, 0x2c, 2);
    r.fill_pcm(BUF, &ramp(1000, 0));
    r.bd(0, BUF as u32, 1000, BD_IOC);
    r.start(PO, 0, 0x10);
    r.run_to(STEP_NS);
    let blob = r.dev.save_state();
    let mut other = Ac97::new(mem());
    other.restore_state(&blob).unwrap();
    assert_eq!(other.state(), r.dev.state());
    assert_eq!(other.next_deadline(), r.dev.next_deadline());
    // Both go on identically.
    let mut h2 = TestHost::default();
    other.advance(2 * STEP_NS, &mut h2);
    r.run_to(2 * STEP_NS);
    assert_eq!(other.state(), r.dev.state());
    assert!(other.restore_state(&blob[..blob.len() / 2]).is_err());
    let mut long = blob.clone();
    long.push(0);
    assert!(other.restore_state(&long).is_err());
    let mut bad = r.dev.state().clone();
    bad.boxes[1].civ = 40;
    let bad = bincode::serde::encode_to_vec(&bad, bincode::config::standard()).unwrap();
    let e = other.restore_state(&bad).unwrap_err();
    assert!(e.contains("out of 0..32"), "{e}");
    // Reset is power-on.
    other.reset();
    assert_eq!(other.state(), Ac97::new(mem()).state());
}

#[test]
fn null_host_plays_everything() {
    let mem = mem();
    let mut d = Ac97::new(mem.clone());
    d.set_bus_master(true);
    let mut h = NullHost;
    let bd: Vec<u8> = [BUF as u32, 480]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    mem.write_slice(&bd, GuestAddress(BDL)).unwrap();
    d.bar_write(1, PO, &(BDL as u32).to_le_bytes(), 0, &mut h);
    d.bar_write(1, PO + 0xb, &[1], 0, &mut h);
    d.advance(STEP_NS, &mut h);
    let mut sr = [0u8; 2];
    d.bar_read(1, PO + 6, &mut sr, STEP_NS, &mut h);
    assert_eq!(sr[0] & 0x03, 0x03);
    assert_eq!(ac97::IDENTITY.device_id, 0x2415);
}

/// Random accesses of random widths to both BARs, random descriptor lists in and out
/// of RAM, bus mastering toggled, time advancing: never a panic, state always restores.
#[test]
fn random_guest_garbage_never_panics() {
    let mut seed = 0x2415_8086_u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    for round in 0..20 {
        let mut r = Rig::new();
        r.host.accept_max = Some(round * 13);
        r.host.capture_max = Some(round * 7);
        for i in 0..32 {
            let addr = if next() % 4 == 0 {
                next() as u32
            } else {
                (BUF + next() % 0x8000) as u32
            };
            r.bd(i, addr, next() as u16, next() as u16);
        }
        for _ in 0..400 {
            let bar = (next() % 2) as usize;
            let off = next() % if bar == 0 { 256 } else { 64 };
            let width = [1usize, 2, 4][(next() % 3) as usize];
            let v = (next() as u32).to_le_bytes();
            match next() % 6 {
                0 => {
                    let mut b = [0u8; 4];
                    r.dev
                        .bar_read(bar, off, &mut b[..width], r.now, &mut r.host);
                }
                1 => r.dev.set_bus_master(next() % 4 != 0),
                2 => {
                    let t = r.now + next() % (3 * STEP_NS);
                    r.run_to(t);
                }
                3 => {
                    // Point a box at the list and start it.
                    let bx = [PI, PO, MC][(next() % 3) as usize];
                    r.w32(1, bx, BDL as u32);
                    r.w8(1, bx + 0xb, (next() as u8) & 0x1f);
                }
                _ => r.dev.bar_write(bar, off, &v[..width], r.now, &mut r.host),
            }
        }
        let blob = r.dev.save_state();
        let mut other = Ac97::new(mem());
        other.restore_state(&blob).unwrap();
        assert_eq!(other.state(), r.dev.state());
    }
}
