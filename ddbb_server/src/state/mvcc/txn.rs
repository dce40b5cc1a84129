//! Txn: compares, then the success or failure branch, as one write with one main revision.
//!
//! Follows etcd's `kvServer.Txn` and `applierV3backend.Txn`:
//! 1. request checks ([`validate_txn`]; no state needed, so an adapter may run them before
//!    proposing): at most `max_txn_ops` compares and operations per branch (a nested Txn gets
//!    the budget left by its parent), non-empty keys, put flags, and no key written twice;
//! 2. every compare, nested Txns' included, is evaluated on the state before the Txn, which
//!    fixes the path through the nested Txns;
//! 3. state checks on that path, all before the first change: `ignore_value`/`ignore_lease`
//!    puts need an existing key, reads need a retained, non-future revision;
//! 4. the operations run in order, reads seeing the Txn's earlier writes; every change gets
//!    the same main revision and the next `sub`. A Txn that changed nothing keeps the revision.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use bytes::Bytes;

use super::store::{check_put_request, Applied, MvccStore, Write};
use super::KvError;
use ddbb_libs::kv::{
    Compare, CompareResult, CompareTarget, KeyRange, KeyValue, RequestOp, ResponseOp, TargetUnion,
    TxnRequest, TxnResponse,
};

/// etcd's default `--max-txn-ops`.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;

/// etcd's request checks of a Txn (`checkTxnRequest`, then `checkIntervals` on each branch):
/// `TooManyOps`, `EmptyKey`, `ValueProvided`, `LeaseProvided`, `DuplicateKey`.
///
/// Duplicate keys: in one branch, a key may be put once; a put may not fall in a range deleted
/// in the same branch or a nested one; nested Txns count, except that the success and failure
/// branches of one nested Txn may put the same key (only one of them runs). Deletes may
/// overlap each other. Unlike etcd, a delete with `range_end == [0]` ("every key >= key")
/// counts as the range it deletes (etcd's interval check misses it).
pub fn validate_txn(req: &TxnRequest, max_txn_ops: usize) -> Result<(), KvError> {
    check_txn_request(req, i64::try_from(max_txn_ops).unwrap_or(i64::MAX))?;
    check_intervals(&req.success)?;
    check_intervals(&req.failure)?;
    Ok(())
}

fn check_txn_request(req: &TxnRequest, max_txn_ops: i64) -> Result<(), KvError> {
    let ops = req
        .compare
        .len()
        .max(req.success.len())
        .max(req.failure.len());
    let ops = i64::try_from(ops).unwrap_or(i64::MAX);
    if ops > max_txn_ops {
        return Err(KvError::TooManyOps);
    }
    if req.compare.iter().any(|c| c.key.is_empty()) {
        return Err(KvError::EmptyKey);
    }
    for op in req.success.iter().chain(&req.failure) {
        match op {
            RequestOp::Range(r) if r.key.is_empty() => return Err(KvError::EmptyKey),
            RequestOp::DeleteRange(d) if d.key.is_empty() => return Err(KvError::EmptyKey),
            RequestOp::Put(p) => check_put_request(p)?,
            RequestOp::Txn(t) => check_txn_request(t, max_txn_ops - ops)?,
            RequestOp::Range(_) | RequestOp::DeleteRange(_) => {}
        }
    }
    Ok(())
}

type Puts = BTreeSet<Bytes>;

fn deleted(dels: &[KeyRange], key: &[u8]) -> bool {
    dels.iter().any(|d| d.contains(key))
}

