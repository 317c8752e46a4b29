//! `zx_rights_t`: the rights a handle carries (digest §1.2).

use vm_core::platform::MmuFlags;

bitflags::bitflags! {
    /// Rights of a handle, with Zircon's bit values (`rights.h`, digest §1.2).
    ///
    /// A handle's rights never grow: duplication and replacement may only
    /// keep or drop rights. Unknown bits are kept (`from_bits_retain`) so that
    /// a request for rights a handle does not have fails as Zircon's does.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Rights: u32 {
        const DUPLICATE = 1 << 0;
        const TRANSFER = 1 << 1;
        const READ = 1 << 2;
        const WRITE = 1 << 3;
        const EXECUTE = 1 << 4;
        const MAP = 1 << 5;
        const GET_PROPERTY = 1 << 6;
        const SET_PROPERTY = 1 << 7;
        const ENUMERATE = 1 << 8;
        const DESTROY = 1 << 9;
        const SET_POLICY = 1 << 10;
        const GET_POLICY = 1 << 11;
        const SIGNAL = 1 << 12;
        const SIGNAL_PEER = 1 << 13;
        const WAIT = 1 << 14;
        const INSPECT = 1 << 15;
        const MANAGE_JOB = 1 << 16;
        const MANAGE_PROCESS = 1 << 17;
        const MANAGE_THREAD = 1 << 18;
        const APPLY_PROFILE = 1 << 19;
        const MANAGE_SOCKET = 1 << 20;
        const OP_CHILDREN = 1 << 21;
        const RESIZE = 1 << 22;
        const ATTACH_VMO = 1 << 23;
        const MANAGE_VMO = 1 << 24;
        /// `ZX_RIGHT_SAME_RIGHTS`: not a right but a request, to
        /// `handle_duplicate` and `handle_replace`, to keep the source's rights.
        const SAME_RIGHTS = 1 << 31;
    }
}

impl Rights {
    /// `ZX_RIGHTS_BASIC`.
    pub const BASIC: Rights =
        Rights::TRANSFER.union(Rights::DUPLICATE).union(Rights::WAIT).union(Rights::INSPECT);

    /// `ZX_DEFAULT_VMO_RIGHTS`; a resizable VMO's handle also gets
    /// [`Rights::RESIZE`] (digest §1.2, §2.8).
    pub const DEFAULT_VMO: Rights = Rights::BASIC
        .union(Rights::READ)
        .union(Rights::WRITE)
        .union(Rights::GET_PROPERTY)
        .union(Rights::SET_PROPERTY)
        .union(Rights::MAP)
        .union(Rights::SIGNAL);

    /// `ZX_DEFAULT_VMAR_RIGHTS`; a VMAR's handle also gets READ, WRITE and
    /// EXECUTE for each `CAN_MAP_*` permission the VMAR was created with.
    pub const DEFAULT_VMAR: Rights = Rights::BASIC.difference(Rights::WAIT).union(Rights::OP_CHILDREN);

    /// `ZX_DEFAULT_PAGER_RIGHTS`.
    pub const DEFAULT_PAGER: Rights =
        Rights::INSPECT.union(Rights::TRANSFER).union(Rights::ATTACH_VMO).union(Rights::MANAGE_VMO);

    /// `ZX_DEFAULT_PORT_RIGHTS`.
    pub const DEFAULT_PORT: Rights =
        Rights::BASIC.difference(Rights::WAIT).union(Rights::READ).union(Rights::WRITE);
}

impl Rights {
    /// READ, WRITE and EXECUTE for the mapping permissions in `perms`: what
    /// a handle needs to map or protect with them (digest §2.12, §2.13).
    pub(crate) fn from_perms(perms: MmuFlags) -> Rights {
        let mut rights = Rights::empty();
        rights.set(Rights::READ, perms.contains(MmuFlags::READ));
        rights.set(Rights::WRITE, perms.contains(MmuFlags::WRITE));
        rights.set(Rights::EXECUTE, perms.contains(MmuFlags::EXECUTE));
        rights
    }

    /// The mapping permissions READ, WRITE and EXECUTE in these rights allow.
    pub(crate) fn perms(self) -> MmuFlags {
        let mut perms = MmuFlags::empty();
        perms.set(MmuFlags::READ, self.contains(Rights::READ));
        perms.set(MmuFlags::WRITE, self.contains(Rights::WRITE));
        perms.set(MmuFlags::EXECUTE, self.contains(Rights::EXECUTE));
        perms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_values_match_zircon() {
        assert_eq!(Rights::DUPLICATE.bits(), 0x1);
        assert_eq!(Rights::READ.bits(), 0x4);
        assert_eq!(Rights::MAP.bits(), 0x20);
        assert_eq!(Rights::OP_CHILDREN.bits(), 1 << 21);
        assert_eq!(Rights::RESIZE.bits(), 1 << 22);
        assert_eq!(Rights::MANAGE_VMO.bits(), 1 << 24);
        assert_eq!(Rights::SAME_RIGHTS.bits(), 0x8000_0000);
    }

    #[test]
    fn default_sets_match_zircon() {
        assert_eq!(Rights::BASIC.bits(), 0x0000_c003);
        assert_eq!(Rights::DEFAULT_VMO.bits(), 0x0000_d0ef);
        assert_eq!(Rights::DEFAULT_VMAR.bits(), 0x0020_8003);
        assert_eq!(Rights::DEFAULT_PAGER.bits(), 0x0180_8002);
        assert_eq!(Rights::DEFAULT_PORT.bits(), 0x0000_800f);
    }
}
