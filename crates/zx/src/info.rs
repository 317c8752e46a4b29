//! `zx_object_get_info` topics and their records (`zircon/syscalls/object.h`):
//! `zx_info_handle_basic_t`, `zx_info_vmo_t` (and its V1 and V2 prefixes)
//! and `zx_info_vmar_t`, with Zircon's values and C layouts.

use vm_core::vmo::{VmoInfo, NAME_LEN};

use crate::{ObjectType, Rights};

/// `ZX_INFO_HANDLE_VALID`: no record; OK if the handle is valid.
pub const ZX_INFO_HANDLE_VALID: u32 = 1;
/// `ZX_INFO_HANDLE_BASIC`: one [`HandleBasicInfo`].
pub const ZX_INFO_HANDLE_BASIC: u32 = 2;
/// `ZX_INFO_VMAR`: one [`VmarInfo`].
pub const ZX_INFO_VMAR: u32 = 7;
/// `ZX_INFO_VMO_V1`: the first [`VmoInfoRecord::V1_SIZE`] bytes of a
/// `zx_info_vmo_t`.
pub const ZX_INFO_VMO_V1: u32 = 23;
/// `ZX_INFO_VMO_V2`: its first [`VmoInfoRecord::V2_SIZE`] bytes.
pub const ZX_INFO_VMO_V2: u32 = 23 | (1 << 28);
/// `ZX_INFO_VMO`: one whole [`VmoInfoRecord`].
pub const ZX_INFO_VMO: u32 = 23 | (2 << 28);

/// `ZX_MAX_NAME_LEN`.
pub const ZX_MAX_NAME_LEN: usize = NAME_LEN;

// `zx_info_vmo_t.flags`.
pub const ZX_INFO_VMO_TYPE_PAGED: u32 = 1 << 0;
pub const ZX_INFO_VMO_RESIZABLE: u32 = 1 << 1;
pub const ZX_INFO_VMO_IS_COW_CLONE: u32 = 1 << 2;
pub const ZX_INFO_VMO_VIA_HANDLE: u32 = 1 << 3;
pub const ZX_INFO_VMO_VIA_MAPPING: u32 = 1 << 4;
pub const ZX_INFO_VMO_PAGER_BACKED: u32 = 1 << 5;
pub const ZX_INFO_VMO_CONTIGUOUS: u32 = 1 << 6;
pub const ZX_INFO_VMO_DISCARDABLE: u32 = 1 << 7;

/// `zx_info_handle_basic_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandleBasicInfo {
    pub koid: u64,
    /// The rights the handle carries.
    pub rights: Rights,
    /// The type of the object it refers to.
    pub object_type: ObjectType,
    /// The pager of a VMO a pager created; otherwise 0.
    pub related_koid: u64,
}

impl HandleBasicInfo {
    /// `sizeof(zx_info_handle_basic_t)`.
    pub const SIZE: usize = 32;

    /// The C layout: koid, rights, type, related_koid, then a zero
    /// `reserved` word and padding.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        out[0..8].copy_from_slice(&self.koid.to_ne_bytes());
        out[8..12].copy_from_slice(&self.rights.bits().to_ne_bytes());
        out[12..16].copy_from_slice(&self.object_type.into_raw().to_ne_bytes());
        out[16..24].copy_from_slice(&self.related_koid.to_ne_bytes());
        out
    }
}

/// `zx_info_vmar_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmarInfo {
    pub base: u64,
    pub len: u64,
}

impl VmarInfo {
    /// `sizeof(zx_info_vmar_t)`.
    pub const SIZE: usize = 16;

    /// The C layout: base, then len.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        out[0..8].copy_from_slice(&self.base.to_ne_bytes());
        out[8..16].copy_from_slice(&self.len.to_ne_bytes());
        out
    }
}

/// `zx_info_vmo_t` as read through a handle (`ZX_INFO_VMO_VIA_HANDLE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmoInfoRecord {
    pub koid: u64,
    pub name: [u8; ZX_MAX_NAME_LEN],
    pub size_bytes: u64,
    pub parent_koid: u64,
    pub num_children: u64,
    pub num_mappings: u64,
    pub share_count: u64,
    /// `ZX_INFO_VMO_*`.
    pub flags: u32,
    pub committed_bytes: u64,
    /// The rights of the handle asked.
    pub handle_rights: Rights,
    /// `ZX_CACHE_POLICY_*`.
    pub cache_policy: u32,
    pub metadata_bytes: u64,
    pub committed_change_events: u64,
    pub populated_bytes: u64,
}

impl VmoInfoRecord {
    /// `sizeof(zx_info_vmo_t)`.
    pub const SIZE: usize = 128;
    /// `sizeof(zx_info_vmo_v1_t)`: up to `cache_policy`.
    pub const V1_SIZE: usize = 104;
    /// `sizeof(zx_info_vmo_v2_t)`: up to `committed_change_events`.
    pub const V2_SIZE: usize = 120;