/// The keys put and the ranges deleted by `ops` and their nested Txns, or `DuplicateKey`.
fn check_intervals(ops: &[RequestOp]) -> Result<(Puts, Vec<KeyRange>), KvError> {
    let mut dels: Vec<KeyRange> = ops
        .iter()
        .filter_map(|op| match op {
            RequestOp::DeleteRange(d) => Some(KeyRange::new(&d.key, &d.range_end)),
            _ => None,
        })
        .collect();
    let mut puts = Puts::new();
    for op in ops {
        let RequestOp::Txn(t) = op else { continue };
        let (puts_then, dels_then) = check_intervals(&t.success)?;
        let (puts_else, dels_else) = check_intervals(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || deleted(&dels, k) {
                return Err(KvError::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        for k in puts_else {
            if (puts.contains(&k) && !puts_then.contains(&k)) || deleted(&dels, &k) {
                return Err(KvError::DuplicateKey);
            }
            puts.insert(k);
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }
    for op in ops {
        let RequestOp::Put(p) = op else { continue };
        if puts.contains(&p.key) || deleted(&dels, &p.key) {
            return Err(KvError::DuplicateKey);
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}

/// Which branch each Txn takes: this one, then its chosen branch's nested Txns in order.
struct Path {
    succeeded: bool,
    nested: Vec<Path>,
}

fn branch(req: &TxnRequest, succeeded: bool) -> &[RequestOp] {
    if succeeded {
        &req.success
    } else {
        &req.failure
    }
}

/// Whether a key's field compares with the target as asked (etcd's `compareKV`).
fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let int = |wanted: fn(&TargetUnion) -> Option<i64>| -> i64 {
        c.target_union.as_ref().and_then(wanted).unwrap_or(0)
    };
    let ord = match c.target {
        CompareTarget::Value => match &c.target_union {
            Some(TargetUnion::Value(v)) => kv.value[..].cmp(&v[..]),
            _ => kv.value[..].cmp(&[][..]),
        },
        CompareTarget::Version => kv.version.cmp(&int(|t| match t {
            TargetUnion::Version(v) => Some(*v),
            _ => None,
        })),
        CompareTarget::Create => kv.create_revision.cmp(&int(|t| match t {
            TargetUnion::CreateRevision(v) => Some(*v),
            _ => None,
        })),
        CompareTarget::Mod => kv.mod_revision.cmp(&int(|t| match t {
            TargetUnion::ModRevision(v) => Some(*v),
            _ => None,
        })),
        CompareTarget::Lease => kv.lease.cmp(&int(|t| match t {
            TargetUnion::Lease(v) => Some(*v),
            _ => None,
        })),
    };
    match c.result {
        CompareResult::Equal => ord == Ordering::Equal,
        CompareResult::NotEqual => ord != Ordering::Equal,
        CompareResult::Greater => ord == Ordering::Greater,
        CompareResult::Less => ord == Ordering::Less,
    }
}

impl MvccStore {
    /// etcd's Txn (see the module doc). Errors leave the store untouched.
    pub fn txn(
        &mut self,
        req: &TxnRequest,
        max_txn_ops: usize,
    ) -> Result<Applied<TxnResponse>, KvError> {
        validate_txn(req, max_txn_ops)?;
        let path = self.path(req);
        self.check_path(req, &path, &|store, op| match op {
            RequestOp::Put(p) => store.check_put_state(p),
            _ => Ok(()),
        })?;
        self.check_path(req, &path, &|store, op| match op {
            RequestOp::Range(r) => store.read_revision(r.revision).map(|_| ()),
            _ => Ok(()),
        })?;
        let mut write = self.begin();
        let response = self.execute(&mut write, req, &path);
        Ok(self.finish(write, response))
    }

    /// Whether a compare holds at the current revision: on every key of its range, or, when
    /// no key is there, on an absent key (all zero; a value compare is then false).
    pub fn compare_holds(&self, c: &Compare) -> bool {
        let range = KeyRange::new(&c.key, &c.range_end);
        let mut any = false;
        for (key, change) in self.visible(&range, self.revision) {
            any = true;
            if !change.to_kv(key).is_some_and(|kv| compare_kv(c, &kv)) {
                return false;
            }
        }
        any || (c.target != CompareTarget::Value && compare_kv(c, &KeyValue::default()))
    }

    fn path(&self, req: &TxnRequest) -> Path {
        let succeeded = req.compare.iter().all(|c| self.compare_holds(c));
        let nested = branch(req, succeeded)
            .iter()
            .filter_map(|op| match op {
                RequestOp::Txn(t) => Some(self.path(t)),
                _ => None,
            })
            .collect();
        Path { succeeded, nested }
    }

    /// Runs `check` on every non-Txn operation along `path` (etcd's `checkRequests`).
    fn check_path(
        &self,
        req: &TxnRequest,
        path: &Path,
        check: &dyn Fn(&MvccStore, &RequestOp) -> Result<(), KvError>,
    ) -> Result<(), KvError> {
        let mut nested = path.nested.iter();
        for op in branch(req, path.succeeded) {
            if let RequestOp::Txn(t) = op {
                if let Some(p) = nested.next() {
                    self.check_path(t, p, check)?;
                }
            } else {
                check(self, op)?;
            }
        }
        Ok(())
    }

    fn execute(&mut self, write: &mut Write, req: &TxnRequest, path: &Path) -> TxnResponse {
        let ops = branch(req, path.succeeded);
        let mut nested = path.nested.iter();
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            responses.push(match op {
                RequestOp::Range(r) => {
                    // Reads at "current" see the Txn's own writes (they are at `write.main`).
                    let rev = if r.revision > 0 {
                        r.revision
                    } else {
                        write.main
                    };
                    ResponseOp::Range(self.range_at(r, rev))
                }
                RequestOp::Put(p) => ResponseOp::Put(self.put_in(write, p)),
                RequestOp::DeleteRange(d) => ResponseOp::DeleteRange(self.delete_in(write, d)),
                RequestOp::Txn(t) => ResponseOp::Txn(match nested.next() {
                    Some(p) => self.execute(write, t, p),
                    None => TxnResponse::default(),
                }),
            });
        }
        TxnResponse {
            succeeded: path.succeeded,
            responses,
        }
    }
}
