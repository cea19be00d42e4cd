//! The x87 register stack, tags and status word, on a working copy of
//! [`X87State`] that the helper commits only when the instruction completes.

use crate::state::X87State;

pub type F80 = [u8; 10];

/// Status-word bits.
pub mod sw {
    pub const IE: u16 = 1 << 0;
    pub const DE: u16 = 1 << 1;
    pub const ZE: u16 = 1 << 2;
    pub const OE: u16 = 1 << 3;
    pub const UE: u16 = 1 << 4;
    pub const PE: u16 = 1 << 5;
    pub const SF: u16 = 1 << 6;
    pub const ES: u16 = 1 << 7;
    pub const C0: u16 = 1 << 8;
    pub const C1: u16 = 1 << 9;
    pub const C2: u16 = 1 << 10;
    pub const C3: u16 = 1 << 14;
    pub const B: u16 = 1 << 15;
    pub const EXC: u16 = 0x3f;
    pub const CC: u16 = C0 | C1 | C2 | C3;
}

pub const TAG_VALID: u16 = 0;
pub const TAG_ZERO: u16 = 1;
pub const TAG_SPECIAL: u16 = 2;
pub const TAG_EMPTY: u16 = 3;

/// The default NaN ("real indefinite").
pub const INDEFINITE: F80 = [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff];
pub const ZERO: F80 = [0; 10];

pub fn mant(v: &F80) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&v[..8]);
    u64::from_le_bytes(b)
}
pub fn sexp(v: &F80) -> u16 {
    u16::from_le_bytes([v[8], v[9]])
}
pub fn exp(v: &F80) -> u16 {
    sexp(v) & 0x7fff
}
pub fn sign(v: &F80) -> bool {
    sexp(v) & 0x8000 != 0
}
pub fn make(sign: bool, exp: u16, mant: u64) -> F80 {
    let mut r = [0u8; 10];
    r[..8].copy_from_slice(&mant.to_le_bytes());
    r[8..].copy_from_slice(&(exp & 0x7fff | (sign as u16) << 15).to_le_bytes());
    r
}

/// The full tag of a value: zero, valid, or special (NaN, infinity, denormal,
/// unsupported encodings).
pub fn tag_of(v: &F80) -> u16 {
    let (e, m) = (exp(v), mant(v));
    if e == 0 && m == 0 {
        TAG_ZERO
    } else if e == 0 || e == 0x7fff || m >> 63 == 0 {
        TAG_SPECIAL
    } else {
        TAG_VALID
    }
}

pub struct Fpu {
    pub s: X87State,
}

impl Fpu {
    pub fn phys(&self, i: usize) -> usize {
        (self.s.top as usize + i) & 7
    }
    pub fn tag_phys(&self, p: usize) -> u16 {
        (self.s.ftw >> (2 * (p & 7))) & 3
    }
    pub fn set_tag_phys(&mut self, p: usize, t: u16) {
        let sh = 2 * (p & 7);
        self.s.ftw = (self.s.ftw & !(3 << sh)) | (t & 3) << sh;
    }
    pub fn empty(&self, i: usize) -> bool {
        self.tag_phys(self.phys(i)) == TAG_EMPTY
    }
    pub fn get(&self, i: usize) -> F80 {
        let mut r = [0u8; 10];
        r.copy_from_slice(&self.s.st[self.phys(i)][..10]);
        r
    }
    pub fn get_phys(&self, p: usize) -> F80 {
        let mut r = [0u8; 10];
        r.copy_from_slice(&self.s.st[p & 7][..10]);
        r
    }
    /// Writes ST(i) and tags it from its contents.
    pub fn set(&mut self, i: usize, v: F80) {
        let p = self.phys(i);
        self.set_phys(p, v);
    }
    pub fn set_phys(&mut self, p: usize, v: F80) {
        let p = p & 7;
        self.s.st[p] = [0; 16];
        self.s.st[p][..10].copy_from_slice(&v);
        self.set_tag_phys(p, tag_of(&v));
    }
    pub fn pop(&mut self) {
        let p = self.phys(0);
        self.set_tag_phys(p, TAG_EMPTY);
        self.s.top = (self.s.top + 1) & 7;
    }
    /// Pushes a value, with the stack-overflow response when ST(7) is in use. Returns
    /// false when the overflow is unmasked (nothing changes but the status word).
    /// Pushes without checking for overflow (for masked responses that already
    /// reported a stack fault).
    pub fn push_unchecked(&mut self, v: F80) {
        self.s.top = (self.s.top + 7) & 7;
        self.set(0, v);
    }