    /// The record of `info`, read through a handle with `rights`. Every
    /// VMO here is paged memory; none is contiguous.
    pub fn new(info: &VmoInfo, rights: Rights) -> VmoInfoRecord {
        let flag = |set: bool, flag: u32| if set { flag } else { 0 };
        let flags = ZX_INFO_VMO_TYPE_PAGED
            | ZX_INFO_VMO_VIA_HANDLE
            | flag(info.resizable, ZX_INFO_VMO_RESIZABLE)
            | flag(info.cow_clone, ZX_INFO_VMO_IS_COW_CLONE)
            | flag(info.pager_backed, ZX_INFO_VMO_PAGER_BACKED)
            | flag(info.discardable, ZX_INFO_VMO_DISCARDABLE);
        VmoInfoRecord {
            koid: info.koid,
            name: info.name,
            size_bytes: info.size_bytes,
            parent_koid: info.parent_koid,
            num_children: info.num_children,
            num_mappings: info.num_mappings,
            share_count: info.share_count,
            flags,
            committed_bytes: info.committed_bytes,
            handle_rights: rights,
            cache_policy: info.cache_policy as u32,
            metadata_bytes: info.metadata_bytes,
            committed_change_events: info.committed_change_events,
            populated_bytes: info.populated_bytes,
        }
    }

    /// The C layout (`V1_SIZE` and `V2_SIZE` are its prefixes).
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &self.koid.to_ne_bytes());
        put(8, &self.name);
        put(40, &self.size_bytes.to_ne_bytes());
        put(48, &self.parent_koid.to_ne_bytes());
        put(56, &self.num_children.to_ne_bytes());
        put(64, &self.num_mappings.to_ne_bytes());
        put(72, &self.share_count.to_ne_bytes());
        put(80, &self.flags.to_ne_bytes());
        put(88, &self.committed_bytes.to_ne_bytes());
        put(96, &self.handle_rights.bits().to_ne_bytes());
        put(100, &self.cache_policy.to_ne_bytes());
        put(104, &self.metadata_bytes.to_ne_bytes());
        put(112, &self.committed_change_events.to_ne_bytes());
        put(120, &self.populated_bytes.to_ne_bytes());
        out
    }

    /// Reads the C layout of [`VmoInfoRecord::to_bytes`].
    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> VmoInfoRecord {
        let u64_at = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let u32_at = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let mut name = [0; ZX_MAX_NAME_LEN];
        name.copy_from_slice(&bytes[8..40]);
        VmoInfoRecord {
            koid: u64_at(0),
            name,
            size_bytes: u64_at(40),
            parent_koid: u64_at(48),
            num_children: u64_at(56),
            num_mappings: u64_at(64),
            share_count: u64_at(72),
            flags: u32_at(80),
            committed_bytes: u64_at(88),
            handle_rights: Rights::from_bits_retain(u32_at(96)),
            cache_policy: u32_at(100),
            metadata_bytes: u64_at(104),
            committed_change_events: u64_at(112),
            populated_bytes: u64_at(120),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_match_zircon() {
        assert_eq!(ZX_INFO_VMO, 0x2000_0017);
        assert_eq!(ZX_INFO_VMO_V2, 0x1000_0017);
        assert_eq!(ZX_INFO_VMO_V1, 23);
    }

    #[test]
    fn records_round_trip_through_the_c_layout() {
        let record = VmoInfoRecord {
            koid: 1,
            name: [b'x'; ZX_MAX_NAME_LEN],
            size_bytes: 2,
            parent_koid: 3,
            num_children: 4,
            num_mappings: 5,
            share_count: 6,
            flags: 7,
            committed_bytes: 8,
            handle_rights: Rights::READ,
            cache_policy: 2,
            metadata_bytes: 9,
            committed_change_events: 10,
            populated_bytes: 11,
        };
        let bytes = record.to_bytes();
        assert_eq!(VmoInfoRecord::from_bytes(&bytes), record);
        assert_eq!(&bytes[100..104], &2u32.to_ne_bytes(), "cache_policy ends the V1 record");
        assert_eq!(&bytes[112..120], &10u64.to_ne_bytes(), "committed_change_events ends V2");
        let basic =
            HandleBasicInfo { koid: 9, rights: Rights::MAP, object_type: ObjectType::Vmo, related_koid: 4 };
        let b = basic.to_bytes();
        assert_eq!(&b[12..16], &3u32.to_ne_bytes());
        assert_eq!(&b[16..24], &4u64.to_ne_bytes());
        assert_eq!(VmarInfo { base: 1, len: 2 }.to_bytes()[8], 2);
    }
}
