//! The bus's snapshot state: CONFIG_ADDRESS, the reset control register, and for each
//! occupied slot its header and the function's own state blob.

use super::header::HeaderState;
use super::{Pci, SLOTS};
use serde::{Deserialize, Serialize};

/// One function's part of [`PciState`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionState {
    pub slot: u8,
    /// Checked on restore: the snapshot must be of a machine with the same functions.
    pub vendor_id: u16,
    pub device_id: u16,
    pub header: HeaderState,
    /// What the function's `save_state` returned.
    pub function: Vec<u8>,
}

/// The bus's guest-visible state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciState {
    pub config_address: u32,
    pub reset_control: u8,
    pub functions: Vec<FunctionState>,
}

impl Pci {
    pub fn state(&self) -> PciState {
        PciState {
            config_address: self.config_address,
            reset_control: self.reset_control,
            functions: self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let s = s.as_ref()?;
                    Some(FunctionState {
                        slot: i as u8,
                        vendor_id: s.h.id.vendor_id,
                        device_id: s.h.id.device_id,
                        header: s.h.s.clone(),
                        function: s.f.save_state(),
                    })
                })
                .collect(),
        }
    }

    /// Restores `st` into a bus with the same functions in the same slots (checked
    /// before anything changes). Each function is told its bus-master bit again after
    /// its own state is back.
    pub fn restore(&mut self, st: &PciState) -> Result<(), String> {
        let mut present = [false; SLOTS];
        for fs in &st.functions {
            let s = self
                .slots
                .get(usize::from(fs.slot))
                .and_then(|s| s.as_ref())
                .ok_or_else(|| {
                    format!(
                        "the snapshot has PCI function {:04x}:{:04x} in slot {}, which this machine leaves empty; restore with the same devices",
                        fs.vendor_id, fs.device_id, fs.slot
                    )
                })?;
            if (s.h.id.vendor_id, s.h.id.device_id) != (fs.vendor_id, fs.device_id) {
                return Err(format!(
                    "PCI slot {} holds {:04x}:{:04x} but the snapshot has {:04x}:{:04x} there; restore with the same devices",
                    fs.slot, s.h.id.vendor_id, s.h.id.device_id, fs.vendor_id, fs.device_id
                ));
            }
            if let Some(p) = present.get_mut(usize::from(fs.slot)) {
                *p = true;
            }
        }
        if let Some((i, s)) = self
            .slots
            .iter()
            .enumerate()
            .find_map(|(i, s)| Some((i, s.as_ref()?)).filter(|_| present.get(i) != Some(&true)))
        {
            return Err(format!(
                "PCI slot {i} holds {:04x}:{:04x}, which the snapshot does not have; restore with the same devices",
                s.h.id.vendor_id, s.h.id.device_id
            ));
        }
        for fs in &st.functions {
            if let Some(s) = self
                .slots
                .get_mut(usize::from(fs.slot))
                .and_then(|s| s.as_mut())
            {
                s.f.restore_state(&fs.function).map_err(|e| {
                    format!(
                        "PCI function {:04x}:{:04x} in slot {}: {e}",
                        fs.vendor_id, fs.device_id, fs.slot
                    )
                })?;
                s.h.s = fs.header.clone();
                let bm = s.h.s.command & super::header::command::BUS_MASTER != 0;
                s.f.set_bus_master(bm);
            }
        }
        self.config_address = st.config_address;
        self.reset_control = st.reset_control;
        self.reset_request = false;
        Ok(())
    }
}
