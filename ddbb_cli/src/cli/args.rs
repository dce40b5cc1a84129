//! The clap definitions shared by one-shot mode and the REPL.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::output::Format;

/// Endpoints used when neither `--endpoints` nor `DDBB_ENDPOINTS` is given: the playground's.
pub const DEFAULT_ENDPOINTS: &str = "127.0.0.1:6001,127.0.0.1:6002,127.0.0.1:6003";

const ROOT_AFTER_HELP: &str = "\
Examples:
  ddbb playground                        start a local cluster and open a REPL on it
  ddbb put greeting hello                write a key
  echo hello | ddbb put greeting         ... with the value from stdin
  ddbb get greeting --print-value-only   read it (linearizable)
  ddbb get user/ --prefix -w json        every key under a prefix, as JSON
  ddbb get greeting --rev 2              the key as it was at revision 2
  ddbb txn < ops.txt                     a transaction in etcdctl's txn format
  ddbb compaction 42                     drop the history below revision 42
  ddbb -w table status                   every endpoint's view of the cluster
  ddbb lease grant 10                    a lease; put KEY VALUE --lease ID attaches keys
  ddbb lock jobs -- ./run.sh             run a command under a distributed lock
  ddbb elect jobs node-1                 campaign to be the leader; elect -l jobs observes
  ddbb                                   interactive REPL on the endpoints

Exit status: 0 on success (also for `get` of a missing key, which prints nothing),
1 when a request fails (unreachable cluster, timeout, server error, failed `cas`),
2 for bad arguments. Errors are one line on stderr.";

/// Command-line client for DDBB, an etcd-like replicated key-value store.
///
/// With a command, runs it once (like etcdctl). Without one, opens an interactive REPL on
/// the endpoints. `ddbb playground` starts a local cluster in this process first.
#[derive(Parser, Debug)]
#[command(name = "ddbb", version, after_help = ROOT_AFTER_HELP)]
pub struct Cli {
    /// Connection and output options.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run once; none opens the REPL.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options that apply to every command.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Client addresses of the replicas (host:port, comma-separated), tried in order.
    #[arg(
        long,
        global = true,
        env = "DDBB_ENDPOINTS",
        value_delimiter = ',',
        default_value = DEFAULT_ENDPOINTS,
        value_name = "HOST:PORT,..."
    )]
    pub endpoints: Vec<String>,
    /// Deadline of one command, failover included (e.g. 500ms, 5s, 1m).
    #[arg(long, global = true, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Output format and binary handling.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// How results are written; per command in the REPL.
#[derive(Args, Debug, Clone, Default)]
pub struct OutputArgs {
    /// Output format [default: simple].
    #[arg(short = 'w', long = "write-out", global = true, value_enum)]
    pub write_out: Option<Format>,
    /// Keys and values in hex, both on input (arguments, stdin) and on output.
    #[arg(long, global = true)]
    pub hex: bool,
}

/// Every command of one-shot mode.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Key-value and cluster commands (also available in the REPL).
    #[command(flatten)]
    Kv(KvCommand),
    /// Start a local cluster in this process and open the REPL on it.
    Playground(PlaygroundArgs),
}

