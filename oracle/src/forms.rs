//! The table of instruction forms the oracle draws from: every iced-x86 `Code` that is a
//! legacy-encoded (no VEX/EVEX/XOP, no MMX, no x87), user-level, non-branching 64-bit
//! instruction whose operands the generator knows how to fill and whose CPUID features
//! the host has.

use iced_x86::{Code, CpuidFeature, EncodingKind, FlowControl, Mnemonic, OpCodeOperandKind as K};
use std::sync::OnceLock;

/// One instruction form.
#[derive(Clone, Debug)]
pub struct Form {
    pub code: Code,
    pub mnemonic: Mnemonic,
    pub ops: Vec<K>,
    /// A string instruction (operands are implicit `[rSI]`/`[rDI]`).
    pub string: bool,
    /// Uses XMM registers or 128-bit memory: memory operands are 16-byte aligned
    /// (legacy SSE faults on misaligned 128-bit operands).
    pub sse: bool,
    /// A near relative branch (Jcc, JMP, LOOPcc, JrCXZ): generated as a branch over
    /// one instruction, so taken and not taken leave different registers.
    pub branch: bool,
    /// PUSH/POP/ENTER/LEAVE: RSP (and RBP) point into the data area.
    pub stack: bool,
}

/// Near relative branches with a 64-bit target that the oracle tests specially.
fn branch_form(code: Code) -> Option<Form> {
    let oc = code.op_code();
    let near = matches!(oc.op_kinds(), [K::br64_1] | [K::br64_4]);
    let flow = matches!(
        code.flow_control(),
        FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch
    );
    if !near
        || !flow
        || !oc.is_instruction()
        || !oc.mode64()
        || oc.encoding() != EncodingKind::Legacy
        || oc.decoder_option() != 0
        || !oc.intel_decoder64()
        || !oc.amd_decoder64()
        || !code.cpuid_features().iter().all(|f| feature_ok(*f))
        || matches!(code.mnemonic(), Mnemonic::Xbegin | Mnemonic::Jmpe)
    {
        return None;
    }
    Some(Form {
        code,
        mnemonic: code.mnemonic(),
        ops: oc.op_kinds().to_vec(),
        string: false,
        sse: false,
        branch: true,
        stack: false,
    })
}

/// Mnemonics never generated: results that depend on the host, the privilege level or
/// the vendor (approximations), instructions that would disturb the harness, and
/// undefined results.
const DENY: &[Mnemonic] = &[
    Mnemonic::Cpuid,
    Mnemonic::Rdtsc,
    Mnemonic::Rdtscp,
    Mnemonic::Rdpmc,
    Mnemonic::Rdrand,
    Mnemonic::Rdseed,
    Mnemonic::Rdpid,
    Mnemonic::Ud0,
    Mnemonic::Ud1,
    Mnemonic::Ud2,
    Mnemonic::Sgdt,
    Mnemonic::Sidt,
    Mnemonic::Sldt,
    Mnemonic::Str,
    Mnemonic::Smsw,
    Mnemonic::Lsl,
    Mnemonic::Lar,
    Mnemonic::Verr,
    Mnemonic::Verw,
    Mnemonic::Ldmxcsr,
    Mnemonic::Rcpps,
    Mnemonic::Rcpss,
    Mnemonic::Rsqrtps,
    Mnemonic::Rsqrtss,
    Mnemonic::Cli,
    Mnemonic::Sti,
    Mnemonic::Hlt,
    // Segment loads would replace the host's FS/GS (TLS).
    Mnemonic::Lfs,
    Mnemonic::Lgs,
    Mnemonic::Lss,
    // AMD-only, and undefined for some field values.
    Mnemonic::Extrq,
    Mnemonic::Insertq,
    // x87: transcendental approximations differ between vendors; FLDCW could unmask
    // exceptions (a pending #MF would fire in the harness).
    Mnemonic::F2xm1,
    Mnemonic::Fyl2x,
    Mnemonic::Fyl2xp1,
    Mnemonic::Fptan,
    Mnemonic::Fpatan,
    Mnemonic::Fsin,
    Mnemonic::Fcos,
    Mnemonic::Fsincos,
    Mnemonic::Fldcw,
    // Hint space (0F 18-1F): NOP on one vendor, an instruction (or #UD) on another.
    Mnemonic::Reservednop,
];

