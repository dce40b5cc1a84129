//! RESP2 frames: the unit of every message on the client port and between replicas.
//!
//! Parsing happens in two phases, as in mini-redis: [`Frame::check`] walks the buffered bytes
//! without allocating and answers "a whole frame of `n` bytes is here" (or
//! [`Error::Incomplete`]: read more), then [`Frame::parse`] builds the frame from exactly those
//! bytes, slicing bulk payloads out of the shared buffer instead of copying them.
//!
//! Every length is checked against [`FrameLimits`] *before* anything is allocated or waited for:
//! a bulk of 2^60 bytes is refused as soon as its header is read.
//!
//! Requests may also come as Redis "inline commands" (`PING\r\n`, as `redis-benchmark` sends
//! for `PING_INLINE` and as a person types into `nc`): see [`Frame::check_inline`].

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};

/// Default maximum size of one frame on the wire: 512 MiB, Redis' `proto-max-bulk-len`.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 512 * 1024 * 1024;
/// Default maximum nesting of arrays. Commands are flat; replies nest two levels at most.
pub const DEFAULT_MAX_DEPTH: usize = 16;
/// Maximum length of a line (simple string, error, integer, length header or inline command).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Limits applied while checking a frame, so hostile input cannot make us allocate or wait
/// without bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest whole frame, in bytes.
    pub max_frame_bytes: usize,
    /// Deepest nesting of arrays.
    pub max_depth: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

impl FrameLimits {
    /// Limits with the given maximum frame size and the default nesting depth.
    pub fn with_max_frame_bytes(max_frame_bytes: usize) -> Self {
        FrameLimits {
            max_frame_bytes,
            ..Self::default()
        }
    }
}

/// One RESP2 value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// `+text\r\n`
    Simple(String),
    /// `-text\r\n`
    Error(String),
    /// `:123\r\n`
    Integer(i64),
    /// `$len\r\n<bytes>\r\n`
    Bulk(Bytes),
    /// `$-1\r\n` (a null array `*-1\r\n` is read as this too)
    Null,
    /// `*n\r\n` followed by `n` frames
    Array(Vec<Frame>),
}

impl Frame {
    /// Checks that `buf` starts with one whole frame within `limits`; returns its length.
    ///
    /// # Errors
    /// [`Error::Incomplete`] when more bytes are needed, [`Error::TooLarge`] when a limit is
    /// exceeded (known as early as the offending header), [`Error::Protocol`] on bytes that are
    /// not RESP2.
    pub fn check(buf: &[u8], limits: &FrameLimits) -> Result<usize> {
        let mut pos = 0;
        match check_at(buf, &mut pos, limits, 0) {
            Ok(()) => Ok(pos),
            Err(Error::Incomplete) if buf.len() > limits.max_frame_bytes => Err(Error::TooLarge {
                what: "frame size",
                size: buf.len() as u64,
                limit: limits.max_frame_bytes as u64,
            }),
            Err(e) => Err(e),
        }
    }

    /// Parses the frame that [`Frame::check`] found at the start of `buf`.
    ///
    /// Bulk payloads are slices of `buf` (no copy). Never panics; bytes that did not pass
    /// `check` give an error.
    pub fn parse(buf: &Bytes) -> Result<Frame> {
        let mut pos = 0;
        parse_at(buf, &mut pos)
    }

    /// Checks for a whole inline command line (`SET k v\r\n`); returns its length with the
    /// line end. An inline command is any request not starting with `*`.
    pub fn check_inline(buf: &[u8]) -> Result<usize> {
        match find_line_end(buf, 0) {
            Some(end) => Ok(end + 1),
            None if buf.len() > MAX_LINE_BYTES => Err(Error::TooLarge {
                what: "inline command",
                size: buf.len() as u64,
                limit: MAX_LINE_BYTES as u64,
            }),
            None => Err(Error::Incomplete),
        }
    }

    /// Parses an inline command line into an array of bulk strings, split on whitespace.
    /// Returns `None` for an empty line, which Redis ignores.
    pub fn parse_inline(line: &Bytes) -> Option<Frame> {
        let words: Vec<Frame> = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .map(|w| Frame::Bulk(line.slice_ref(w)))
            .collect();
        (!words.is_empty()).then_some(Frame::Array(words))
    }

