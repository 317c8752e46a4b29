//! The content size (`ZX_PROP_VMO_CONTENT_SIZE`, digest §2.8): the byte
//! size a VMO was created or last resized with, before rounding to pages.

use core::sync::atomic::Ordering;

use super::Vmo;
use crate::Status;

impl Vmo {
    /// The content size. It starts as the size given at creation (rounded
    /// up only for the VMO's size), and `set_size` sets it exactly.
    pub fn content_size(&self) -> u64 {
        self.content_size.load(Ordering::SeqCst)
    }

    /// `zx_object_set_property(ZX_PROP_VMO_CONTENT_SIZE)`: any value, even
    /// past the size (Zircon's `SetContentSize`); the bytes from it to the
    /// end of the VMO are zeroed first, as in Zircon, so content past the
    /// content size reads zero. A failed zeroing fails the call and leaves
    /// the content size as it was.
    pub fn set_content_size(&self, content_size: u64) -> Result<(), Status> {
        let size = self.size();
        if content_size < size {
            self.zero(content_size, size - content_size)?;
        }
        self.content_size.store(content_size, Ordering::SeqCst);
        Ok(())
    }
}