/// The commands one-shot mode and the REPL share.
#[derive(Subcommand, Debug, Clone)]
pub enum KvCommand {
    /// Write a key; prints OK (then the previous key and value with --prev-kv).
    #[command(
        after_help = "Examples:\n  put greeting hello\n  echo hello | ddbb put greeting\n  put counter 2 --if-revision 7\n  put greeting hi --prev-kv"
    )]
    Put(PutArgs),
    /// Read a key, a range [KEY, RANGE_END) or a prefix; prints key and value lines.
    #[command(
        after_help = "Examples:\n  get greeting\n  get greeting --print-value-only --consistency s\n  get user/ --prefix --keys-only\n  get a c --limit 10\n  get greeting --rev 2\n  get user/ --prefix --sort-by modify --order descend"
    )]
    Get(GetArgs),
    /// Delete a key, a range [KEY, RANGE_END) or a prefix; prints the number deleted (then
    /// the deleted keys and values with --prev-kv).
    #[command(
        after_help = "Examples:\n  del greeting\n  del user/ --prefix\n  del a --from-key --prev-kv"
    )]
    Del(DelArgs),
    /// Run a transaction read in etcdctl's txn format: compares, a blank line, success
    /// requests, a blank line, failure requests, a blank line.
    #[command(after_help = TXN_AFTER_HELP)]
    Txn(TxnArgs),
    /// Compact the history below REVISION on every replica; prints the revision.
    #[command(after_help = "Example:\n  compaction 42")]
    Compaction(CompactionArgs),
    /// List or disarm the cluster's alarms (NOSPACE when over --quota-backend-bytes).
    Alarm {
        /// What to do.
        #[command(subcommand)]
        command: AlarmCommand,
    },
    /// Compare-and-swap: set KEY to NEW if it holds EXPECTED now; exit status 1 if not.
    #[command(after_help = "Example:\n  cas counter 1 2")]
    Cas(CasArgs),
    /// Status of every endpoint: id, leader, ballot, revision, log indices, WAL size.
    Status,
    /// Cluster membership.
    Member {
        /// What to do.
        #[command(subcommand)]
        command: MemberCommand,
    },
    /// Check that some endpoint answers; prints PONG.
    Ping,
    /// Watch a key, a range [KEY, RANGE_END) or a prefix: prints each event as it happens
    /// (type, then the previous key and value with --prev-kv, then key and value, as
    /// etcdctl) until Ctrl-C. Resumes on another endpoint if the connection fails.
    #[command(
        after_help = "Examples:\n  watch greeting\n  watch user/ --prefix --prev-kv\n  watch a c --rev 1 -w json"
    )]
    Watch(WatchArgs),
    /// Leases (IDs in hex, as etcdctl prints them): grant, revoke, timetolive, list,
    /// keep-alive. A key put with --lease ID is deleted when the lease expires or is revoked.
    #[command(
        after_help = "Examples:\n  lease grant 10\n  put greeting hello --lease 694d77aa9e38260f\n  lease timetolive 694d77aa9e38260f --keys\n  lease keep-alive 694d77aa9e38260f\n  lease revoke 694d77aa9e38260f"
    )]
    Lease {
        /// What to do.
        #[command(subcommand)]
        command: LeaseCommand,
    },
    /// Acquire the lock NAME (etcd's lock recipe), print its key and hold it until Ctrl-C;
    /// with a command, run it while holding the lock and exit with its status.
    #[command(after_help = LOCK_AFTER_HELP)]
    Lock(LockArgs),
    /// Campaign in the election NAME with PROPOSAL (etcd's election recipe): once leader,
    /// print the leader key and proposal and hold the leadership until Ctrl-C. With -l,
    /// print the current leader and every new one instead.
    #[command(
        after_help = "Examples:\n  elect jobs node-1          # blocks until leader, then holds it until Ctrl-C\n  elect -l jobs              # prints the leader, then each new one\n  elect jobs node-2 --ttl 5  # a crashed leader is replaced after 5 s"
    )]
    Elect(ElectArgs),
}

