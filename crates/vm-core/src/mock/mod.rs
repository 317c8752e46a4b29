//! Host mock of the platform seam (being written).

mod mmu;
