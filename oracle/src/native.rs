//! Runs one instruction on the host CPU.
//!
//! The region of [`crate::layout`] is mapped at its fixed address (read, write,
//! execute). A fixed prologue saves the host's callee-saved registers, RSP and MXCSR,
//! loads RFLAGS, MXCSR, XMM0-15 and every GPR from the input block and jumps to the
//! instruction at [`TEST_IP`]; the instruction is followed by a jump to an epilogue that
//! stores everything to the output block and returns to Rust. A fault in the
//! instruction (SIGSEGV/SIGBUS/SIGFPE/SIGILL) is caught by a signal handler that
//! records the signal and resumes at a stub which restores the host state, so a
//! faulting case is a result, not a crash.
//!
//! The mapping is process-global; [`with_native`] serialises access.

use crate::layout::*;
use crate::state::{MachineState, Outcome};
use iced_x86::code_asm::*;
use std::sync::{Mutex, OnceLock};

/// Errors setting up native execution.
#[derive(Debug)]
pub enum NativeError {
    /// The fixed region could not be mapped (something else lives there, or the
    /// kernel refuses writable+executable mappings).
    Map(std::io::Error),
    Assemble(String),
    Signal(std::io::Error),
}

impl std::fmt::Display for NativeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NativeError::Map(e) => write!(
                f,
                "cannot map the oracle region at {BASE:#x} (rwx, fixed): {e}; \
                 the oracle needs an x86-64 Linux host that allows such mappings"
            ),
            NativeError::Assemble(e) => write!(f, "cannot assemble the native stubs: {e}"),
            NativeError::Signal(e) => write!(f, "cannot install signal handlers: {e}"),
        }
    }
}
impl std::error::Error for NativeError {}

/// The mapped region and the entry points of the stubs.
pub struct Native {
    entry: u64,
    epilogue: u64,
}

static NATIVE: OnceLock<Result<Mutex<Native>, String>> = OnceLock::new();
static FAULT_STUB: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs `f` with exclusive access to the native runner (set up on first use).
pub fn with_native<R>(f: impl FnOnce(&mut Native) -> R) -> Result<R, String> {
    let n = NATIVE.get_or_init(|| Native::setup().map(Mutex::new).map_err(|e| e.to_string()));
    match n {
        Ok(m) => {
            let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
            Ok(f(&mut g))
        }
        Err(e) => Err(e.clone()),
    }
}

fn asm_err(e: IcedError) -> NativeError {
    NativeError::Assemble(e.to_string())
}

/// Host callee-saved registers, in push order.
fn callee_saved() -> [AsmRegister64; 6] {
    [rbx, rbp, r12, r13, r14, r15]
}

fn gpr64(n: usize) -> AsmRegister64 {
    [
        rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15,
    ][n & 15]
}

fn xmm_reg(n: usize) -> AsmRegisterXmm {
    [
        xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13,
        xmm14, xmm15,
    ][n & 15]
}

/// Emits the host-restoring tail shared by the epilogue and the fault stub.
fn restore_host(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.cld()?;
    a.mov(rax, SAVE)?;
    a.fxrstor64(zmmword_ptr(rax + save::FX as i32))?;
    a.ldmxcsr(dword_ptr(rax + save::MXCSR as i32))?;
    a.mov(rsp, qword_ptr(rax + save::RSP as i32))?;
    for r in callee_saved().iter().rev() {
        a.pop(*r)?;
    }
    a.ret()
}

