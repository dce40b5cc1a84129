//! DDBB client.
