//! The replicated state: the MVCC store, client sessions, alarms, and how far the log was
//! applied; and how each decided write changes it.

use std::collections::BTreeSet;

use ddbb_libs::kv::{
    AlarmAction, AlarmMember, AlarmRequest, AlarmType, Event, KvError, RangeRequest, RangeResponse,
    RequestOp, TxnRequest, WriteOutcome, WriteRequest, WriteResponse,
};
use ddbb_libs::LogIndex;
use serde::{Deserialize, Serialize};

use super::mvcc::MvccStore;
use super::SessionTable;
use crate::entry::{LogEntry, WriteCommand};

/// Outcomes bigger than this (a Txn's range results, a big delete's `prev_kvs`) are not kept
/// for retries: a duplicate of such a request gets [`KvError::Expired`].
pub const MAX_REMEMBERED_OUTCOME_BYTES: usize = 64 * 1024;

/// The replicated state machine. Every replica applying the same entries in the same order
/// holds the same `KvState`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvState {
    store: MvccStore,
    sessions: SessionTable,
    alarms: BTreeSet<AlarmMember>,
    applied_index: LogIndex,
}

/// One applied write: its command, outcome and the events it produced (for watchers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The command as it was in the log.
    pub command: WriteCommand,
    /// What it came to (the first outcome, for a duplicate).
    pub outcome: WriteOutcome,
    /// Changes in revision order (none for a duplicate or a failed write).
    pub events: Vec<Event>,
}

