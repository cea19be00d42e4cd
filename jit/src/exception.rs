//! Architectural exceptions raised by instructions.

/// Exception vectors.
pub mod vec {
    pub const DE: u8 = 0;
    pub const DB: u8 = 1;
    pub const NMI: u8 = 2;
    pub const BP: u8 = 3;
    pub const OF: u8 = 4;
    pub const BR: u8 = 5;
    pub const UD: u8 = 6;
    pub const NM: u8 = 7;
    pub const DF: u8 = 8;
    pub const TS: u8 = 10;
    pub const NP: u8 = 11;
    pub const SS: u8 = 12;
    pub const GP: u8 = 13;
    pub const PF: u8 = 14;
    pub const MF: u8 = 16;
    pub const AC: u8 = 17;
    pub const MC: u8 = 18;
    pub const XM: u8 = 19;
}

/// An exception raised by an instruction, not yet delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub vector: u8,
    pub error_code: Option<u32>,
    /// The faulting linear address for #PF (goes to CR2).
    pub address: u64,
}

impl Fault {
    pub const fn new(vector: u8) -> Self {
        Fault {
            vector,
            error_code: None,
            address: 0,
        }
    }
    pub const fn with_code(vector: u8, code: u32) -> Self {
        Fault {
            vector,
            error_code: Some(code),
            address: 0,
        }
    }
    pub const fn page(address: u64, code: u32) -> Self {
        Fault {
            vector: vec::PF,
            error_code: Some(code),
            address,
        }
    }
    pub const fn ud() -> Self {
        Self::new(vec::UD)
    }
    pub const fn gp0() -> Self {
        Self::with_code(vec::GP, 0)
    }
    /// Packs into a u64 for generated code: vector | has_code << 8 | code << 32.
    pub fn pack(&self) -> u64 {
        self.vector as u64
            | (self.error_code.is_some() as u64) << 8
            | (self.error_code.unwrap_or(0) as u64) << 32
    }
    pub fn unpack(v: u64, address: u64) -> Self {
        Fault {
            vector: v as u8,
            error_code: if v & 0x100 != 0 {
                Some((v >> 32) as u32)
            } else {
                None
            },
            address,
        }
    }
    pub fn name(&self) -> &'static str {
        match self.vector {
            vec::DE => "#DE divide error",
            vec::DB => "#DB debug",
            vec::NMI => "NMI",
            vec::BP => "#BP breakpoint",
            vec::OF => "#OF overflow",
            vec::BR => "#BR bound range",
            vec::UD => "#UD invalid opcode",
            vec::NM => "#NM device not available",
            vec::DF => "#DF double fault",
            vec::TS => "#TS invalid TSS",
            vec::NP => "#NP segment not present",
            vec::SS => "#SS stack fault",
            vec::GP => "#GP general protection",
            vec::PF => "#PF page fault",
            vec::MF => "#MF x87 floating-point error",
            vec::AC => "#AC alignment check",
            vec::MC => "#MC machine check",
            vec::XM => "#XM SIMD floating-point",
            _ => "exception",
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (vector {})", self.name(), self.vector)?;
        if let Some(c) = self.error_code {
            write!(f, ", error code {c:#x}")?;
        }
        if self.vector == vec::PF {
            write!(f, ", address {:#x}", self.address)?;
        }
        Ok(())
    }
}
