//! `RANGE start end [options]` / `RANGE PREFIX p [options]`

use bytes::Bytes;

use super::args::{keyword, push_consistency};
use super::Args;
use crate::error::{Error, Result};
use crate::kv::{SortOrder, SortTarget};
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
/// `RANGE start end [LIMIT n] [REV rev] [SORT KEY|VERSION|CREATE|MOD|VALUE ASC|DESC]
/// [MINMOD n] [MAXMOD n] [MINCREATE n] [MAXCREATE n] [KEYSONLY|COUNTONLY|REVS] [SERIALIZABLE]`
/// (an empty `end` means "to the last key") or `RANGE PREFIX p [...]`. `COUNTONLY` counts all
/// matches (ignores LIMIT and the revision filters, as etcd's count does). `REV` reads the
/// range as it was at that revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// The keys to read.
    pub range: KeyRange,
    /// At most this many keys (`None`: all).
    pub limit: Option<u64>,
    /// What to return per key.
    pub view: RangeView,
    /// Read at this revision (0: current).
    pub revision: i64,
    /// Sort by this, in this direction (`None`: key order).
    pub sort: Option<(SortTarget, SortOrder)>,
    /// Revision filters: `[min_mod, max_mod, min_create, max_create]` (0: no filter).
    pub filters: [i64; 4],
    /// Linearizable (default) or serializable.
    pub consistency: Consistency,
}

/// Option keywords of the revision filters, in [`Range::filters`] order.
const FILTERS: [&str; 4] = ["MINMOD", "MAXMOD", "MINCREATE", "MAXCREATE"];

fn parse_sort(args: &mut Args) -> Result<(SortTarget, SortOrder)> {
    let target = match keyword(&args.next_bytes()?).as_str() {
        "KEY" => SortTarget::Key,
        "VERSION" => SortTarget::Version,
        "CREATE" => SortTarget::Create,
        "MOD" => SortTarget::Mod,
        "VALUE" => SortTarget::Value,
        _ => {
            return Err(Error::invalid(
                "SORT takes KEY, VERSION, CREATE, MOD or VALUE",
            ))
        }
    };
    let order = match keyword(&args.next_bytes()?).as_str() {
        "ASC" => SortOrder::Ascend,
        "DESC" => SortOrder::Descend,
        _ => return Err(Error::invalid("SORT order must be ASC or DESC")),
    };
    Ok((target, order))
}

fn sort_words(target: SortTarget, order: SortOrder) -> [Bytes; 3] {
    let t: &'static [u8] = match target {
        SortTarget::Key => b"KEY",
        SortTarget::Version => b"VERSION",
        SortTarget::Create => b"CREATE",
        SortTarget::Mod => b"MOD",
        SortTarget::Value => b"VALUE",
    };
    let o: &'static [u8] = match order {
        SortOrder::Descend => b"DESC",
        _ => b"ASC",
    };
    [
        Bytes::from_static(b"SORT"),
        Bytes::from_static(t),
        Bytes::from_static(o),
    ]
}

impl Range {
    pub(crate) fn parse(args: &mut Args) -> Result<Range> {
        let range = KeyRange::parse(args)?;
        let mut out = Range {
            range,
            limit: None,
            view: RangeView::Pairs,
            revision: 0,
            sort: None,
            filters: [0; 4],
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
            let word = keyword(&args.next_bytes()?);
            if let Some(i) = FILTERS.iter().position(|f| *f == word) {
                out.filters[i] = args.next_i64()?;
                continue;
            }
            match word.as_str() {
                "LIMIT" => out.limit = Some(args.next_u64()?),
                "REV" => out.revision = args.next_i64()?,
                "SORT" => out.sort = Some(parse_sort(args)?),
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
        if self.revision != 0 {
            w.push(Bytes::from_static(b"REV"));
            w.push(Bytes::from(self.revision.to_string()));
        }
        if let Some((target, order)) = self.sort {
            w.extend(sort_words(target, order));
        }
        for (name, value) in FILTERS.iter().zip(self.filters) {
            if value != 0 {
                w.push(Bytes::from_static(name.as_bytes()));
                w.push(Bytes::from(value.to_string()));
            }
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
