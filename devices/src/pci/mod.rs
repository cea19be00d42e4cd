//! PCI: the functions' side ([`PciFunction`]). The host bridge and configuration
//! mechanism #1 come next.

mod function;

pub use function::{BarKind, FunctionHost, NullHost, PciFunction, PciIdentity};
