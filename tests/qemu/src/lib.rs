//! What the test images share: loads and stores at VM addresses, and a
//! user pager driven through zx from any core.
#![no_std]

extern crate alloc;

pub mod access;
pub mod user_pager;
