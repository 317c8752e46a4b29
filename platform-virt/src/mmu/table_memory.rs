//! Where translation tables live: one 4 KiB frame per table of 512 entries,
//! read and written atomically because FEAT_HAFDBS hardware updates entries
//! concurrently.

use core::sync::atomic::AtomicU64;

/// Entries per table (4 KiB granule).
pub const ENTRIES: usize = 512;

/// Frames holding translation tables.
pub trait TableMemory: Send + Sync {
    /// A zeroed (all-invalid) table, or `None` when memory is exhausted.
    fn alloc_table(&self) -> Option<u64>;
    /// Returns a table taken with [`TableMemory::alloc_table`].
    fn free_table(&self, table_pa: u64);
    /// Entry `index` of the table at `table_pa`.
    fn entry(&self, table_pa: u64, index: usize) -> &AtomicU64;
}

/// Tables in host memory at made-up physical addresses, for host tests.
#[cfg(not(target_os = "none"))]
pub struct HostTables {
    tables: std::boxed::Box<[[AtomicU64; ENTRIES]]>,
    free: std::sync::Mutex<std::vec::Vec<usize>>,
}

#[cfg(not(target_os = "none"))]
impl HostTables {
    /// The made-up physical address of the first table.
    pub const BASE: u64 = 0x7000_0000;

    pub fn new(capacity: usize) -> Self {
        HostTables {
            tables: (0..capacity).map(|_| [const { AtomicU64::new(0) }; ENTRIES]).collect(),
            free: std::sync::Mutex::new((0..capacity).rev().collect()),
        }
    }

    /// Tables not in use.
    pub fn free_count(&self) -> usize {
        self.free.lock().unwrap().len()
    }

    fn index(&self, table_pa: u64) -> usize {
        let i = ((table_pa - Self::BASE) / 4096) as usize;
        assert!(table_pa.is_multiple_of(4096) && i < self.tables.len(), "{table_pa:#x} is not a table");
        i
    }
}

#[cfg(not(target_os = "none"))]
impl TableMemory for HostTables {
    fn alloc_table(&self) -> Option<u64> {
        let i = self.free.lock().unwrap().pop()?;
        for e in &self.tables[i] {
            e.store(0, core::sync::atomic::Ordering::Relaxed);
        }
        Some(Self::BASE + i as u64 * 4096)
    }

    fn free_table(&self, table_pa: u64) {
        let i = self.index(table_pa);
        let mut free = self.free.lock().unwrap();
        assert!(!free.contains(&i), "table {table_pa:#x} freed twice");
        free.push(i);
    }

    fn entry(&self, table_pa: u64, index: usize) -> &AtomicU64 {
        &self.tables[self.index(table_pa)][index]
    }
}

/// Shared table memory (an `Arc` of it) serves as table memory too.
impl<X: TableMemory + ?Sized> TableMemory for alloc::sync::Arc<X> {
    fn alloc_table(&self) -> Option<u64> {
        (**self).alloc_table()
    }
    fn free_table(&self, table_pa: u64) {
        (**self).free_table(table_pa)
    }
    fn entry(&self, table_pa: u64, index: usize) -> &AtomicU64 {
        (**self).entry(table_pa, index)
    }
}
