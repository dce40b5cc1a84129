//! A shutdown signal every task of a replica listens to: the one shared type of
//! [`ddbb_libs::shutdown`].

pub use ddbb_libs::shutdown::{channel, Shutdown, ShutdownTrigger};
