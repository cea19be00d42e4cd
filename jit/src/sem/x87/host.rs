//! IEEE-specified x87 operations performed by the host's own x87 unit.
//!
//! Basic arithmetic, square root, rounding, remainders, scaling, conversions and
//! comparisons are fully specified (IEEE 754 plus the SDM's x87 rules for NaNs,
//! precision control and C1), so running the same instruction on any x86-64 host gives
//! bit-identical results and status flags. Each wrapper loads (FLDENV) the guest's
//! control word, exception masks included, and condition codes with an empty register
//! stack, runs the operation on 80-bit values in a [`Frame`], reads the status word
//! right after it, and takes register results with FNSAVE. Only non-waiting
//! instructions follow the operation and FNSAVE reinitialises the unit, so an unmasked
//! exception never traps on the host; with OE/UE unmasked the host produces exactly the
//! exponent-adjusted result hardware writes. The host register stack is left empty (as
//! the ABI requires) and the host control word is restored.
//!
//! Transcendental instructions are NOT done here: their results differ between vendors.

/// The in-memory operands of a host operation. Offsets are used by the asm below.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// +0: first operand (ST(0) of the operation), 80-bit.
    pub a: [u8; 16],
    /// +16: second operand (ST(1)), 80-bit.
    pub b: [u8; 16],
    /// +32: memory operand bytes (m16/m32/m64 integer or float).
    pub m: [u8; 16],
    /// +48: result (80-bit, or the m16/m32/m64 of a store).
    pub r: [u8; 16],
    /// +64: second result (FXTRACT's exponent).
    pub r2: [u8; 16],
    pub _pad: [u8; 16],
    /// +96: control word to run with (exceptions masked).
    pub fcw: u16,
    /// +98: the host's control word, saved.
    pub saved: u16,
    /// +100: status word read right after the operation.
    pub fsw: u16,
    pub _pad2: [u8; 10],
    /// +112: the environment loaded before the operation (FLDENV, 28 bytes): the
    /// control word to run with, the guest's condition codes (which some operations
    /// leave unchanged), no exception flags, TOP = 0, all registers empty.
    pub env: [u8; 32],
    pub _pad3: [u8; 16],
    /// +160: FNSAVE image taken after the operation (registers at +28: ST(0), ST(1)).
    pub save: [u8; 112],
}

macro_rules! host_fns {
    ($( $name:ident => [$($body:literal),* $(,)?]; )*) => {
        $(
            pub fn $name(f: &mut Frame) {
                let p: *mut Frame = f;
                // SAFETY: `p` points at a live, exclusively borrowed Frame; the asm only
                // touches its fields (offsets documented on `Frame`) and the x87 unit,
                // whose register stack it leaves empty and whose control word it
                // restores; all x87 registers are declared clobbered.
                unsafe {
                    core::arch::asm!(
                        "fnstcw word ptr [{p} + 98]",
                        "fldenv [{p} + 112]",
                        $($body,)*
                        "fnsave [{p} + 160]",
                        "fldcw word ptr [{p} + 98]",
                        p = in(reg) p,
                        out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                        out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                        options(nostack),
                    );
                }
            }
        )*
    };
}

// Two-operand register forms: ST(0) = a, ST(1) = b; result is the new ST(0).
host_fns! {
    add => ["fld tbyte ptr [{p} + 16]", "fld tbyte ptr [{p}]", "fadd st(0), st(1)",
            "fnstsw word ptr [{p} + 100]"];
}

