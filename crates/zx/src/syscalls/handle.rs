//! `zx_handle_close`, `zx_handle_duplicate` and `zx_handle_replace`.

use crate::handle::{Handle, HandleEntry};
use crate::{Rights, Status, Zx};

impl Zx {
    /// `zx_handle_close`: closing [`Handle::INVALID`] is OK (like
    /// `free(NULL)`); any other value that names no handle is BAD_HANDLE.
    /// Closing a VMAR's last handle does not destroy the VMAR.
    pub fn handle_close(&self, handle: Handle) -> Result<(), Status> {
        if handle == Handle::INVALID {
            return Ok(());
        }
        let entry = self.remove_handle(handle)?;
        // The object may go away here: outside the table lock.
        drop(entry);
        Ok(())
    }

    /// `zx_handle_duplicate`: a new handle to the same object with `rights`,
    /// or the source's rights for [`Rights::SAME_RIGHTS`]. BAD_HANDLE;
    /// ACCESS_DENIED without [`Rights::DUPLICATE`]; INVALID_ARGS when
    /// `rights` is not a subset of the source's.
    pub fn handle_duplicate(&self, handle: Handle, rights: Rights) -> Result<Handle, Status> {
        self.with_table(|table| {
            let source = table.get(handle)?;
            if !source.rights.contains(Rights::DUPLICATE) {
                return Err(Status::AccessDenied);
            }
            let entry =
                HandleEntry { object: source.object.clone(), rights: derived_rights(source.rights, rights)? };
            Ok(table.insert(entry))
        })
    }

    /// `zx_handle_replace`: like [`Zx::handle_duplicate`] without needing
    /// DUPLICATE, and `handle` is invalidated, even when the call fails with
    /// INVALID_ARGS (Zircon's documented behaviour: "handle is always
    /// invalidated").
    pub fn handle_replace(&self, handle: Handle, rights: Rights) -> Result<Handle, Status> {
        let source = self.remove_handle(handle)?;
        // A failed replace drops the object on return, outside the table lock.
        let rights = derived_rights(source.rights, rights)?;
        Ok(self.add_handle(source.object, rights))
    }
}

/// The rights of a handle derived from one with `source` rights:
/// `requested`, which must be a subset (INVALID_ARGS otherwise), or `source`
/// for [`Rights::SAME_RIGHTS`].
fn derived_rights(source: Rights, requested: Rights) -> Result<Rights, Status> {
    if requested == Rights::SAME_RIGHTS {
        Ok(source)
    } else if source.contains(requested) {
        Ok(requested)
    } else {
        Err(Status::InvalidArgs)
    }
}