    /// Appends the RESP2 encoding of this frame to `dst`.
    pub fn write_to(&self, dst: &mut BytesMut) {
        match self {
            Frame::Simple(s) => write_line(dst, b'+', s.as_bytes()),
            Frame::Error(s) => write_line(dst, b'-', s.as_bytes()),
            Frame::Integer(n) => write_int(dst, b':', *n),
            Frame::Bulk(b) => {
                write_int(dst, b'$', b.len() as i64);
                dst.put_slice(b);
                dst.put_slice(b"\r\n");
            }
            Frame::Null => dst.put_slice(b"$-1\r\n"),
            Frame::Array(items) => {
                write_int(dst, b'*', items.len() as i64);
                for item in items {
                    item.write_to(dst);
                }
            }
        }
    }

    /// The RESP2 encoding of this frame.
    pub fn serialize(&self) -> Bytes {
        let mut dst = BytesMut::new();
        self.write_to(&mut dst);
        dst.freeze()
    }

    /// A bulk string frame from anything byte-like.
    pub fn bulk(data: impl Into<Bytes>) -> Frame {
        Frame::Bulk(data.into())
    }

    /// An array of bulk strings, the shape of every request.
    pub fn command<I, B>(words: I) -> Frame
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        Frame::Array(words.into_iter().map(|w| Frame::Bulk(w.into())).collect())
    }

    /// An error frame `-ERR msg`.
    pub fn err(msg: impl std::fmt::Display) -> Frame {
        Frame::Error(format!("ERR {msg}"))
    }
}

impl std::fmt::Display for Frame {
    /// A human-readable rendering, in the spirit of `redis-cli`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Frame::Simple(s) => write!(f, "{s}"),
            Frame::Error(s) => write!(f, "(error) {s}"),
            Frame::Integer(n) => write!(f, "(integer) {n}"),
            Frame::Bulk(b) => write!(f, "\"{}\"", b.escape_ascii()),
            Frame::Null => write!(f, "(nil)"),
            Frame::Array(items) => {
                write!(f, "[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
        }
    }
}

fn write_line(dst: &mut BytesMut, tag: u8, text: &[u8]) {
    dst.reserve(text.len() + 3);
    dst.put_u8(tag);
    // A CR or LF inside a simple string would break framing: replace them.
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        dst.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        dst.put_slice(text);
    }
    dst.put_slice(b"\r\n");
}

fn write_int(dst: &mut BytesMut, tag: u8, n: i64) {
    let mut fmt = itoa::Buffer::new();
    let digits = fmt.format(n).as_bytes();
    dst.reserve(digits.len() + 3);
    dst.put_u8(tag);
    dst.put_slice(digits);
    dst.put_slice(b"\r\n");
}

/// Index of the `\n` ending the line that starts at `from`, if buffered.
fn find_line_end(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| from + i)
}

/// Reads a `\r\n`-terminated line starting at `*pos`; advances past it.
fn read_line<'a>(buf: &'a [u8], pos: &mut usize) -> Result<&'a [u8]> {
    let start = *pos;
    let window_end = buf.len().min(start.saturating_add(MAX_LINE_BYTES + 2));
    let window = buf.get(start..window_end).unwrap_or_default();
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(i) => {
            *pos = start + i + 2;
            Ok(&window[..i])
        }
        None if window.len() >= MAX_LINE_BYTES + 2 => Err(Error::TooLarge {
            what: "line",
            size: window.len() as u64,
            limit: MAX_LINE_BYTES as u64,
        }),
        None => Err(Error::Incomplete),
    }
}

fn parse_int(line: &[u8]) -> Result<i64> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| Error::protocol(format!("invalid integer '{}'", line.escape_ascii())))
}

fn read_u8(buf: &[u8], pos: &mut usize) -> Result<u8> {
    let b = *buf.get(*pos).ok_or(Error::Incomplete)?;
    *pos += 1;
    Ok(b)
}