    pub fn push(&mut self, v: F80) -> bool {
        let p = self.phys(7);
        if self.tag_phys(p) != TAG_EMPTY {
            if !self.stack_fault(true) {
                return false;
            }
            self.s.top = (self.s.top + 7) & 7;
            self.set(0, INDEFINITE);
            return true;
        }
        self.s.top = (self.s.top + 7) & 7;
        self.set(0, v);
        true
    }
    pub fn masked(&self, bits: u16) -> bool {
        self.s.fcw & bits == bits
    }
    /// Records a stack fault (IE + SF, C1 = 1 for overflow, 0 for underflow).
    /// Returns true when IE is masked (the caller produces the indefinite).
    pub fn stack_fault(&mut self, overflow: bool) -> bool {
        self.s.fsw |= sw::IE | sw::SF;
        self.set_c1(overflow);
        self.masked(sw::IE)
    }
    pub fn set_c1(&mut self, on: bool) {
        if on {
            self.s.fsw |= sw::C1;
        } else {
            self.s.fsw &= !sw::C1;
        }
    }
    /// Sets C0..C3 from `bits` (in status-word positions).
    pub fn set_cc(&mut self, bits: u16) {
        self.s.fsw = (self.s.fsw & !sw::CC) | (bits & sw::CC);
    }
    /// Merges the status word of a host operation (run with the guest's condition
    /// codes): sticky exception flags and C0..C3 (`_cc` documents whether the operation defines C0/C2/C3; either way the host's
    /// values are taken, which are the guest's own when the operation leaves them). Returns true when the result may be written (no
    /// unmasked invalid, denormal or divide-by-zero exception).
    pub fn merge(&mut self, hfsw: u16, _cc: bool) -> bool {
        self.s.fsw |= hfsw & sw::EXC;
        self.s.fsw = (self.s.fsw & !sw::CC) | (hfsw & sw::CC);
        hfsw & (sw::IE | sw::DE | sw::ZE) & !self.s.fcw == 0
    }
    /// Sets ES and B from the pending unmasked exceptions.
    pub fn finish(&mut self) {
        if self.s.fsw & sw::EXC & !self.s.fcw & 0x3f != 0 {
            self.s.fsw |= sw::ES | sw::B;
        } else {
            self.s.fsw &= !(sw::ES | sw::B);
        }
    }
    /// The status word as software sees it (TOP in bits 11..14).
    pub fn fsw(&self) -> u16 {
        (self.s.fsw & !(7 << 11)) | ((self.s.top as u16 & 7) << 11)
    }
    pub fn set_fsw(&mut self, v: u16) {
        self.s.top = ((v >> 11) & 7) as u8;
        self.s.fsw = v & !(7 << 11);
    }
    /// The tag word with non-empty tags recomputed from the registers (as FNSTENV,
    /// FNSAVE store it).
    pub fn full_tags(&self) -> u16 {
        let mut t = 0;
        for p in 0..8 {
            let tag = if self.tag_phys(p) == TAG_EMPTY {
                TAG_EMPTY
            } else {
                tag_of(&self.get_phys(p))
            };
            t |= tag << (2 * p);
        }
        t
    }
    /// Loads a tag word: only "empty or not" is kept; other tags come from contents.
    pub fn load_tags(&mut self, t: u16) {
        for p in 0..8 {
            let tag = if (t >> (2 * p)) & 3 == TAG_EMPTY {
                TAG_EMPTY
            } else {
                tag_of(&self.get_phys(p))
            };
            self.set_tag_phys(p, tag);
        }
    }
    pub fn init(&mut self) {
        let st = self.s.st;
        self.s = X87State::default();
        self.s.st = st;
    }
}
