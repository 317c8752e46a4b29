//! Decoding `ESR_EL1`, the exception syndrome register (Arm ARM D24.2.41).

/// The exception class, `ESR_EL1.EC` (bits \[31:26\]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionClass {
    Unknown,
    WfiWfe,
    FpAccess,
    IllegalState,
    Svc64,
    Hvc64,
    Smc64,
    SysReg,
    InstructionAbortLowerEl,
    InstructionAbortSameEl,
    PcAlignment,
    DataAbortLowerEl,
    DataAbortSameEl,
    SpAlignment,
    Fp64,
    SError,
    BreakpointLowerEl,
    BreakpointSameEl,
    SoftwareStepLowerEl,
    SoftwareStepSameEl,
    WatchpointLowerEl,
    WatchpointSameEl,
    Brk64,
    Other(u8),
}

/// Fault status of an abort, from `ESR_EL1.ISS.{I,D}FSC` (bits \[5:0\]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultStatus {
    AddressSize { level: u8 },
    Translation { level: u8 },
    AccessFlag { level: u8 },
    Permission { level: u8 },
    SynchronousExternal,
    Alignment,
    Other(u8),
}

/// A decoded syndrome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syndrome(pub u64);

impl Syndrome {
    #[inline]
    pub fn class(self) -> ExceptionClass {
        use ExceptionClass::*;
        match ((self.0 >> 26) & 0x3f) as u8 {
            0x00 => Unknown,
            0x01 => WfiWfe,
            0x07 => FpAccess,
            0x0e => IllegalState,
            0x15 => Svc64,
            0x16 => Hvc64,
            0x17 => Smc64,
            0x18 => SysReg,
            0x20 => InstructionAbortLowerEl,
            0x21 => InstructionAbortSameEl,
            0x22 => PcAlignment,
            0x24 => DataAbortLowerEl,
            0x25 => DataAbortSameEl,
            0x26 => SpAlignment,
            0x2c => Fp64,
            0x2f => SError,
            0x30 => BreakpointLowerEl,
            0x31 => BreakpointSameEl,
            0x32 => SoftwareStepLowerEl,
            0x33 => SoftwareStepSameEl,
            0x34 => WatchpointLowerEl,
            0x35 => WatchpointSameEl,
            0x3c => Brk64,
            ec => Other(ec),
        }
    }

    /// The fault status, for instruction and data aborts.
    #[inline]
    pub fn fault_status(self) -> Option<FaultStatus> {
        use ExceptionClass::*;
        if !matches!(
            self.class(),
            InstructionAbortLowerEl | InstructionAbortSameEl | DataAbortLowerEl | DataAbortSameEl
        ) {
            return None;
        }
        let fsc = (self.0 & 0x3f) as u8;
        let level = fsc & 0b11;
        Some(match fsc & 0b11_1100 {
            0b00_0000 => FaultStatus::AddressSize { level },
            0b00_0100 => FaultStatus::Translation { level },
            0b00_1000 => FaultStatus::AccessFlag { level },
            0b00_1100 => FaultStatus::Permission { level },
            _ if fsc == 0b01_0000 => FaultStatus::SynchronousExternal,
            _ if fsc == 0b10_0001 => FaultStatus::Alignment,
            _ => FaultStatus::Other(fsc),
        })
    }

    /// For data aborts: whether the access was a write (`ISS.WnR`).
    #[inline]
    pub fn is_write(self) -> bool {
        matches!(self.class(), ExceptionClass::DataAbortLowerEl | ExceptionClass::DataAbortSameEl)
            && self.0 & (1 << 6) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_abort_same_el_translation_fault_write() {
        // EC=0x25, IL=1, WnR=1, DFSC=0b000111 (translation fault, level 3).
        let s = Syndrome((0x25 << 26) | (1 << 25) | (1 << 6) | 0b000111);
        assert_eq!(s.class(), ExceptionClass::DataAbortSameEl);
        assert_eq!(s.fault_status(), Some(FaultStatus::Translation { level: 3 }));
        assert!(s.is_write());
    }

    #[test]
    fn instruction_abort_permission_and_address_size() {
        let s = Syndrome((0x21 << 26) | 0b001101);
        assert_eq!(s.class(), ExceptionClass::InstructionAbortSameEl);
        assert_eq!(s.fault_status(), Some(FaultStatus::Permission { level: 1 }));
        assert!(!s.is_write());
        let s = Syndrome(0x25 << 26); // DFSC 0b000000: address size fault, level 0
        assert_eq!(s.fault_status(), Some(FaultStatus::AddressSize { level: 0 }));
        let s = Syndrome((0x24 << 26) | 0b001011);
        assert_eq!(s.fault_status(), Some(FaultStatus::AccessFlag { level: 3 }));
        let s = Syndrome((0x25 << 26) | 0b010000);
        assert_eq!(s.fault_status(), Some(FaultStatus::SynchronousExternal));
    }

    #[test]
    fn non_aborts_have_no_fault_status() {
        assert_eq!(Syndrome(0x15 << 26).class(), ExceptionClass::Svc64);
        assert_eq!(Syndrome(0x15 << 26).fault_status(), None);
        assert_eq!(Syndrome(0x3c << 26).class(), ExceptionClass::Brk64);
        assert_eq!(Syndrome(0x3f << 26).class(), ExceptionClass::Other(0x3f));
        assert!(!Syndrome((0x15 << 26) | (1 << 6)).is_write());
    }
}