const LOCK_AFTER_HELP: &str = "\
Holders queue as keys NAME/<lease ID> attached to a lease kept alive by this process; the key
with the lowest create revision holds the lock. Ctrl-C (or the command's end) revokes the
lease, which releases the lock; if this process dies, the lock is released when the lease
expires (--ttl). The command sees ETCD_LOCK_KEY (the key) and ETCD_LOCK_REV (the key's
create revision: it grows with every new holder, a fencing token).

Examples:
  lock jobs                                  # prints jobs/<lease ID>, holds until Ctrl-C
  lock jobs -- sh -c 'echo $ETCD_LOCK_REV'   # runs the command under the lock";

/// `ddbb lease ...`
#[derive(Subcommand, Debug, Clone)]
pub enum LeaseCommand {
    /// Grant a lease of TTL seconds; prints `lease <ID> granted with TTL(<TTL>s)`.
    Grant {
        /// Seconds without a keepalive before the lease expires (raised to the cluster's
        /// minimum).
        ttl: i64,
    },
    /// Revoke a lease, deleting every key attached to it.
    Revoke {
        /// The lease ID, in hex.
        #[arg(value_parser = parse_lease_id)]
        id: i64,
    },
    /// Show a lease's granted and remaining TTL (and its keys with --keys).
    Timetolive {
        /// The lease ID, in hex.
        #[arg(value_parser = parse_lease_id)]
        id: i64,
        /// Also list the keys attached to it.
        #[arg(long)]
        keys: bool,
    },
    /// List every lease.
    List,
    /// Renew a lease every third of its TTL, printing each renewal, until Ctrl-C or until the
    /// lease is gone.
    KeepAlive {
        /// The lease ID, in hex.
        #[arg(value_parser = parse_lease_id)]
        id: i64,
        /// Renew it once and exit.
        #[arg(long)]
        once: bool,
    },
}

/// `ddbb lock`
#[derive(Args, Debug, Clone)]
pub struct LockArgs {
    /// The lock's name; holders queue under NAME/.
    pub name: OsString,
    /// A command to run while holding the lock (with ETCD_LOCK_KEY and ETCD_LOCK_REV set);
    /// the lock is released when it exits.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<OsString>,
    /// TTL of the lease behind the lock, in seconds: how long a crashed holder keeps it.
    #[arg(long, default_value_t = 10)]
    pub ttl: i64,
}

/// `ddbb elect`
#[derive(Args, Debug, Clone)]
pub struct ElectArgs {
    /// The election's name; candidates queue under NAME/.
    pub name: OsString,
    /// The value to announce once leader (required unless -l).
    #[arg(required_unless_present = "listen")]
    pub proposal: Option<OsString>,
    /// Observe: print the current leader (key and proposal) and each new one.
    #[arg(short = 'l', long, conflicts_with = "proposal")]
    pub listen: bool,
    /// TTL of the candidate's lease, in seconds: how long a crashed leader stays leader.
    #[arg(long, default_value_t = 60)]
    pub ttl: i64,
}

/// `ddbb watch`
#[derive(Args, Debug, Clone)]
pub struct WatchArgs {
    /// What to watch.
    #[command(flatten)]
    pub range: KeyRangeArgs,
    /// Start at this revision (replaying the history since; 0: the next change).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub rev: i64,
    /// Also print each key's previous value.
    #[arg(long)]
    pub prev_kv: bool,
    /// Print progress notifications (the revision every event up to which was seen) now and
    /// then when nothing happens.
    #[arg(long)]
    pub progress_notify: bool,
}

/// The format `txn` reads, for its help.
const TXN_AFTER_HELP: &str = "\
Input (etcdctl's txn format; one item per line, each section ended by a blank line):
  compares:   TARGET(\"KEY\") OP \"OPERAND\"
              TARGET: value|val, version|ver, create|c, mod|m, lease (operand in hex)
              OP: =, !=, <, >; numbers are quoted too: mod(\"k\") > \"3\"
  requests:   put KEY VALUE [--prev-kv] [--lease ID]
              get KEY [RANGE_END] [--prefix|--from-key] [--rev N] [--limit N] [--keys-only]
                  [--count-only] [--sort-by T --order O] [--consistency l|s]
              del KEY [RANGE_END] [--prefix|--from-key] [--prev-kv]
If every compare holds, the success requests run, else the failure ones, as one revision.
Prints SUCCESS or FAILURE, then each request's result after a blank line (as put, get and
del print them); exit status 0 either way. -w json gives the header revision, succeeded and
the responses. End of input ends the remaining sections.

Example:
  printf 'value(\"k\") = \"v1\"\\n\\nput k v2\\n\\nget k\\n\\n' | ddbb txn
In the REPL, `txn` prompts for each section.";

/// `ddbb alarm ...`
#[derive(Subcommand, Debug, Clone)]
pub enum AlarmCommand {
    /// List the alarms raised (`memberID:ID alarm:NOSPACE` lines).
    List,
    /// Clear every alarm; prints the alarms that were raised.
    Disarm,
}

/// `ddbb txn`
#[derive(Args, Debug, Clone)]
pub struct TxnArgs {
    /// Prompt for each section (compares, success and failure requests), as etcdctl -i.
    #[arg(short = 'i', long)]
    pub interactive: bool,
}

/// `ddbb compaction`
#[derive(Args, Debug, Clone)]
pub struct CompactionArgs {
    /// Keep what a read at this revision needs; drop everything older.
    pub revision: i64,
    /// Accepted for etcdctl's sake: compaction is complete when the command returns.
    #[arg(long)]
    pub physical: bool,
}

/// `ddbb member ...`
#[derive(Subcommand, Debug, Clone)]
pub enum MemberCommand {
    /// List the replicas: id, status, client endpoint, leader.
    List,
}

/// `ddbb put`
#[derive(Args, Debug, Clone)]
pub struct PutArgs {
    /// The key.
    pub key: OsString,
    /// The value; read from stdin when omitted (one trailing newline is dropped).
    pub value: Option<OsString>,
    /// Write only if the key's mod revision is REV (0: only if the key is absent).
    #[arg(long, value_name = "REV")]
    pub if_revision: Option<u64>,
    /// Also print the previous key and value.
    #[arg(long)]
    pub prev_kv: bool,
    /// Attach the key to this lease (ID in hexadecimal, as etcdctl prints it).
    #[arg(long, value_name = "ID", value_parser = parse_lease_id)]
    pub lease: Option<i64>,
}

/// Parses a lease id in hex (`694d71ddacfda227`), as etcdctl does.
pub fn parse_lease_id(text: &str) -> Result<i64, String> {
    i64::from_str_radix(text, 16)
        .map_err(|e| format!("bad lease ID '{text}' ({e}), expecting ID in hex"))
}

/// What `get --sort-by` sorts on (etcdctl's names; any case).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortByArg {
    /// The create revision.
    Create,
    /// The key.
    Key,
    /// The mod revision.
    Modify,
    /// The value.
    Value,
    /// The version.
    Version,
}

/// `get --order`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderArg {
    /// Lowest first.
    Ascend,
    /// Highest first.
    Descend,
}

