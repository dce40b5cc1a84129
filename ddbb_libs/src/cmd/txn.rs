//! `TXN [IF ...] [THEN n op...] [ELSE n op...]`

use bytes::Bytes;

use super::args::{keyword, push_request_id};
use super::put::parse_request_id;
use super::{Args, Command};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::kv::{Compare, CompareResult, CompareTarget, TargetUnion};
use crate::types::RequestId;

/// Deepest nesting of `TXN` inside `TXN`.
pub const MAX_TXN_DEPTH: usize = 8;

/// A transaction: if every compare holds, run the `THEN` operations, else the `ELSE` ones, all
/// as one revision (etcd's Txn).
///
/// # Format
/// `TXN {IF target key op operand | IFRANGE target key end op operand}...
///  {THEN n word...}... {ELSE n word...}... [REQID client seq]`
///
/// - `target`: `VALUE`, `VERSION`, `CREATE`, `MOD` or `LEASE`; `op`: `=`, `!=`, `<`, `>`;
///   `operand`: the value, or an integer. `IFRANGE` compares every key of `[key, end)`.
/// - Each `THEN`/`ELSE` introduces one operation of `n` words, itself a command: `GET`,
///   `RANGE`, `SET`/`PUT`, `DEL`/`DELRANGE`, `CAS` or a nested `TXN` (without `REQID`).
///
/// Reply: `[succeeded (1|0), revision, [reply of each operation that ran]]`, each reply shaped
/// as its command's. Example: `TXN IF VALUE k = v1 THEN 3 SET k v2 ELSE 2 GET k`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn {
    /// Conditions, all evaluated on the state before the transaction.
    pub compare: Vec<Compare>,
    /// Operations run when every compare holds.
    pub success: Vec<Command>,
    /// Operations run otherwise.
    pub failure: Vec<Command>,
    /// Optional request id for exactly-once retries.
    pub request: Option<RequestId>,
}

impl Txn {
    pub(crate) fn parse(args: &mut Args, depth: usize) -> Result<Txn> {
        if depth > MAX_TXN_DEPTH {
            return Err(Error::invalid(format!(
                "TXN nested more than {MAX_TXN_DEPTH} deep"
            )));
        }
        let mut txn = Txn {
            compare: Vec::new(),
            success: Vec::new(),
            failure: Vec::new(),
            request: None,
        };
        while args.remaining() > 0 {
            match keyword(&args.next_bytes()?).as_str() {
                "IF" => txn.compare.push(parse_compare(args, false)?),
                "IFRANGE" => txn.compare.push(parse_compare(args, true)?),
                "THEN" => txn.success.push(parse_op(args, depth)?),
                "ELSE" => txn.failure.push(parse_op(args, depth)?),
                "REQID" if txn.request.is_none() && depth == 0 => {
                    txn.request = Some(parse_request_id(args)?)
                }
                _ => return Err(Error::invalid("syntax error")),
            }
        }
        Ok(txn)
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        let mut w = vec![Bytes::from_static(b"TXN")];
        for c in &self.compare {
            push_compare(&mut w, c);
        }
        for (word, ops) in [(&b"THEN"[..], &self.success), (&b"ELSE"[..], &self.failure)] {
            for op in ops {
                let op_words = op.words();
                w.push(Bytes::from_static(word));
                w.push(Bytes::from(op_words.len().to_string()));
                w.extend(op_words);
            }
        }
        push_request_id(&mut w, &self.request);
        w
    }
}

fn parse_compare(args: &mut Args, range: bool) -> Result<Compare> {
    let target = match keyword(&args.next_bytes()?).as_str() {
        "VALUE" => CompareTarget::Value,
        "VERSION" => CompareTarget::Version,
        "CREATE" => CompareTarget::Create,
        "MOD" => CompareTarget::Mod,
        "LEASE" => CompareTarget::Lease,
        _ => {
            return Err(Error::invalid(
                "compare target must be VALUE, VERSION, CREATE, MOD or LEASE",
            ))
        }
    };
    let key = args.next_bytes()?;
    let range_end = if range {
        args.next_bytes()?
    } else {
        Bytes::new()
    };
    let result = match &args.next_bytes()?[..] {
        b"=" | b"==" => CompareResult::Equal,
        b"!=" => CompareResult::NotEqual,
        b"<" => CompareResult::Less,
        b">" => CompareResult::Greater,
        _ => return Err(Error::invalid("compare operator must be =, !=, < or >")),
    };
    let operand = match target {
        CompareTarget::Value => TargetUnion::Value(args.next_bytes()?),
        CompareTarget::Version => TargetUnion::Version(args.next_i64()?),
        CompareTarget::Create => TargetUnion::CreateRevision(args.next_i64()?),
        CompareTarget::Mod => TargetUnion::ModRevision(args.next_i64()?),
        CompareTarget::Lease => TargetUnion::Lease(args.next_i64()?),
    };
    Ok(Compare {
        result,
        target,
        key,
        range_end,
        target_union: Some(operand),
    })
}

fn push_compare(w: &mut Vec<Bytes>, c: &Compare) {
    let target: &'static [u8] = match c.target {
        CompareTarget::Value => b"VALUE",
        CompareTarget::Version => b"VERSION",
        CompareTarget::Create => b"CREATE",
        CompareTarget::Mod => b"MOD",
        CompareTarget::Lease => b"LEASE",
    };
    let range = !c.range_end.is_empty();
    w.push(Bytes::from_static(if range { b"IFRANGE" } else { b"IF" }));
    w.push(Bytes::from_static(target));
    w.push(c.key.clone());
    if range {
        w.push(c.range_end.clone());
    }
    w.push(Bytes::from_static(match c.result {
        CompareResult::Equal => b"=",
        CompareResult::NotEqual => b"!=",
        CompareResult::Less => b"<",
        CompareResult::Greater => b">",
    }));
    // A missing or mismatched operand counts as zero / empty, as in etcd.
    w.push(match (&c.target_union, c.target) {
        (Some(TargetUnion::Value(v)), CompareTarget::Value) => v.clone(),
        (Some(TargetUnion::Version(n)), CompareTarget::Version)
        | (Some(TargetUnion::CreateRevision(n)), CompareTarget::Create)
        | (Some(TargetUnion::ModRevision(n)), CompareTarget::Mod)
        | (Some(TargetUnion::Lease(n)), CompareTarget::Lease) => Bytes::from(n.to_string()),
        (_, CompareTarget::Value) => Bytes::new(),
        _ => Bytes::from_static(b"0"),
    });
}

/// One `THEN`/`ELSE` operation: a count, then that many words forming a command.
fn parse_op(args: &mut Args, depth: usize) -> Result<Command> {
    let n = usize::try_from(args.next_u64()?).unwrap_or(usize::MAX);
    if n == 0 || n > args.remaining() {
        return Err(Error::invalid("TXN operation word count out of range"));
    }
    let mut words = Vec::with_capacity(n);
    for _ in 0..n {
        words.push(Frame::Bulk(args.next_bytes()?));
    }
    let op = Command::parse_words(words, depth + 1)?;
    match &op {
        Command::Get(_) | Command::Range(_) | Command::Cas(_) | Command::Txn(_) => {}
        Command::Put(p) if p.request.is_none() => {}
        Command::Del(d) if d.request.is_none() => {}
        Command::Put(_) | Command::Del(_) => {
            return Err(Error::invalid("REQID is only allowed on the TXN itself"))
        }
        _ => {
            return Err(Error::invalid(
                "a TXN operation must be GET, RANGE, SET, PUT, DEL, DELRANGE, CAS or TXN",
            ))
        }
    }
    Ok(op)
}