fn assemble_stubs() -> Result<(Vec<u8>, u64, u64, u64), IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut epi = a.create_label();
    let mut fault = a.create_label();
    // Prologue.
    for r in callee_saved() {
        a.push(r)?;
    }
    a.mov(rax, SAVE)?;
    a.mov(qword_ptr(rax + save::RSP as i32), rsp)?;
    a.stmxcsr(dword_ptr(rax + save::MXCSR as i32))?;
    a.fxsave64(zmmword_ptr(rax + save::FX as i32))?;
    a.mov(rax, IN_BLOCK + block::FX)?;
    a.fxrstor64(zmmword_ptr(rax))?;
    a.mov(rsp, IN_BLOCK + block::RFLAGS)?;
    a.popfq()?;
    a.mov(r15, IN_BLOCK)?;
    a.ldmxcsr(dword_ptr(r15 + block::MXCSR as i32))?;
    for x in 0..16 {
        a.movdqu(
            xmm_reg(x),
            xmmword_ptr(r15 + (block::XMM as i32 + 16 * x as i32)),
        )?;
    }
    for r in 0..15 {
        if r != 4 {
            a.mov(
                gpr64(r),
                qword_ptr(r15 + (block::GPR as i32 + 8 * r as i32)),
            )?;
        }
    }
    a.mov(rsp, qword_ptr(r15 + (block::GPR as i32 + 8 * 4)))?;
    a.mov(r15, qword_ptr(r15 + (block::GPR as i32 + 8 * 15)))?;
    a.jmp(TEST_IP)?;
    // Epilogue: absolute [disp32] stores, so no register is needed as a base.
    a.set_label(&mut epi)?;
    for r in 0..16 {
        a.mov(qword_ptr(OUT_BLOCK + block::GPR + 8 * r as u64), gpr64(r))?;
    }
    a.mov(rsp, OUT_BLOCK + block::RFLAGS + 8)?;
    a.pushfq()?;
    a.fxsave64(zmmword_ptr(OUT_BLOCK + block::FX))?;
    a.stmxcsr(dword_ptr(OUT_BLOCK + block::MXCSR))?;
    for x in 0..16 {
        a.movdqu(
            xmmword_ptr(OUT_BLOCK + block::XMM + 16 * x as u64),
            xmm_reg(x),
        )?;
    }
    restore_host(&mut a)?;
    // Fault stub: the signal handler resumes here.
    a.set_label(&mut fault)?;
    restore_host(&mut a)?;
    let r = a.assemble_options(
        NATIVE_CODE,
        iced_x86::BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
    )?;
    let epi_ip = r.label_ip(&epi)?;
    let fault_ip = r.label_ip(&fault)?;
    Ok((r.inner.code_buffer, NATIVE_CODE, epi_ip, fault_ip))
}

