//! DDBB protocol crate.