fn feature_ok(f: CpuidFeature) -> bool {
    use CpuidFeature::*;
    match f {
        INTEL8086 | INTEL186 | INTEL286 | INTEL386 | INTEL486 | X64 | CMOV | CX8 | SSE | SSE2
        | MULTIBYTENOP | PAUSE | CLFSH | FPU | FPU287 | FPU387 => true,
        SSE3 => std::arch::is_x86_feature_detected!("sse3"),
        SSSE3 => std::arch::is_x86_feature_detected!("ssse3"),
        SSE4_1 => std::arch::is_x86_feature_detected!("sse4.1"),
        SSE4_2 => std::arch::is_x86_feature_detected!("sse4.2"),
        SSE4A => std::arch::is_x86_feature_detected!("sse4a"),
        POPCNT => std::arch::is_x86_feature_detected!("popcnt"),
        LZCNT => std::arch::is_x86_feature_detected!("lzcnt"),
        MOVBE => std::arch::is_x86_feature_detected!("movbe"),
        ADX => std::arch::is_x86_feature_detected!("adx"),
        PCLMULQDQ => std::arch::is_x86_feature_detected!("pclmulqdq"),
        AES => std::arch::is_x86_feature_detected!("aes"),
        SHA => std::arch::is_x86_feature_detected!("sha"),
        CMPXCHG16B => std::arch::is_x86_feature_detected!("cmpxchg16b"),
        _ => false,
    }
}

/// Operand kinds the generator can fill.
pub fn operand_supported(k: K) -> bool {
    matches!(
        k,
        K::mem
            | K::mem_offs
            | K::r8_or_mem
            | K::r16_or_mem
            | K::r32_or_mem
            | K::r64_or_mem
            | K::xmm_or_mem
            | K::r8_reg
            | K::r8_opcode
            | K::r16_reg
            | K::r16_rm
            | K::r16_opcode
            | K::r32_reg
            | K::r32_rm
            | K::r32_opcode
            | K::r64_reg
            | K::r64_rm
            | K::r64_opcode
            | K::xmm_reg
            | K::xmm_rm
            | K::st0
            | K::sti_opcode
            | K::al
            | K::cl
            | K::ax
            | K::eax
            | K::rax
            | K::imm8
            | K::imm8_const_1
            | K::imm8sex16
            | K::imm8sex32
            | K::imm8sex64
            | K::imm16
            | K::imm32
            | K::imm32sex64
            | K::imm64
            | K::seg_rSI
            | K::es_rDI
            | K::seg_rBX_al
    )
}

fn eligible(code: Code) -> Option<Form> {
    if let Some(f) = branch_form(code) {
        return Some(f);
    }
    let oc = code.op_code();
    if !oc.is_instruction()
        || !oc.mode64()
        || oc.encoding() != EncodingKind::Legacy
        || oc.decoder_option() != 0
        || !oc.intel_decoder64()
        || !oc.amd_decoder64()
        || oc.is_privileged()
        || oc.may_require_cpl0()
        || oc.is_input_output()
        || (oc.is_stack_instruction()
            && !matches!(
                code.mnemonic(),
                Mnemonic::Push | Mnemonic::Pop | Mnemonic::Enter | Mnemonic::Leave
            ))
        || oc.is_save_restore()
        || code.flow_control() != FlowControl::Next
        || code == Code::Bswap_r16
        || oc.fwait()
        || oc.memory_size().size() > 16
    {
        return None;
    }
    let mnemonic = code.mnemonic();
    if DENY.contains(&mnemonic) || !code.cpuid_features().iter().all(|f| feature_ok(*f)) {
        return None;
    }
    let ops = oc.op_kinds().to_vec();
    if !ops.iter().all(|k| operand_supported(*k)) {
        return None;
    }
    let string = ops.iter().any(|k| matches!(k, K::seg_rSI | K::es_rDI));
    let sse = ops
        .iter()
        .any(|k| matches!(k, K::xmm_or_mem | K::xmm_reg | K::xmm_rm))
        || oc.memory_size().size() >= 16;
    Some(Form {
        code,
        mnemonic,
        ops,
        string,
        sse,
        branch: false,
        stack: oc.is_stack_instruction(),
    })
}

/// Every eligible form, in `Code` order.
pub fn all_forms() -> &'static [Form] {
    static FORMS: OnceLock<Vec<Form>> = OnceLock::new();
    FORMS.get_or_init(|| Code::values().filter_map(eligible).collect())
}

/// The forms whose mnemonic (case-insensitive, as iced spells it) is in `filter`, or
/// all forms when `filter` is empty.
pub fn select(filter: &[String]) -> Vec<&'static Form> {
    select_skip(filter, &[])
}

/// Like [`select`], without the forms whose `Code` name (case-insensitive, e.g.
/// `Leavew`) is in `skip`.
pub fn select_skip(filter: &[String], skip: &[String]) -> Vec<&'static Form> {
    all_forms()
        .iter()
        .filter(|f| {
            filter.is_empty() || {
                let m = format!("{:?}", f.mnemonic);
                filter.iter().any(|x| x.eq_ignore_ascii_case(&m))
            }
        })
        .filter(|f| {
            let c = format!("{:?}", f.code);
            !skip.iter().any(|x| x.eq_ignore_ascii_case(&c))
        })
        .collect()
}