fn check_at(buf: &[u8], pos: &mut usize, limits: &FrameLimits, depth: usize) -> Result<()> {
    let too_large = |what, size: u64, limit: usize| Error::TooLarge {
        what,
        size,
        limit: limit as u64,
    };
    match read_u8(buf, pos)? {
        b'+' | b'-' => {
            read_line(buf, pos)?;
        }
        b':' => {
            parse_int(read_line(buf, pos)?)?;
        }
        b'$' => {
            let len = parse_int(read_line(buf, pos)?)?;
            if len == -1 {
                return Ok(());
            }
            let len = u64::try_from(len)
                .map_err(|_| Error::protocol(format!("invalid bulk length {len}")))?;
            if len > limits.max_frame_bytes as u64 {
                return Err(too_large("bulk length", len, limits.max_frame_bytes));
            }
            let end = *pos + len as usize;
            if buf.len() < end + 2 {
                return Err(Error::Incomplete);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(Error::protocol("bulk string not terminated by CRLF"));
            }
            *pos = end + 2;
        }
        b'*' => {
            let len = parse_int(read_line(buf, pos)?)?;
            if len == -1 {
                return Ok(());
            }
            let len = u64::try_from(len)
                .map_err(|_| Error::protocol(format!("invalid array length {len}")))?;
            // Each element takes at least three bytes ("+\r\n"), so a longer array cannot fit.
            if len.saturating_mul(3) > limits.max_frame_bytes as u64 {
                return Err(too_large("array length", len, limits.max_frame_bytes / 3));
            }
            if depth + 1 > limits.max_depth {
                return Err(too_large("nesting", depth as u64 + 1, limits.max_depth));
            }
            for _ in 0..len {
                check_at(buf, pos, limits, depth + 1)?;
                if *pos > limits.max_frame_bytes {
                    return Err(too_large("frame size", *pos as u64, limits.max_frame_bytes));
                }
            }
        }
        other => {
            return Err(Error::protocol(format!(
                "unexpected type byte '{}'",
                [other].escape_ascii()
            )))
        }
    }
    if *pos > limits.max_frame_bytes {
        return Err(too_large("frame size", *pos as u64, limits.max_frame_bytes));
    }
    Ok(())
}

