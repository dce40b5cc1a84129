//! DDBB replica.
