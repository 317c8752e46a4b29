//! The syscalls, one method of [`Zx`](crate::Zx) each, grouped by the object
//! they act on. Handles go in, `Result<_, Status>` comes out (out-parameters
//! become return values) and user buffers are slices.
//!
//! Checks run in the order of digest §2: BAD_HANDLE → WRONG_TYPE →
//! ACCESS_DENIED here, then vm-core's own INVALID_ARGS → OUT_OF_RANGE →
//! state checks.

mod handle;
mod object;
mod pager;
mod port;
mod vmar;
mod vmo;