/// Read consistency.
#[derive(ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConsistencyArg {
    /// Linearizable: sees every write acknowledged before the read (through the log).
    #[default]
    #[value(name = "l", alias = "linearizable")]
    Linearizable,
    /// Serializable: answered from the replica's local state at once; may be stale.
    #[value(name = "s", alias = "serializable")]
    Serializable,
}

/// A key, a range [KEY, RANGE_END), a prefix or everything from a key: what `get`, `del` and
/// `watch` act on.
#[derive(Args, Debug, Clone)]
pub struct KeyRangeArgs {
    /// The key (with --prefix: the prefix; "" with --prefix is every key).
    pub key: OsString,
    /// End of the range, exclusive: [KEY, RANGE_END).
    #[arg(conflicts_with_all = ["prefix", "from_key"])]
    pub range_end: Option<OsString>,
    /// Every key starting with KEY.
    #[arg(long)]
    pub prefix: bool,
    /// Every key from KEY on (byte order).
    #[arg(long, conflicts_with = "prefix")]
    pub from_key: bool,
}

/// `ddbb get`
#[derive(Args, Debug, Clone)]
pub struct GetArgs {
    /// What to read.
    #[command(flatten)]
    pub range: KeyRangeArgs,
    /// Read consistency: l (linearizable) or s (serializable).
    #[arg(long, value_enum, default_value = "l")]
    pub consistency: ConsistencyArg,
    /// Read as of this revision (0: current).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub rev: i64,
    /// Sort by this field (ascending unless --order descend).
    #[arg(long, value_enum, ignore_case = true, value_name = "TARGET")]
    pub sort_by: Option<SortByArg>,
    /// Order of the results (by key unless --sort-by).
    #[arg(long, value_enum, ignore_case = true)]
    pub order: Option<OrderArg>,
    /// At most this many keys.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Keys only, no values.
    #[arg(long, conflicts_with_all = ["count_only", "print_value_only"])]
    pub keys_only: bool,
    /// Only the number of keys.
    #[arg(long, conflicts_with = "print_value_only")]
    pub count_only: bool,
    /// Values only, no keys (simple format).
    #[arg(long)]
    pub print_value_only: bool,
}

/// `ddbb del`
#[derive(Args, Debug, Clone)]
pub struct DelArgs {
    /// What to delete.
    #[command(flatten)]
    pub range: KeyRangeArgs,
    /// Also print the deleted keys and values.
    #[arg(long)]
    pub prev_kv: bool,
}

/// `ddbb cas`
#[derive(Args, Debug, Clone)]
pub struct CasArgs {
    /// The key.
    pub key: OsString,
    /// The value the key must hold now.
    pub expected: OsString,
    /// The value to store.
    pub new: OsString,
}

/// `ddbb playground`
#[derive(Args, Debug, Clone)]
pub struct PlaygroundArgs {
    /// Number of replicas (3 or 5 make sense; 2 to 9 are accepted).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..=9))]
    pub nodes: u64,
    /// Keep the replicas' data here (replica-N/ each) instead of a temp dir removed on exit.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Replica N listens for clients on BASE+N and for peers on BASE+1000+N when all those
    /// ports are free (else on free ports), and for etcd gRPC clients on 2379, 22379,
    /// 32379... when free; 0 always picks free ports (gRPC included).
    #[arg(long, default_value_t = 6000, value_name = "BASE")]
    pub port_base: u16,
}

/// One line typed into the REPL: a shared command plus per-line output options.
#[derive(Parser, Debug)]
#[command(
    name = "ddbb",
    no_binary_name = true,
    disable_version_flag = true,
    disable_help_subcommand = true
)]
pub struct ReplLine {
    /// Output options for this line.
    #[command(flatten)]
    pub output: OutputArgs,
    /// The command.
    #[command(subcommand)]
    pub command: KvCommand,
}

/// One request line of a `txn` (`put k v`, `get k --prefix`, `del k`): the same flags as the
/// commands themselves.
#[derive(Parser, Debug)]
#[command(
    name = "txn request",
    no_binary_name = true,
    disable_version_flag = true,
    disable_help_subcommand = true,
    disable_help_flag = true
)]
pub struct TxnRequestLine {
    /// The request.
    #[command(subcommand)]
    pub request: TxnRequest,
}