impl KvState {
    /// An empty store at revision 1 (the first write gets revision 2, as in etcd).
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the decided entry at log position `index` (the next one after
    /// [`KvState::applied_index`]). Returns each command's outcome and events, in order.
    pub fn apply(&mut self, index: LogIndex, entry: &LogEntry) -> Vec<Applied> {
        let applied = entry
            .commands
            .iter()
            .map(|command| self.apply_command(index, command))
            .collect();
        self.finish_entry(index, entry);
        applied
    }

    /// Applies a whole entry when nobody waits for its outcomes (snapshot folding, replay).
    pub fn apply_silently(&mut self, index: LogIndex, entry: &LogEntry) {
        for command in &entry.commands {
            self.apply_command(index, command);
        }
        self.finish_entry(index, entry);
    }

    /// Applies one command of the entry at `index` (unless it is a duplicate); the caller
    /// applies all of them in order, then calls [`KvState::finish_entry`].
    pub fn apply_command(&mut self, index: LogIndex, command: &WriteCommand) -> Applied {
        if let Some(earlier) = self.sessions.duplicate(command.id) {
            return Applied {
                command: command.clone(),
                outcome: earlier,
                events: Vec::new(),
            };
        }
        let (result, events) = self.apply_op(&command.op);
        let outcome = WriteOutcome {
            revision: self.store.revision(),
            result,
        };
        self.sessions
            .record(command.id, remembered(&outcome), index);
        Applied {
            command: command.clone(),
            outcome,
            events,
        }
    }

    /// Completes the entry at `index` after its commands: raises the origin's session floor
    /// and marks the entry applied.
    pub fn finish_entry(&mut self, index: LogIndex, entry: &LogEntry) {
        if let Some(floor) = entry.session_floor {
            self.sessions.raise_floor(floor, index);
        }
        self.applied_index = index + 1;
    }

    fn apply_op(&mut self, op: &WriteRequest) -> (Result<WriteResponse, KvError>, Vec<Event>) {
        let no_space = self.alarms.iter().any(|a| a.alarm == AlarmType::NoSpace);
        let result = match op {
            WriteRequest::Put(_) if no_space => Err(KvError::NoSpace),
            WriteRequest::Txn(txn) if no_space && txn_puts(txn) => Err(KvError::NoSpace),
            WriteRequest::LeaseGrant(_) if no_space => Err(KvError::NoSpace),
            WriteRequest::Put(req) => self
                .store
                .put(req)
                .map(|a| (WriteResponse::Put(a.response), a.events)),
            WriteRequest::DeleteRange(req) => self
                .store
                .delete_range(req)
                .map(|a| (WriteResponse::DeleteRange(a.response), a.events)),
            // The operation limit is checked where the request enters (replica flags may
            // differ); applying must not depend on a replica's flags.
            WriteRequest::Txn(req) => self
                .store
                .txn(req, usize::MAX)
                .map(|a| (WriteResponse::Txn(a.response), a.events)),
            WriteRequest::Compact(req) => self
                .store
                .compact(req)
                .map(|r| (WriteResponse::Compact(r), Vec::new())),
            WriteRequest::Alarm(req) => Ok((WriteResponse::Alarm(self.alarm(req)), Vec::new())),
            WriteRequest::LeaseGrant(req) => self
                .store
                .lease_grant(req)
                .map(|r| (WriteResponse::LeaseGrant(r), Vec::new())),
            WriteRequest::LeaseRevoke(id) => self
                .store
                .lease_revoke(*id)
                .map(|a| (WriteResponse::LeaseRevoke, a.events)),
            WriteRequest::LeaseKeepAlive(id) => self
                .store
                .lease_keepalive(*id)
                .map(|r| (WriteResponse::LeaseKeepAlive(r), Vec::new())),
            WriteRequest::LeaseExpire { id, renewals } => {
                let a = self.store.lease_expire(*id, *renewals);
                Ok((WriteResponse::LeaseExpired(a.response), a.events))
            }
        };
        match result {
            Ok((response, events)) => (Ok(response), events),
            Err(e) => (Err(e), Vec::new()),
        }
    }

    fn alarm(&mut self, req: &AlarmRequest) -> Vec<AlarmMember> {
        match req.action {
            AlarmAction::Get => {}
            AlarmAction::Activate if req.alarm != AlarmType::None => {
                self.alarms.insert(AlarmMember {
                    member_id: req.member_id,
                    alarm: req.alarm,
                });
            }
            AlarmAction::Activate => {}
            AlarmAction::Deactivate => self.alarms.retain(|a| {
                let member = req.member_id == 0 || a.member_id == req.member_id;
                let kind = req.alarm == AlarmType::None || a.alarm == req.alarm;
                !(member && kind)
            }),
        }
        self.alarms()
    }

    /// The remembered outcome if the write `id` was applied already.
    pub fn duplicate(&self, id: ddbb_libs::RequestId) -> Option<WriteOutcome> {
        self.sessions.duplicate(id)
    }

    /// Marks a log entry that carries no state change (a no-op) as applied.
    pub fn skip(&mut self, index: LogIndex) {
        self.applied_index = index + 1;
    }

    /// A read at the revision the request names (0: now).
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse, KvError> {
        self.store.range(req)
    }

    /// The MVCC store.
    pub fn store(&self) -> &MvccStore {
        &self.store
    }

    /// The store's revision (etcd's header revision).
    pub fn revision(&self) -> i64 {
        self.store.revision()
    }

    /// The raised alarms, in order.
    pub fn alarms(&self) -> Vec<AlarmMember> {
        self.alarms.iter().copied().collect()
    }

    /// Keys with history in the store (live or deleted but not yet compacted away).
    pub fn len(&self) -> usize {
        self.store.history_key_count()
    }

    /// True when the store holds no history at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of log entries applied (the next index to apply).
    pub fn applied_index(&self) -> LogIndex {
        self.applied_index
    }

    /// Number of client sessions remembered.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }
}

/// Whether a Txn could add data in either branch (refused while `NOSPACE` is raised, as etcd).
fn txn_puts(txn: &TxnRequest) -> bool {
    txn.success.iter().chain(&txn.failure).any(|op| match op {
        RequestOp::Put(_) => true,
        RequestOp::Txn(t) => txn_puts(t),
        _ => false,
    })
}

/// What the session table keeps of an outcome: the outcome, or `Expired` when it is too big
/// to keep for every client's retry window.
fn remembered(outcome: &WriteOutcome) -> WriteOutcome {
    let bytes = match &outcome.result {
        Ok(response) => response_bytes(response),
        Err(_) => 0,
    };
    if bytes <= MAX_REMEMBERED_OUTCOME_BYTES {
        return outcome.clone();
    }
    WriteOutcome {
        revision: outcome.revision,
        result: Err(KvError::Expired),
    }
}

/// Approximate bytes of the key-values a response carries.
fn response_bytes(response: &WriteResponse) -> usize {
    use ddbb_libs::kv::{KeyValue, ResponseOp};
    fn kvs<'a>(it: impl IntoIterator<Item = &'a KeyValue>) -> usize {
        it.into_iter()
            .map(|kv| kv.key.len() + kv.value.len() + 48)
            .sum()
    }
    fn ops(responses: &[ResponseOp]) -> usize {
        responses
            .iter()
            .map(|r| match r {
                ResponseOp::Range(r) => kvs(&r.kvs),
                ResponseOp::Put(p) => kvs(&p.prev_kv),
                ResponseOp::DeleteRange(d) => kvs(&d.prev_kvs),
                ResponseOp::Txn(t) => ops(&t.responses),
            })
            .sum()
    }
    match response {
        WriteResponse::Put(p) => kvs(&p.prev_kv),
        WriteResponse::DeleteRange(d) => kvs(&d.prev_kvs),
        WriteResponse::Txn(t) => ops(&t.responses),
        WriteResponse::Compact(_)
        | WriteResponse::Alarm(_)
        | WriteResponse::LeaseGrant(_)
        | WriteResponse::LeaseRevoke
        | WriteResponse::LeaseKeepAlive(_)
        | WriteResponse::LeaseExpired(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbb_libs::kv::{
        CompactionRequest, Compare, CompareResult, DeleteRangeRequest, PutRequest, RangeRequest,
        ResponseOp,
    };
    use ddbb_libs::RequestId;

    fn apply(s: &mut KvState, seq: u64, op: WriteRequest) -> WriteOutcome {
        let entry = LogEntry {
            origin: 1,
            commands: vec![WriteCommand {
                id: RequestId { client: 1, seq },
                op,
            }],
            ..Default::default()
        };
        let index = s.applied_index();
        s.apply(index, &entry).remove(0).outcome
    }

    fn put(k: &str, v: &str) -> WriteRequest {
        WriteRequest::Put(PutRequest::new(k.to_string(), v.to_string()))
    }

    fn alarm(action: AlarmAction, member_id: u64, alarm: AlarmType) -> WriteRequest {
        WriteRequest::Alarm(AlarmRequest {
            action,
            member_id,
            alarm,
        })
    }

    #[test]
    fn revisions_start_at_one_and_outcomes_carry_the_revision_after_the_write() {
        let mut s = KvState::new();
        assert_eq!(s.revision(), 1);
        assert_eq!(apply(&mut s, 1, put("a", "1")).revision, 2);
        let nothing = apply(
            &mut s,
            2,
            WriteRequest::DeleteRange(DeleteRangeRequest::key("zz")),
        );
        assert_eq!(
            nothing.revision, 2,
            "a delete of nothing keeps the revision"
        );
        let old = s.range(&RangeRequest {
            revision: 1,
            ..RangeRequest::key("a")
        });
        assert_eq!(old.unwrap().kvs, vec![]);
    }

    #[test]
    fn a_duplicate_gets_the_first_outcome_and_changes_nothing() {
        let mut s = KvState::new();
        let first = apply(&mut s, 7, put("a", "1"));
        apply(&mut s, 8, put("a", "2"));
        assert_eq!(apply(&mut s, 7, put("a", "3")), first);
        assert_eq!(s.store().get(b"a").unwrap().value, "2");
        assert_eq!(s.revision(), 3);
    }

    #[test]
    fn nospace_refuses_adding_writes_but_not_deletes_or_compaction() {
        let mut s = KvState::new();
        apply(&mut s, 1, put("a", "1"));
        let raised = apply(
            &mut s,
            2,
            alarm(AlarmAction::Activate, 3, AlarmType::NoSpace),
        );
        assert_eq!(
            raised.result,
            Ok(WriteResponse::Alarm(vec![AlarmMember {
                member_id: 3,
                alarm: AlarmType::NoSpace
            }]))
        );
        assert_eq!(
            apply(&mut s, 3, put("b", "1")).result,
            Err(KvError::NoSpace)
        );
        let txn = TxnRequest {
            compare: vec![Compare::value("a", CompareResult::Equal, "x")],
            success: vec![],
            failure: vec![RequestOp::Put(PutRequest::new("c", "1"))],
        };
        assert_eq!(
            apply(&mut s, 4, WriteRequest::Txn(txn)).result,
            Err(KvError::NoSpace),
            "a put in either branch is refused"
        );
        let deleted = apply(
            &mut s,
            5,
            WriteRequest::DeleteRange(DeleteRangeRequest::key("a")),
        );
        assert!(deleted.result.is_ok());
        let compact = WriteRequest::Compact(CompactionRequest {
            revision: 3,
            physical: false,
        });
        assert!(apply(&mut s, 6, compact).result.is_ok());
        // Disarming every alarm (member 0, kind None) lets writes in again.
        apply(
            &mut s,
            7,
            alarm(AlarmAction::Deactivate, 0, AlarmType::None),
        );
        assert!(s.alarms().is_empty());
        assert!(apply(&mut s, 8, put("b", "1")).result.is_ok());
    }

    #[test]
    fn deactivate_clears_only_what_it_names() {
        let mut s = KvState::new();
        apply(
            &mut s,
            1,
            alarm(AlarmAction::Activate, 1, AlarmType::NoSpace),
        );
        apply(
            &mut s,
            2,
            alarm(AlarmAction::Activate, 2, AlarmType::NoSpace),
        );
        apply(
            &mut s,
            3,
            alarm(AlarmAction::Activate, 2, AlarmType::Corrupt),
        );
        apply(&mut s, 4, alarm(AlarmAction::Activate, 2, AlarmType::None));
        assert_eq!(s.alarms().len(), 3, "activating NONE raises nothing");
        apply(
            &mut s,
            5,
            alarm(AlarmAction::Deactivate, 2, AlarmType::NoSpace),
        );
        let left: Vec<_> = s.alarms().iter().map(|a| (a.member_id, a.alarm)).collect();
        assert_eq!(left, vec![(1, AlarmType::NoSpace), (2, AlarmType::Corrupt)]);
        let listed = apply(&mut s, 6, alarm(AlarmAction::Get, 0, AlarmType::None));
        assert_eq!(listed.result, Ok(WriteResponse::Alarm(s.alarms())));
    }

    #[test]
    fn big_outcomes_are_not_kept_for_retries() {
        let mut s = KvState::new();
        let big = "x".repeat(MAX_REMEMBERED_OUTCOME_BYTES);
        apply(&mut s, 1, put("a", &big));
        let mut read_back = TxnRequest::default();
        read_back
            .success
            .push(RequestOp::Range(RangeRequest::key("a")));
        let first = apply(&mut s, 2, WriteRequest::Txn(read_back.clone()));
        let Ok(WriteResponse::Txn(t)) = &first.result else {
            panic!("{first:?}")
        };
        assert!(
            matches!(&t.responses[0], ResponseOp::Range(r) if r.kvs[0].value.len() == big.len())
        );
        let retried = apply(&mut s, 2, WriteRequest::Txn(read_back));
        assert_eq!(retried.result, Err(KvError::Expired));
        assert_eq!(retried.revision, first.revision);
    }

    #[test]
    fn the_state_survives_serialization() {
        let mut s = KvState::new();
        apply(&mut s, 1, put("a", "1"));
        apply(&mut s, 2, put("a", "2"));
        apply(
            &mut s,
            3,
            alarm(AlarmAction::Activate, 1, AlarmType::NoSpace),
        );
        let bytes = bincode::serialize(&s).unwrap();
        let back: KvState = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.store().live_key_count(), 1);
    }
}
