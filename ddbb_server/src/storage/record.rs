//! Record framing: `[u32 LE payload length][u32 LE crc32 of payload][payload]`.
//!
//! This module only knows bytes; what the payload means is in [`super::op`]. The full byte-level
//! format is documented in the [`storage`](super) module doc.

use super::error::WalError;

/// Bytes before the payload: length (4) and CRC32 (4).
pub(crate) const HEADER_LEN: usize = 8;

/// Reserves the header of a new record at the end of `buf`; returns where the record starts.
pub(crate) fn begin(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; HEADER_LEN]);
    start
}

/// Fills in the header of the record that starts at `start` and runs to the end of `buf`.
///
/// # Errors
/// `Encode` if the payload is empty or longer than `u32::MAX` (the caller then truncates `buf`).
pub(crate) fn finish(buf: &mut [u8], start: usize) -> Result<(), WalError> {
    let payload = &buf[start + HEADER_LEN..];
    let len = u32::try_from(payload.len()).map_err(|_| {
        WalError::Encode(format!("record of {} bytes exceeds 4 GiB", payload.len()))
    })?;
    if len == 0 {
        // A zero length is how a zero-filled tail looks; never write one (see `is_torn_tail`).
        return Err(WalError::Encode("empty record payload".into()));
    }
    let crc = crc32fast::hash(payload);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Result of parsing the record that starts at some offset of a segment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed<'a> {
    /// A whole record with a matching checksum; the next record starts at `next`.
    Record { payload: &'a [u8], next: usize },
    /// The offset is exactly the end of the data.
    End,
    /// The bytes at the offset are not a valid record.
    Bad(BadRecord),
}

/// Why the bytes at an offset are not a valid record.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum BadRecord {
    /// Fewer than [`HEADER_LEN`] bytes remain.
    ShortHeader { available: usize },
    /// The header promises more payload bytes than remain.
    ShortPayload { len: u32, available: usize },
    /// The length field is zero, which no writer produces.
    ZeroLength,
    /// The stored CRC32 does not match the payload.
    Checksum {
        stored: u32,
        computed: u32,
        len: u32,
    },
}

impl BadRecord {
    /// Human-readable reason, used in `WalError::Corrupt` and in the torn-tail warning.
    pub(crate) fn reason(&self) -> String {
        match self {
            BadRecord::ShortHeader { available } => {
                format!("truncated record header ({available} of {HEADER_LEN} bytes)")
            }
            BadRecord::ShortPayload { len, available } => {
                format!("truncated record payload ({available} of {len} bytes)")
            }
            BadRecord::ZeroLength => "record length is zero".into(),
            BadRecord::Checksum {
                stored,
                computed,
                len,
            } => format!(
                "checksum mismatch over {len} payload bytes (stored {stored:#010x}, computed {computed:#010x})"
            ),
        }
    }

    /// Whether this bad record, found at `offset` of `data`, looks like an interrupted append:
    /// a short header or payload, or a bad record followed only by zero bytes (a file system may
    /// extend a file with zero-filled blocks on crash). A bad record followed by real data
    /// cannot be explained by a crash during an append and is corruption.
    pub(crate) fn is_torn_tail(&self, data: &[u8], offset: usize) -> bool {
        match *self {
            BadRecord::ShortHeader { .. } | BadRecord::ShortPayload { .. } => true,
            BadRecord::ZeroLength => all_zero(data.get(offset..).unwrap_or_default()),
            BadRecord::Checksum { len, .. } => {
                let end = offset.saturating_add(HEADER_LEN + len as usize);
                all_zero(data.get(end..).unwrap_or_default())
            }
        }
    }
}

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// Parses the record starting at `offset` of `data` (offset must be <= data.len()).
pub(crate) fn parse_at(data: &[u8], offset: usize) -> Parsed<'_> {
    let rest = &data[offset.min(data.len())..];
    if rest.is_empty() {
        return Parsed::End;
    }
    if rest.len() < HEADER_LEN {
        return Parsed::Bad(BadRecord::ShortHeader {
            available: rest.len(),
        });
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let stored = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    if len == 0 {
        return Parsed::Bad(BadRecord::ZeroLength);
    }
    let available = rest.len() - HEADER_LEN;
    if (len as usize) > available {
        return Parsed::Bad(BadRecord::ShortPayload { len, available });
    }
    let payload = &rest[HEADER_LEN..HEADER_LEN + len as usize];
    let computed = crc32fast::hash(payload);
    if computed != stored {
        return Parsed::Bad(BadRecord::Checksum {
            stored,
            computed,
            len,
        });
    }
    Parsed::Record {
        payload,
        next: offset + HEADER_LEN + len as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        let start = begin(&mut buf);
        buf.extend_from_slice(payload);
        finish(&mut buf, start).unwrap();
        buf
    }

    #[test]
    fn header_is_length_then_crc_little_endian() {
        let buf = record(b"abc");
        assert_eq!(&buf[0..4], &3u32.to_le_bytes());
        assert_eq!(&buf[4..8], &crc32fast::hash(b"abc").to_le_bytes());
        assert_eq!(&buf[8..], b"abc");
    }

    #[test]
    fn parses_consecutive_records_then_end() {
        let mut data = record(b"first");
        data.extend(record(b"second"));
        let Parsed::Record { payload, next } = parse_at(&data, 0) else {
            panic!("first record")
        };
        assert_eq!(payload, b"first");
        let Parsed::Record { payload, next } = parse_at(&data, next) else {
            panic!("second record")
        };
        assert_eq!(payload, b"second");
        assert_eq!(parse_at(&data, next), Parsed::End);
    }

    #[test]
    fn every_truncation_is_a_torn_tail() {
        let data = record(b"payload bytes");
        for cut in 1..data.len() {
            let Parsed::Bad(bad) = parse_at(&data[..cut], 0) else {
                panic!("cut {cut} parsed")
            };
            assert!(bad.is_torn_tail(&data[..cut], 0), "cut {cut}: {bad:?}");
        }
    }

    #[test]
    fn bad_checksum_is_torn_only_when_nothing_but_zeros_follows() {
        let mut data = record(b"one");
        data[9] ^= 1;
        let Parsed::Bad(bad) = parse_at(&data, 0) else {
            panic!()
        };
        assert!(bad.is_torn_tail(&data, 0));
        let mut zero_filled = data.clone();
        zero_filled.extend_from_slice(&[0; 100]);
        assert!(bad.is_torn_tail(&zero_filled, 0));
        let mut followed = data.clone();
        followed.extend(record(b"two"));
        assert!(!bad.is_torn_tail(&followed, 0));
    }

    #[test]
    fn zero_length_header_is_torn_only_in_a_zero_tail() {
        let zeros = [0u8; 32];
        let Parsed::Bad(bad) = parse_at(&zeros, 0) else {
            panic!()
        };
        assert_eq!(bad, BadRecord::ZeroLength);
        assert!(bad.is_torn_tail(&zeros, 0));
        let mut data = zeros.to_vec();
        data.extend(record(b"x"));
        assert!(!bad.is_torn_tail(&data, 0));
    }

    #[test]
    fn empty_payload_is_refused_by_the_writer() {
        let mut buf = Vec::new();
        let start = begin(&mut buf);
        assert!(matches!(finish(&mut buf, start), Err(WalError::Encode(_))));
    }
}