host_fns! {
    sub => ["fld tbyte ptr [{p} + 16]", "fld tbyte ptr [{p}]", "fsub st(0), st(1)",
            "fnstsw word ptr [{p} + 100]"];
    mul => ["fld tbyte ptr [{p} + 16]", "fld tbyte ptr [{p}]", "fmul st(0), st(1)",
            "fnstsw word ptr [{p} + 100]"];
    div => ["fld tbyte ptr [{p} + 16]", "fld tbyte ptr [{p}]", "fdiv st(0), st(1)",
            "fnstsw word ptr [{p} + 100]"];
    prem => ["fld tbyte ptr [{p} + 16]", "fld tbyte ptr [{p}]", "fprem",
            "fnstsw word ptr [{p} + 100]"];
    prem1 => ["fld tbyte ptr [{p} + 16]", "fld tbyte ptr [{p}]", "fprem1",
            "fnstsw word ptr [{p} + 100]"];
    scale => ["fld tbyte ptr [{p} + 16]", "fld tbyte ptr [{p}]", "fscale",
            "fnstsw word ptr [{p} + 100]"];

    // ST(0) = a op memory operand.
    add_m32 => ["fld tbyte ptr [{p}]", "fadd dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    sub_m32 => ["fld tbyte ptr [{p}]", "fsub dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    subr_m32 => ["fld tbyte ptr [{p}]", "fsubr dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    mul_m32 => ["fld tbyte ptr [{p}]", "fmul dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    div_m32 => ["fld tbyte ptr [{p}]", "fdiv dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    divr_m32 => ["fld tbyte ptr [{p}]", "fdivr dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    add_m64 => ["fld tbyte ptr [{p}]", "fadd qword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    sub_m64 => ["fld tbyte ptr [{p}]", "fsub qword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    subr_m64 => ["fld tbyte ptr [{p}]", "fsubr qword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    mul_m64 => ["fld tbyte ptr [{p}]", "fmul qword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    div_m64 => ["fld tbyte ptr [{p}]", "fdiv qword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    divr_m64 => ["fld tbyte ptr [{p}]", "fdivr qword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    add_i16 => ["fld tbyte ptr [{p}]", "fiadd word ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    sub_i16 => ["fld tbyte ptr [{p}]", "fisub word ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    subr_i16 => ["fld tbyte ptr [{p}]", "fisubr word ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    mul_i16 => ["fld tbyte ptr [{p}]", "fimul word ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    div_i16 => ["fld tbyte ptr [{p}]", "fidiv word ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    divr_i16 => ["fld tbyte ptr [{p}]", "fidivr word ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    add_i32 => ["fld tbyte ptr [{p}]", "fiadd dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    sub_i32 => ["fld tbyte ptr [{p}]", "fisub dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    subr_i32 => ["fld tbyte ptr [{p}]", "fisubr dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    mul_i32 => ["fld tbyte ptr [{p}]", "fimul dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    div_i32 => ["fld tbyte ptr [{p}]", "fidiv dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    divr_i32 => ["fld tbyte ptr [{p}]", "fidivr dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];

    // Unary on ST(0) = a.
    sqrt => ["fld tbyte ptr [{p}]", "fsqrt", "fnstsw word ptr [{p} + 100]"];
    rndint => ["fld tbyte ptr [{p}]", "frndint", "fnstsw word ptr [{p} + 100]"];
    xtract => ["fld tbyte ptr [{p}]", "fxtract", "fnstsw word ptr [{p} + 100]"];

    // Comparisons: C0/C2/C3 in the status word.
    com => ["fld tbyte ptr [{p} + 16]", "fld tbyte ptr [{p}]", "fcompp", "fnstsw word ptr [{p} + 100]"];
    ucom => ["fld tbyte ptr [{p} + 16]", "fld tbyte ptr [{p}]", "fucompp", "fnstsw word ptr [{p} + 100]"];
    com_m32 => ["fld tbyte ptr [{p}]", "fcomp dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    com_m64 => ["fld tbyte ptr [{p}]", "fcomp qword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    com_i16 => ["fld tbyte ptr [{p}]", "ficomp word ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    com_i32 => ["fld tbyte ptr [{p}]", "ficomp dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    tst => ["fld tbyte ptr [{p}]", "ftst", "fnstsw word ptr [{p} + 100]"];

    // Loads into 80-bit.
    ld_m32 => ["fld dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    ld_m64 => ["fld qword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    ld_i16 => ["fild word ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    ld_i32 => ["fild dword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    ld_i64 => ["fild qword ptr [{p} + 32]", "fnstsw word ptr [{p} + 100]"];
    ld1 => ["fld1", "fnstsw word ptr [{p} + 100]"];
    ldz => ["fldz", "fnstsw word ptr [{p} + 100]"];
    ldpi => ["fldpi", "fnstsw word ptr [{p} + 100]"];
    ldl2e => ["fldl2e", "fnstsw word ptr [{p} + 100]"];
    ldl2t => ["fldl2t", "fnstsw word ptr [{p} + 100]"];
    ldlg2 => ["fldlg2", "fnstsw word ptr [{p} + 100]"];
    ldln2 => ["fldln2", "fnstsw word ptr [{p} + 100]"];

    // Stores of ST(0) = a to the result slot.
    st_m32 => ["fld tbyte ptr [{p}]", "fstp dword ptr [{p} + 48]", "fnstsw word ptr [{p} + 100]"];
    st_m64 => ["fld tbyte ptr [{p}]", "fstp qword ptr [{p} + 48]", "fnstsw word ptr [{p} + 100]"];
    ist_i16 => ["fld tbyte ptr [{p}]", "fistp word ptr [{p} + 48]", "fnstsw word ptr [{p} + 100]"];
    ist_i32 => ["fld tbyte ptr [{p}]", "fistp dword ptr [{p} + 48]", "fnstsw word ptr [{p} + 100]"];
    ist_i64 => ["fld tbyte ptr [{p}]", "fistp qword ptr [{p} + 48]", "fnstsw word ptr [{p} + 100]"];
    istt_i16 => ["fld tbyte ptr [{p}]", "fisttp word ptr [{p} + 48]", "fnstsw word ptr [{p} + 100]"];
    istt_i32 => ["fld tbyte ptr [{p}]", "fisttp dword ptr [{p} + 48]", "fnstsw word ptr [{p} + 100]"];
    istt_i64 => ["fld tbyte ptr [{p}]", "fisttp qword ptr [{p} + 48]", "fnstsw word ptr [{p} + 100]"];
}

/// Runs `op` with control word `fcw` (the guest's, exception masks included) and the condition
/// codes of `fsw`. Returns the frame.
pub fn run_cc(op: fn(&mut Frame), fcw: u16, fsw: u16, a: [u8; 10], b: [u8; 10], m: u64) -> Frame {
    let mut f = Frame {
        fcw,
        ..Default::default()
    };
    f.env[0..2].copy_from_slice(&fcw.to_le_bytes());
    f.env[4..6].copy_from_slice(&(fsw & 0x4700).to_le_bytes());
    f.env[8..10].copy_from_slice(&0xffffu16.to_le_bytes());
    f.a[..10].copy_from_slice(&a);
    f.b[..10].copy_from_slice(&b);
    f.m[..8].copy_from_slice(&m.to_le_bytes());
    op(&mut f);
    f
}

/// [`run_cc`] with all condition codes clear.
pub fn run(op: fn(&mut Frame), fcw: u16, a: [u8; 10], b: [u8; 10], m: u64) -> Frame {
    run_cc(op, fcw, 0, a, b, m)
}

impl Default for Frame {
    fn default() -> Self {
        Frame {
            a: [0; 16],
            b: [0; 16],
            m: [0; 16],
            r: [0; 16],
            r2: [0; 16],
            _pad: [0; 16],
            fcw: 0,
            saved: 0,
            fsw: 0,
            _pad2: [0; 10],
            env: [0; 32],
            _pad3: [0; 16],
            save: [0; 112],
        }
    }
}

impl Frame {
    /// ST(0) after the operation.
    pub fn result(&self) -> [u8; 10] {
        let mut r = [0u8; 10];
        r.copy_from_slice(&self.save[28..38]);
        r
    }
    /// ST(1) after the operation.
    pub fn result2(&self) -> [u8; 10] {
        let mut r = [0u8; 10];
        r.copy_from_slice(&self.save[38..48]);
        r
    }
    pub fn result_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.r[..8]);
        u64::from_le_bytes(b)
    }
}