extern "C" fn on_fault(sig: libc::c_int, _info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    let stub = FAULT_STUB.load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: the kernel passes a valid ucontext_t for SA_SIGINFO handlers; we only
    // read and write the saved RIP in it.
    let uc = unsafe { &mut *(uctx as *mut libc::ucontext_t) };
    let rip = uc.uc_mcontext.gregs[libc::REG_RIP as usize] as u64;
    if stub != 0 && (BASE..DATA).contains(&rip) {
        // SAFETY: SAVE lies in the region mapped by `Native::setup` for the whole life
        // of the process (it is never unmapped).
        unsafe { std::ptr::write_volatile((SAVE + save::SIGNAL) as *mut u64, sig as u64) };
        uc.uc_mcontext.gregs[libc::REG_RIP as usize] = stub as i64;
    } else {
        // Not ours: fall back to the default action, which the re-executed access
        // then triggers.
        // SAFETY: resetting a signal disposition to its default is always valid.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

impl Native {
    fn setup() -> Result<Native, NativeError> {
        // SAFETY: a fresh anonymous mapping at a fixed address that must not replace
        // anything (MAP_FIXED_NOREPLACE); the result is checked.
        let p = unsafe {
            libc::mmap(
                BASE as *mut libc::c_void,
                REGION_LEN,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED || p as u64 != BASE {
            return Err(NativeError::Map(std::io::Error::last_os_error()));
        }
        let (code, entry, epilogue, fault) = assemble_stubs().map_err(asm_err)?;
        if code.len() > 0x1000 {
            return Err(NativeError::Assemble("stubs exceed one page".into()));
        }
        write_bytes(NATIVE_CODE, &code);
        FAULT_STUB.store(fault, std::sync::atomic::Ordering::Relaxed);
        for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL] {
            // SAFETY: sigaction is plain data; zeroed is a valid initial value.
            let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
            sa.sa_sigaction = on_fault as *const () as usize;
            // On the thread's alternate stack when it has one (Rust installs one), so
            // a fault never pushes a signal frame into the region below the case's RSP.
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: installs a handler for a synchronous fault signal; the handler
            // only touches the fixed region and the signal context.
            let rc = unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) };
            if rc != 0 {
                return Err(NativeError::Signal(std::io::Error::last_os_error()));
            }
        }
        Ok(Native { entry, epilogue })
    }

    /// Runs the instruction `code` (encoded for RIP = TEST_IP) on `input`.
    pub fn run(&mut self, code: &[u8], input: &MachineState) -> Outcome {
        let mut buf = code.to_vec();
        let after = TEST_IP + buf.len() as u64 + 5;
        let rel = self.epilogue.wrapping_sub(after) as i64 as i32;
        buf.push(0xe9);
        buf.extend_from_slice(&rel.to_le_bytes());
        write_bytes(TEST_IP, &buf);
        write_block(IN_BLOCK, input);
        write_bytes(DATA, &input.data);
        write_bytes(SAVE + save::SIGNAL, &0u64.to_le_bytes());
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
        // SAFETY: `entry` is the prologue assembled in `setup`, which follows the C
        // calling convention: it preserves the callee-saved registers, RSP, MXCSR and
        // DF, and clobbers only caller-saved registers and the fixed region. The
        // instruction under test was generated to touch only the region's data area
        // and registers; faults are caught by `on_fault` and return through the stub.
        let f: extern "C" fn() = unsafe { std::mem::transmute(self.entry as usize) };
        f();
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
        let sig = read_u64(SAVE + save::SIGNAL);
        if sig != 0 {
            let vector = match sig as i32 {
                libc::SIGFPE => 0,
                libc::SIGILL => 6,
                libc::SIGBUS => 17,
                _ => 13,
            };
            return Outcome::Fault { vector };
        }
        let mut out = read_block(OUT_BLOCK);
        read_bytes(DATA, &mut out.data);
        Outcome::Done(Box::new(out))
    }
}

fn write_bytes(addr: u64, data: &[u8]) {
    for (k, b) in data.iter().enumerate() {
        // SAFETY: callers only pass addresses inside the fixed region mapped in
        // `setup` (checked by the `debug_assert`), which is never unmapped.
        unsafe { std::ptr::write_volatile((addr + k as u64) as *mut u8, *b) };
    }
    debug_assert!(addr >= BASE && addr + data.len() as u64 <= BASE + REGION_LEN as u64);
}

fn read_bytes(addr: u64, out: &mut [u8]) {
    debug_assert!(addr >= BASE && addr + out.len() as u64 <= BASE + REGION_LEN as u64);
    for (k, b) in out.iter_mut().enumerate() {
        // SAFETY: as in `write_bytes`.
        *b = unsafe { std::ptr::read_volatile((addr + k as u64) as *const u8) };
    }
}

fn read_u64(addr: u64) -> u64 {
    let mut b = [0u8; 8];
    read_bytes(addr, &mut b);
    u64::from_le_bytes(b)
}

fn write_block(at: u64, s: &MachineState) {
    for (r, v) in s.gpr.iter().enumerate() {
        write_bytes(at + block::GPR + 8 * r as u64, &v.to_le_bytes());
    }
    write_bytes(at + block::RFLAGS, &s.rflags.to_le_bytes());
    write_bytes(at + block::MXCSR, &s.mxcsr.to_le_bytes());
    for (x, v) in s.xmm.iter().enumerate() {
        write_bytes(at + block::XMM + 16 * x as u64, &v[0].to_le_bytes());
        write_bytes(at + block::XMM + 16 * x as u64 + 8, &v[1].to_le_bytes());
    }
    write_bytes(at + block::FX, &fx_image(s));
}

/// The FXSAVE image that FXRSTOR loads for `s`.
fn fx_image(s: &MachineState) -> [u8; 512] {
    let mut img = [0u8; 512];
    img[0..2].copy_from_slice(&s.x87.fcw.to_le_bytes());
    img[2..4].copy_from_slice(&s.x87.fsw.to_le_bytes());
    img[4] = s.x87.tags;
    img[24..28].copy_from_slice(&s.mxcsr.to_le_bytes());
    for (i, v) in s.x87.st.iter().enumerate() {
        img[32 + 16 * i..][..10].copy_from_slice(v);
    }
    for (x, v) in s.xmm.iter().enumerate() {
        img[160 + 16 * x..][..8].copy_from_slice(&v[0].to_le_bytes());
        img[168 + 16 * x..][..8].copy_from_slice(&v[1].to_le_bytes());
    }
    img
}

fn read_block(at: u64) -> MachineState {
    let mut s = MachineState::default();
    for r in 0..16 {
        s.gpr[r] = read_u64(at + block::GPR + 8 * r as u64);
    }
    s.rflags = read_u64(at + block::RFLAGS);
    let mut img = [0u8; 512];
    read_bytes(at + block::FX, &mut img);
    s.x87.fcw = u16::from_le_bytes([img[0], img[1]]);
    s.x87.fsw = u16::from_le_bytes([img[2], img[3]]);
    s.x87.tags = img[4];
    for (i, v) in s.x87.st.iter_mut().enumerate() {
        v.copy_from_slice(&img[32 + 16 * i..][..10]);
    }
    s.mxcsr = read_u64(at + block::MXCSR) as u32;
    for x in 0..16 {
        s.xmm[x] = [
            read_u64(at + block::XMM + 16 * x as u64),
            read_u64(at + block::XMM + 16 * x as u64 + 8),
        ];
    }
    s
}
