//! `RANGE start end [options]` / `RANGE PREFIX p [options]`

use bytes::Bytes;

use super::args::{keyword, push_consistency};
use super::Args;
use crate::error::{Error, Result};
use crate::types::Consistency;

/// A half-open key range `[start, end)`; `end = None` reaches to the end of the key space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    /// First key included.
    pub start: Bytes,
    /// First key excluded; `None` for no upper bound.
    pub end: Option<Bytes>,
}

impl KeyRange {
    /// Every key starting with `prefix` (the empty prefix is every key).
    pub fn prefix(prefix: Bytes) -> KeyRange {
        let end = prefix_end(&prefix);
        KeyRange { start: prefix, end }
    }

    /// True when `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= &self.start[..] && self.end.as_ref().is_none_or(|end| key < &end[..])
    }

    /// Parses `start end` (an empty `end` = unbounded) or `PREFIX p`.
    pub(crate) fn parse(args: &mut Args) -> Result<KeyRange> {
        if args.remaining() < 2 {
            return Err(args.arity_error());
        }
        let first = args.next_bytes()?;
        let second = args.next_bytes()?;
        if first.eq_ignore_ascii_case(b"PREFIX") {
            return Ok(KeyRange::prefix(second));
        }
        Ok(KeyRange {
            start: first,
            end: (!second.is_empty()).then_some(second),
        })
    }

    pub(crate) fn push_words(&self, w: &mut Vec<Bytes>) {
        w.push(self.start.clone());
        w.push(self.end.clone().unwrap_or_default());
    }
}

/// The smallest key greater than every key with this prefix, or `None` if there is none
/// (empty prefix, or all bytes `0xff`).
pub fn prefix_end(prefix: &[u8]) -> Option<Bytes> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(Bytes::from(end));
        }
    }
    None
}

/// What a range read returns per key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RangeView {
    /// A flat array `key, value, key, value, ...` (like `HGETALL`).
    #[default]
    Pairs,
    /// Keys only.
    KeysOnly,
    /// Only the number of keys, as an integer.
    CountOnly,
    /// One array per key: `[key, value, create_revision, mod_revision, version]`.
    WithRevisions,
}

/// Reads the keys in a range, in key order.
///
/// # Format
/// `RANGE start end [LIMIT n] [KEYSONLY|COUNTONLY|REVS] [SERIALIZABLE]` (an empty `end` means
/// "to the last key") or `RANGE PREFIX p [...]`. `COUNTONLY` counts all matches (ignores LIMIT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// The keys to read.
    pub range: KeyRange,
    /// At most this many keys (`None`: all).
    pub limit: Option<u64>,
    /// What to return per key.
    pub view: RangeView,
    /// Linearizable (default) or serializable.
    pub consistency: Consistency,
}

impl Range {
    pub(crate) fn parse(args: &mut Args) -> Result<Range> {
        let range = KeyRange::parse(args)?;
        let mut out = Range {
            range,
            limit: None,
            view: RangeView::Pairs,
            consistency: Consistency::Linearizable,
        };
        let mut view_set = false;
        let mut set_view = |out: &mut Range, v| {
            if std::mem::replace(&mut view_set, true) {
                return Err(Error::invalid(
                    "KEYSONLY, COUNTONLY and REVS exclude each other",
                ));
            }
            out.view = v;
            Ok(())
        };
        while args.remaining() > 0 {
            match keyword(&args.next_bytes()?).as_str() {
                "LIMIT" => out.limit = Some(args.next_u64()?),
                "KEYSONLY" => set_view(&mut out, RangeView::KeysOnly)?,
                "COUNTONLY" => set_view(&mut out, RangeView::CountOnly)?,
                "REVS" => set_view(&mut out, RangeView::WithRevisions)?,
                "SERIALIZABLE" => out.consistency = Consistency::Serializable,
                "LINEARIZABLE" => out.consistency = Consistency::Linearizable,
                _ => return Err(Error::invalid("syntax error")),
            }
        }
        Ok(out)
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        let mut w = vec![Bytes::from_static(b"RANGE")];
        self.range.push_words(&mut w);
        if let Some(limit) = self.limit {
            w.push(Bytes::from_static(b"LIMIT"));
            w.push(Bytes::from(limit.to_string()));
        }
        match self.view {
            RangeView::Pairs => {}
            RangeView::KeysOnly => w.push(Bytes::from_static(b"KEYSONLY")),
            RangeView::CountOnly => w.push(Bytes::from_static(b"COUNTONLY")),
            RangeView::WithRevisions => w.push(Bytes::from_static(b"REVS")),
        }
        push_consistency(&mut w, self.consistency);
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte() {
        assert_eq!(prefix_end(b"ab"), Some(Bytes::from_static(b"ac")));
        assert_eq!(prefix_end(b"a\xff"), Some(Bytes::from_static(b"b")));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn contains_respects_bounds() {
        let r = KeyRange::prefix(Bytes::from_static(b"a/"));
        assert!(r.contains(b"a/"));
        assert!(r.contains(b"a/zzz"));
        assert!(!r.contains(b"a0"));
        assert!(!r.contains(b"a"));
        let all = KeyRange::prefix(Bytes::new());
        assert!(all.contains(b"\xff\xff"));
    }
}
