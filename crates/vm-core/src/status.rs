//! `zx_status_t`: Zircon's status codes with their numeric values (digest §1.1).

/// A Zircon status code other than `ZX_OK`; `Result<T, Status>` stands for
/// `zx_status_t` with an out-parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Status {
    Internal = -1,
    NotSupported = -2,
    NoResources = -3,
    NoMemory = -4,
    InvalidArgs = -10,
    BadHandle = -11,
    WrongType = -12,
    OutOfRange = -14,
    BufferTooSmall = -15,
    BadState = -20,
    TimedOut = -21,
    ShouldWait = -22,
    Canceled = -23,
    PeerClosed = -24,
    NotFound = -25,
    AlreadyExists = -26,
    Unavailable = -28,
    AccessDenied = -30,
    Io = -40,
    IoRefused = -41,
    IoDataIntegrity = -42,
    IoDataLoss = -43,
    NoSpace = -54,
}

impl Status {
    /// Every status, for conversions and tests.
    pub const ALL: [Status; 23] = [
        Status::Internal,
        Status::NotSupported,
        Status::NoResources,
        Status::NoMemory,
        Status::InvalidArgs,
        Status::BadHandle,
        Status::WrongType,
        Status::OutOfRange,
        Status::BufferTooSmall,
        Status::BadState,
        Status::TimedOut,
        Status::ShouldWait,
        Status::Canceled,
        Status::PeerClosed,
        Status::NotFound,
        Status::AlreadyExists,
        Status::Unavailable,
        Status::AccessDenied,
        Status::Io,
        Status::IoRefused,
        Status::IoDataIntegrity,
        Status::IoDataLoss,
        Status::NoSpace,
    ];

    /// The raw `zx_status_t` value.
    pub const fn into_raw(self) -> i32 {
        self as i32
    }

    /// The status with raw value `raw`, if it is one of [`Status::ALL`].
    pub fn from_raw(raw: i32) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.into_raw() == raw)
    }
}

/// The raw `zx_status_t` of a result: 0 for `Ok`.
pub fn raw_status<T>(result: &Result<T, Status>) -> i32 {
    match result {
        Ok(_) => 0,
        Err(s) => s.into_raw(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_match_zircon() {
        assert_eq!(Status::NotSupported.into_raw(), -2);
        assert_eq!(Status::InvalidArgs.into_raw(), -10);
        assert_eq!(Status::OutOfRange.into_raw(), -14);
        assert_eq!(Status::BadState.into_raw(), -20);
        assert_eq!(Status::AccessDenied.into_raw(), -30);
        assert_eq!(Status::IoDataIntegrity.into_raw(), -42);
        assert_eq!(Status::NoSpace.into_raw(), -54);
        assert_eq!(raw_status::<()>(&Ok(())), 0);
    }

    #[test]
    fn from_raw_round_trips() {
        for s in Status::ALL {
            assert_eq!(Status::from_raw(s.into_raw()), Some(s));
        }
        assert_eq!(Status::from_raw(0), None);
        assert_eq!(Status::from_raw(-5), None);
    }
}