fn parse_at(buf: &Bytes, pos: &mut usize) -> Result<Frame> {
    let not_checked = |e: Error| match e {
        Error::Incomplete => Error::protocol("frame ends early"),
        e => e,
    };
    match read_u8(buf, pos).map_err(not_checked)? {
        b'+' => {
            let line = read_line(buf, pos).map_err(not_checked)?;
            Ok(Frame::Simple(String::from_utf8_lossy(line).into_owned()))
        }
        b'-' => {
            let line = read_line(buf, pos).map_err(not_checked)?;
            Ok(Frame::Error(String::from_utf8_lossy(line).into_owned()))
        }
        b':' => Ok(Frame::Integer(parse_int(
            read_line(buf, pos).map_err(not_checked)?,
        )?)),
        b'$' => {
            let len = parse_int(read_line(buf, pos).map_err(not_checked)?)?;
            if len == -1 {
                return Ok(Frame::Null);
            }
            let len = usize::try_from(len)
                .map_err(|_| Error::protocol(format!("invalid bulk length {len}")))?;
            let end = pos
                .checked_add(len)
                .filter(|end| end + 2 <= buf.len())
                .ok_or_else(|| Error::protocol("frame ends early"))?;
            let data = buf.slice(*pos..end);
            *pos = end + 2;
            Ok(Frame::Bulk(data))
        }
        b'*' => {
            let len = parse_int(read_line(buf, pos).map_err(not_checked)?)?;
            if len == -1 {
                return Ok(Frame::Null);
            }
            let len = usize::try_from(len)
                .map_err(|_| Error::protocol(format!("invalid array length {len}")))?;
            // `check` bounded len by the buffer size; bound the allocation the same way.
            let mut items = Vec::with_capacity(len.min(buf.len() / 3));
            for _ in 0..len {
                items.push(parse_at(buf, pos)?);
            }
            Ok(Frame::Array(items))
        }
        other => Err(Error::protocol(format!(
            "unexpected type byte '{}'",
            [other].escape_ascii()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(frame: Frame) {
        let bytes = frame.serialize();
        let n = Frame::check(&bytes, &FrameLimits::default()).expect("check");
        assert_eq!(n, bytes.len());
        assert_eq!(Frame::parse(&bytes).expect("parse"), frame);
    }

    #[test]
    fn every_variant_roundtrips() {
        roundtrip(Frame::Simple("OK".into()));
        roundtrip(Frame::Error("ERR bad".into()));
        roundtrip(Frame::Integer(-42));
        roundtrip(Frame::Integer(i64::MAX));
        roundtrip(Frame::Bulk(Bytes::from_static(b"a\r\nb\0")));
        roundtrip(Frame::Bulk(Bytes::new()));
        roundtrip(Frame::Null);
        roundtrip(Frame::Array(vec![]));
        roundtrip(Frame::Array(vec![
            Frame::Integer(1),
            Frame::Array(vec![Frame::Null, Frame::bulk("x")]),
        ]));
    }

    #[test]
    fn exact_wire_bytes() {
        let f = Frame::command(["SET", "k", "v"]);
        assert_eq!(
            &f.serialize()[..],
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
        );
        assert_eq!(&Frame::Null.serialize()[..], b"$-1\r\n");
        assert_eq!(&Frame::Integer(7).serialize()[..], b":7\r\n");
    }

    #[test]
    fn incomplete_at_every_prefix() {
        let bytes = Frame::command(["SET", "key", "value"]).serialize();
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    Frame::check(&bytes[..cut], &FrameLimits::default()),
                    Err(Error::Incomplete)
                ),
                "prefix of {cut} bytes"
            );
        }
    }

    #[test]
    fn huge_bulk_length_is_refused_before_allocation() {
        let input = format!("${}\r\n", 1u64 << 60);
        assert!(matches!(
            Frame::check(input.as_bytes(), &FrameLimits::default()),
            Err(Error::TooLarge {
                what: "bulk length",
                ..
            })
        ));
        let input = format!("*{}\r\n", 1u64 << 60);
        assert!(matches!(
            Frame::check(input.as_bytes(), &FrameLimits::default()),
            Err(Error::TooLarge {
                what: "array length",
                ..
            })
        ));
    }

    #[test]
    fn frame_over_the_limit_is_refused() {
        let limits = FrameLimits::with_max_frame_bytes(16);
        let bytes = Frame::bulk(vec![b'x'; 32]).serialize();
        assert!(matches!(
            Frame::check(&bytes, &limits),
            Err(Error::TooLarge { .. })
        ));
        let bytes = Frame::command(["a", "b", "c", "d"]).serialize();
        assert!(matches!(
            Frame::check(&bytes, &limits),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let input = "*1\r\n".repeat(100);
        assert!(matches!(
            Frame::check(input.as_bytes(), &FrameLimits::default()),
            Err(Error::TooLarge {
                what: "nesting",
                ..
            })
        ));
    }

    #[test]
    fn malformed_input_is_a_protocol_error() {
        for bad in [
            &b"?x\r\n"[..],
            b":12a\r\n",
            b"$-2\r\n",
            b"*-5\r\n",
            b"$3\r\nabcXY",
            b"$abc\r\n",
        ] {
            assert!(
                matches!(
                    Frame::check(bad, &FrameLimits::default()),
                    Err(Error::Protocol(_))
                ),
                "{:?}",
                bad.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn endless_line_is_refused() {
        let input = vec![b'+'; MAX_LINE_BYTES + 10];
        assert!(matches!(
            Frame::check(&input, &FrameLimits::default()),
            Err(Error::TooLarge { what: "line", .. })
        ));
    }

    #[test]
    fn inline_commands() {
        let line = Bytes::from_static(b"SET  k v\r\n");
        assert_eq!(Frame::check_inline(&line).unwrap(), line.len());
        assert_eq!(
            Frame::parse_inline(&line),
            Some(Frame::command(["SET", "k", "v"]))
        );
        assert_eq!(Frame::parse_inline(&Bytes::from_static(b"\r\n")), None);
        assert!(matches!(
            Frame::check_inline(b"PING"),
            Err(Error::Incomplete)
        ));
    }

    #[test]
    fn null_array_reads_as_null() {
        let bytes = Bytes::from_static(b"*-1\r\n");
        assert_eq!(Frame::check(&bytes, &FrameLimits::default()).unwrap(), 5);
        assert_eq!(Frame::parse(&bytes).unwrap(), Frame::Null);
    }

    #[test]
    fn simple_strings_cannot_break_framing() {
        let bytes = Frame::Error("ERR a\r\nb".into()).serialize();
        assert_eq!(&bytes[..], b"-ERR a  b\r\n");
    }
}
