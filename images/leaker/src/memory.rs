//! The leaked memory itself: private anonymous mappings, one per chunk, every page written so it
//! is resident and charged to the container's cgroup, and unmapped for real when freed.
//!
//! Not `Vec`: glibc serves mid-sized allocations from its heap and keeps freed heap memory, so RSS
//! would not drop at a sawtooth drop or at the deadline. `munmap` gives pages back at once.

use std::hint::black_box;
use std::io;

use memmap2::{MmapMut, MmapOptions};

use crate::plan::PAGE;

/// The byte written to every page: non-zero, so no page can stay the shared zero page.
const FILL: u8 = 0xA5;

/// Everything the leaker holds, newest region last.
#[derive(Default)]
pub struct Held {
    regions: Vec<MmapMut>,
    bytes: u64,
}

impl Held {
    /// Bytes held (mapped and touched).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Number of regions held.
    pub fn regions(&self) -> usize {
        self.regions.len()
    }

    /// Maps `len` bytes and writes one byte into every page, so each page is faulted in and
    /// charged now, the way a leak's objects are written when created.
    pub fn grow(&mut self, len: u64) -> io::Result<()> {
        let len_usize =
            usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
        // populate: fault the pages in one system call instead of one fault per page.
        let mut map = MmapOptions::new().len(len_usize).populate().map_anon()?;
        for i in (0..len_usize).step_by(PAGE as usize) {
            map[i] = FILL;
        }
        // The pages are never read: keep the optimizer from treating the writes as dead.
        black_box(&mut map[..]);
        self.regions.push(map);
        self.bytes += len;
        Ok(())
    }

    /// Unmaps the newest region.
    pub fn shrink(&mut self) {
        if let Some(map) = self.regions.pop() {
            self.bytes -= map.len() as u64;
            // Dropping the mapping munmaps it: the pages leave the process now.
            drop(map);
        }
    }

    /// Unmaps everything.
    pub fn free_all(&mut self) {
        self.regions.clear();
        self.bytes = 0;
    }
}

/// Resident set size of this process, from `/proc/self/status`.
pub fn own_rss() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .as_deref()
        .and_then(crate::report::parse_vm_rss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_becomes_resident_and_leaves() {
        let before = own_rss().unwrap_or(0);
        let mut held = Held::default();
        for _ in 0..16 {
            held.grow(1 << 20).unwrap();
        }
        assert_eq!(held.bytes(), 16 << 20);
        let during = own_rss().unwrap_or(0);
        // Other test threads may allocate too, so only a lower bound is exact here.
        assert!(during >= before + (15 << 20), "rss {before} -> {during}");
        held.shrink();
        assert_eq!((held.bytes(), held.regions()), (15 << 20, 15));
        held.free_all();
        assert_eq!(held.bytes(), 0);
        let after = own_rss().unwrap_or(u64::MAX);
        assert!(after < during - (14 << 20), "rss {during} -> {after}");
    }
}