/// The requests a `txn` may hold.
#[derive(Subcommand, Debug, Clone)]
pub enum TxnRequest {
    /// A put.
    #[command(disable_help_flag = true)]
    Put(PutArgs),
    /// A get.
    #[command(disable_help_flag = true)]
    Get(GetArgs),
    /// A delete.
    #[command(disable_help_flag = true)]
    Del(DelArgs),
}

/// Parses `500ms`, `5s`, `1.5s`, `2m`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (try 500ms, 5s, 1m)"))?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        _ => return Err(format!("unknown unit in '{text}' (use ms, s or m)")),
    };
    if !(seconds > 0.0 && seconds < 1e9) {
        return Err(format!("'{text}' must be positive"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
        ReplLine::command().debug_assert();
        TxnRequestLine::command().debug_assert();
    }

    #[test]
    fn etcdctl_flags_parse() {
        let line = ReplLine::try_parse_from([
            "get",
            "k",
            "--sort-by",
            "MODIFY",
            "--order",
            "descend",
            "--rev",
            "3",
        ])
        .unwrap();
        match line.command {
            KvCommand::Get(g) => {
                assert_eq!(g.sort_by, Some(SortByArg::Modify));
                assert_eq!(g.order, Some(OrderArg::Descend));
                assert_eq!(g.rev, 3);
            }
            other => panic!("{other:?}"),
        }
        assert!(ReplLine::try_parse_from(["get", "k", "--prefix", "--from-key"]).is_err());
        assert!(ReplLine::try_parse_from(["del", "k", "z", "--from-key"]).is_err());
        match ReplLine::try_parse_from(["put", "k", "v", "--lease", "ff", "--prev-kv"])
            .unwrap()
            .command
        {
            KvCommand::Put(p) => assert_eq!((p.lease, p.prev_kv), (Some(255), true)),
            other => panic!("{other:?}"),
        }
        assert!(ReplLine::try_parse_from(["put", "k", "v", "--lease", "xyz"]).is_err());
        assert!(ReplLine::try_parse_from(["compaction", "5", "--physical"]).is_ok());
        assert!(ReplLine::try_parse_from(["alarm", "list"]).is_ok());
    }

    #[test]
    fn lease_lock_and_elect_parse_like_etcdctl() {
        let parse = |words: &[&str]| ReplLine::try_parse_from(words).map(|l| l.command);
        match parse(&["lease", "keep-alive", "694d77aa9e38260f", "--once"]).unwrap() {
            KvCommand::Lease {
                command: LeaseCommand::KeepAlive { id, once },
            } => assert_eq!((id, once), (0x694d_77aa_9e38_260f, true)),
            other => panic!("{other:?}"),
        }
        assert!(parse(&["lease", "timetolive", "ff", "--keys"]).is_ok());
        assert!(parse(&["lease", "revoke", "xyz"]).is_err());
        assert!(parse(&["lease", "grant", "ten"]).is_err());
        // Everything after the name is the command, flags included.
        match parse(&["lock", "--ttl", "3", "jobs", "sh", "-c", "exit 1"]).unwrap() {
            KvCommand::Lock(l) => {
                assert_eq!((l.name.as_os_str(), l.ttl), ("jobs".as_ref(), 3));
                assert_eq!(l.command, ["sh", "-c", "exit 1"]);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["elect", "-l", "council"]).unwrap() {
            KvCommand::Elect(e) => assert!(e.listen && e.proposal.is_none() && e.ttl == 60),
            other => panic!("{other:?}"),
        }
        assert!(parse(&["elect", "council"]).is_err(), "no proposal, no -l");
        assert!(parse(&["elect", "-l", "council", "p"]).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn repl_lines_parse_like_one_shot_commands() {
        let line =
            ReplLine::try_parse_from(["get", "k", "-w", "json", "--consistency", "s"]).unwrap();
        assert_eq!(line.output.write_out, Some(Format::Json));
        match line.command {
            KvCommand::Get(g) => assert_eq!(g.consistency, ConsistencyArg::Serializable),
            other => panic!("{other:?}"),
        }
        assert!(ReplLine::try_parse_from(["get"]).is_err());
        assert!(ReplLine::try_parse_from(["playground"]).is_err());
        let cli =
            Cli::try_parse_from(["ddbb", "--endpoints", "a:1,b:2", "member", "list"]).unwrap();
        assert_eq!(cli.global.endpoints, ["a:1", "b:2"]);
    }
}
