//! `ddbb-bench compare`: the plan, the clusters, the runs, the report.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cluster::{self, Cluster, Launcher, System, Timing};
use crate::driver::Protocol;
use crate::fault::{self, Phases, Scenario};
use crate::iptables::{self, Firewall};
use crate::report::{Meta, Report, SteadyResult};
use crate::run::{self, Budget, Measure, Shape, Target};
use crate::workload::Workload;

/// Options of `ddbb-bench compare`.
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// Run every driver for about a second (CI smoke test); results are not figures.
    #[arg(long)]
    pub quick: bool,
    /// Output directory (default: bench/results/DATE, DATE-grpc with --protocol grpc, with
    /// -quick appended for --quick).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The systems and how to start them.
    #[command(flatten)]
    pub clusters: ClusterArgs,
    /// Measured seconds per steady run (default: 5; quick: 1).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Warm-up seconds per steady run (default: 1; quick: 0.3).
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Measure a fixed number of operations per steady run instead of a duration.
    #[arg(long, conflicts_with = "duration")]
    pub ops: Option<u64>,
    /// Skip the steady-state workloads.
    #[arg(long)]
    pub skip_steady: bool,
    /// Skip the fault scenarios.
    #[arg(long)]
    pub skip_faults: bool,
    /// Run only the steady shapes whose label contains this text, e.g.
    /// `--filter "put, 256 B, 64 clients"` (labels as printed while running).
    #[arg(long)]
    pub filter: Option<String>,
    /// How the bench drives DDBB: `resp` (its RESP2 port, through ddbb_client) or `grpc` (its
    /// etcd gRPC port, through the same etcd client as etcd). etcd always speaks gRPC.
    #[arg(long, value_enum, default_value_t = Protocol::Resp)]
    pub protocol: Protocol,
    /// Run only these fault scenarios (comma-separated: kill-leader, quorum-loss,
    /// constrained-election, chained).
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<String>,
}

/// Which systems run and how their members start (shared by `compare` and `watch`).
#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Systems to run (comma-separated: ddbb, etcd).
    #[arg(long, value_delimiter = ',', default_value = "ddbb,etcd")]
    pub systems: Vec<String>,
    /// The etcd binary (Debian: `apt-get install -y etcd-server`).
    #[arg(long, default_value = "etcd")]
    pub etcd_bin: PathBuf,
    /// Run this `ddbb_server` binary instead of the replica built into ddbb-bench.
    #[arg(long)]
    pub ddbb_server_bin: Option<PathBuf>,
    /// Where the members' data directories go, one disk for both systems (default: a new
    /// directory in $TMPDIR).
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Extra flag for every DDBB replica, for experiments (repeatable), e.g.
    /// `--ddbb-arg=--snapshot-every=0`; the report lists them.
    #[arg(long, allow_hyphen_values = true)]
    pub ddbb_arg: Vec<String>,
}

impl ClusterArgs {
    /// How members start, their data in `data_root`.
    pub fn launcher(&self, data_root: PathBuf, isolate: bool, ddbb_protocol: Protocol) -> Launcher {
        Launcher {
            ddbb_bin: self.ddbb_server_bin.clone(),
            ddbb_args: self.ddbb_arg.clone(),
            etcd_bin: self.etcd_bin.clone(),
            data_root,
            isolate,
            ddbb_protocol,
        }
    }

    /// How DDBB replicas ran, for the report (`how` is appended before the extra flags).
    pub fn ddbb_server_text(&self, how: &str) -> String {
        let program = match &self.ddbb_server_bin {
            Some(b) => format!("`{}`", b.display()),
            None => "replicas run by `ddbb-bench serve` (the ddbb_server library built from the \
                     same sources, same wiring as the `ddbb_server` binary)"
                .into(),
        };
        let extra = if self.ddbb_arg.is_empty() {
            String::new()
        } else {
            format!("; extra flags: `{}`", self.ddbb_arg.join(" "))
        };
        format!("{program}, {how}{extra}")
    }
}

/// The steady runs on one (replicas, value size) pair: one cluster per system.
#[derive(Clone, Debug)]
pub struct Group {
    /// Cluster size.
    pub replicas: usize,
    /// Value size.
    pub value_size: usize,
    /// The runs, in order.
    pub shapes: Vec<Shape>,
}

/// Connections for `clients` clients: 1, then one per 4 clients up to 16.
pub fn conns_for(clients: usize) -> usize {
    match clients {
        0..=1 => 1,
        2..=16 => 4,
        17..=64 => 8,
        _ => 16,
    }
}

fn shape(replicas: usize, workload: Workload, value_size: usize, clients: usize) -> Shape {
    Shape {
        replicas,
        workload,
        value_size,
        clients,
        conns: conns_for(clients),
        // One client talks to the leader (etcd's latency rows); more spread over the members.
        target: if clients == 1 {
            Target::Leader
        } else {
            Target::All
        },
    }
}

/// The steady runs of a full or quick comparison.
pub fn plan(quick: bool) -> Vec<Group> {
    let basic = [
        Workload::Put,
        Workload::GetLinearizable,
        Workload::GetSerializable,
    ];
    let group = |replicas, value_size, workloads: &[Workload], clients: &[usize]| Group {
        replicas,
        value_size,
        shapes: workloads
            .iter()
            .flat_map(|&w| {
                clients
                    .iter()
                    .map(move |&c| shape(replicas, w, value_size, c))
            })
            .collect(),
    };
    if quick {
        let mut main = group(3, 256, &Workload::ALL, &[16]);
        main.shapes.insert(0, shape(3, Workload::Put, 256, 1));
        main.shapes
            .insert(1, shape(3, Workload::GetLinearizable, 256, 1));
        vec![
            main,
            group(3, 4096, &[Workload::Put], &[16]),
            group(5, 256, &[Workload::Put], &[16]),
        ]
    } else {
        vec![
            group(3, 256, &Workload::ALL, &[1, 16, 64, 256]),
            group(3, 24, &basic, &[64]),
            group(3, 4096, &basic, &[64]),
            group(5, 256, &basic, &[64]),
        ]
    }
}

/// UTC calendar date and time of `t`.
fn utc(t: SystemTime) -> (String, String) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = lin_test::report::civil_from_days((secs / 86_400) as i64);
    let date = format!("{y:04}-{m:02}-{d:02}");
    let time = format!(
        "{date} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    (date, time)
}

fn loadavg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpus} × {model}, {:.0} GiB RAM, Linux {}",
        mem_kb as f64 / 1024.0 / 1024.0,
        kernel.trim()
    )
}

/// When and where a benchmark started; [`RunStart::meta`] turns it into the report's context.
pub(crate) struct RunStart {
    instant: Instant,
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    time: String,
    load_before: [f64; 3],
}

impl RunStart {
    /// Now.
    pub fn now() -> RunStart {
        let (date, time) = utc(SystemTime::now());
        RunStart {
            instant: Instant::now(),
            date,
            time,
            load_before: loadavg(),
        }
    }

    /// The report's context at the end of the run: dates, wall time, command line, machine,
    /// load averages (the rest is the caller's).
    pub fn meta(&self, quick: bool) -> Meta {
        Meta {
            date: self.date.clone(),
            started: self.time.clone(),
            wall_s: self.instant.elapsed().as_secs_f64(),
            command: std::iter::once("ddbb-bench".to_string())
                .chain(std::env::args().skip(1))
                .collect::<Vec<_>>()
                .join(" "),
            quick,
            machine: machine(),
            load_before: self.load_before,
            load_after: loadavg(),
            ..Meta::default()
        }
    }
}

/// `etcd --version`'s first line, or why etcd cannot run.
fn etcd_version(bin: &PathBuf) -> Result<String, String> {
    match std::process::Command::new(bin).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("etcd")
            .trim()
            .to_string()),
        Ok(out) => Err(format!(
            "`{} --version` failed: {}",
            bin.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("`{}` not found ({e})", bin.display())),
    }
}

/// The systems named in `names` (ddbb, etcd) that can run here, and `etcd --version` when
/// etcd is among them; without etcd installed DDBB runs alone and `notes` says why.
///
/// # Errors
/// An unknown name, or nothing left to run.
pub(crate) fn systems_to_run(
    names: &[String],
    etcd_bin: &PathBuf,
    notes: &mut Vec<String>,
) -> Result<(Vec<System>, Option<String>)> {
    let mut systems = Vec::new();
    for s in names {
        match s.to_ascii_lowercase().as_str() {
            "ddbb" => systems.push(System::Ddbb),
            "etcd" => systems.push(System::Etcd),
            other => bail!("unknown system '{other}' (ddbb, etcd)"),
        }
    }
    let mut etcd_version_text = None;
    if systems.contains(&System::Etcd) {
        match etcd_version(etcd_bin) {
            Ok(v) => etcd_version_text = Some(v),
            Err(why) => {
                let msg = format!(
                    "etcd is not installed ({why}): DDBB ran alone. Install it with \
                     `apt-get install -y etcd-server` (Debian's etcd 3.4) or pass --etcd-bin."
                );
                eprintln!("{msg}");
                notes.push(msg);
                systems.retain(|s| *s != System::Etcd);
            }
        }
    }
    if systems.is_empty() {
        bail!("nothing to run");
    }
    Ok((systems, etcd_version_text))
}

fn report_notes_stale(notes: &mut Vec<String>, stale: &[String]) {
    notes.push(format!(
        "removed data directories left by an earlier run: {}",
        stale.join(", ")
    ));
}

/// Prints a line above the progress bar (or on stderr when there is no terminal, where
/// indicatif hides the bar and its own `println`).
pub(crate) fn say(bar: &ProgressBar, line: &str) {
    bar.suspend(|| eprintln!("{line}"));
}

/// Removes data roots (`ddbb-bench-<pid>`) left in `dir` by runs that were SIGKILLed.
fn remove_stale_data_roots(dir: &std::path::Path) -> Vec<String> {
    let mut removed = Vec::new();
    let comm = crate::procfs::own_comm();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix("ddbb-bench-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id()
            && !crate::procfs::running_as(pid, &comm)
            && std::fs::remove_dir_all(entry.path()).is_ok()
        {
            removed.push(entry.path().display().to_string());
        }
    }
    removed
}

/// The run's data root (`ddbb-bench-<pid>` in `--data-root` or $TMPDIR), removed when the
/// run ends, however it ends.
pub(crate) struct DataRoot(pub(crate) PathBuf);

impl DataRoot {
    /// Removes the data roots of dead runs from `parent` (noting them in `notes`) and makes
    /// this run's.
    ///
    /// # Errors
    /// When the directory cannot be made.
    pub(crate) fn make(parent: Option<&std::path::Path>, notes: &mut Vec<String>) -> Result<Self> {
        let parent = parent.map_or_else(std::env::temp_dir, PathBuf::from);
        let stale = remove_stale_data_roots(&parent);
        if !stale.is_empty() {
            report_notes_stale(notes, &stale);
        }
        let root = parent.join(format!("ddbb-bench-{}", std::process::id()));
        std::fs::create_dir_all(&root)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(DataRoot(root))
    }
}

impl Drop for DataRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What every gRPC side-by-side benchmark (`watch`, `lease`) takes.
#[derive(Args, Debug, Clone)]
pub struct SideBySideArgs {
    /// Short runs (CI smoke test); results are not figures.
    #[arg(long)]
    pub quick: bool,
    /// Output directory (default: bench/results/DATE-BENCHMARK, with -quick for --quick).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The systems and how to start them.
    #[command(flatten)]
    pub clusters: ClusterArgs,
}

/// The two 3-member clusters of a gRPC side-by-side benchmark (`watch`, `lease`): DDBB
/// serving etcd's API on `--grpc-addr` and etcd, both running at once; and what the report
/// needs besides its runs.
pub(crate) struct SideBySide {
    /// When the benchmark started.
    pub start: RunStart,
    /// Where the report goes.
    pub out_dir: PathBuf,
    /// Notes so far (etcd missing, stale data removed).
    pub notes: Vec<String>,
    /// `etcd --version`, when etcd runs.
    pub etcd_version: Option<String>,
    /// The running clusters, DDBB first (dropped before the data root).
    pub clusters: Vec<Cluster>,
    data_root: DataRoot,
}

impl SideBySide {
    /// Starts the clusters of `args`; the report goes to `--out` or to
    /// `bench/results/DATE-<name>` (`-quick` appended for `--quick`).
    ///
    /// # Errors
    /// An unknown system, or a cluster that cannot start.
    pub async fn start(bench: &SideBySideArgs, name: &str) -> Result<SideBySide> {
        let (args, quick) = (&bench.clusters, bench.quick);
        let start = RunStart::now();
        let out_dir = bench.out.clone().unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("results")
                .join(format!(
                    "{}-{name}{}",
                    start.date,
                    if quick { "-quick" } else { "" }
                ))
        });
        let mut notes = Vec::new();
        let (systems, etcd_version) = systems_to_run(&args.systems, &args.etcd_bin, &mut notes)?;
        let data_root = DataRoot::make(args.data_root.as_deref(), &mut notes)?;
        let launcher = args.launcher(data_root.0.clone(), false, Protocol::Grpc);
        let mut clusters = Vec::new();
        for &system in &systems {
            eprintln!("starting {system}, 3 members");
            let cluster = Cluster::start(&launcher, system, 3, Timing::Defaults)
                .await
                .with_context(|| format!("starting {system}"))?;
            clusters.push(cluster);
        }
        Ok(SideBySide {
            start,
            out_dir,
            notes,
            etcd_version,
            clusters,
            data_root,
        })
    }

    /// Stops the clusters (by PID) and returns the report's context with `settings`.
    pub fn stop(&mut self, bench: &SideBySideArgs, settings: Vec<String>) -> Meta {
        self.clusters.clear();
        let quick = bench.quick;
        Meta {
            etcd_version: self.etcd_version.clone(),
            ddbb_server: bench
                .clusters
                .ddbb_server_text("fsync on, etcd gRPC API on `--grpc-addr`"),
            protocol: Protocol::Grpc.name().to_string(),
            data_root: self.data_root.0.display().to_string(),
            settings,
            ..self.start.meta(quick)
        }
    }

    /// The end of the benchmark, its report written: the output directory, or an error
    /// when `failures` runs failed.
    ///
    /// # Errors
    /// When a run failed.
    pub fn finish(self, failures: usize) -> Result<PathBuf> {
        let report = self.out_dir.join("report.md");
        println!("report: {}", report.display());
        if failures > 0 {
            bail!(
                "{failures} run(s) failed; see the notes in {}",
                report.display()
            );
        }
        Ok(self.out_dir)
    }
}

/// Runs the comparison and writes the report; returns the output directory.
pub async fn compare(args: CompareArgs) -> Result<PathBuf> {
    let start = RunStart::now();
    let date = start.date.clone();
    let out_dir = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("results")
            .join(format!(
                "{date}{}{}",
                if args.protocol == Protocol::Grpc {
                    "-grpc"
                } else {
                    ""
                },
                if args.quick { "-quick" } else { "" }
            ))
    });
    let mut notes = Vec::new();
    let (systems, etcd_version_text) =
        systems_to_run(&args.clusters.systems, &args.clusters.etcd_bin, &mut notes)?;

    // Server uids and the firewall (partition scenarios) need root.
    let stale = iptables::remove_stale_chains();
    if !stale.is_empty() {
        notes.push(format!(
            "removed iptables chains left by an earlier run: {}",
            stale.join(", ")
        ));
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let exe = std::env::current_exe()?;
    let ddbb_program = args
        .clusters
        .ddbb_server_bin
        .clone()
        .unwrap_or_else(|| exe.clone());
    let isolate = root && cluster::world_executable(&ddbb_program);
    let mut firewall = None;
    let mut scenarios: Vec<Scenario> = if args.skip_faults {
        Vec::new()
    } else {
        Scenario::ALL.to_vec()
    };
    if !args.scenarios.is_empty() {
        for name in &args.scenarios {
            if !Scenario::ALL.iter().any(|s| s.name() == name) {
                bail!("unknown scenario '{name}'");
            }
        }
        scenarios.retain(|s| args.scenarios.iter().any(|n| n == s.name()));
    }
    if scenarios.iter().any(|s| s.needs_firewall()) {
        let why = if !root {
            Some("not running as root".to_string())
        } else if !isolate {
            Some(format!(
                "{} cannot be run by other uids",
                ddbb_program.display()
            ))
        } else {
            match Firewall::install(&System::all_uids()) {
                Ok(fw) => {
                    firewall = Some(fw);
                    None
                }
                Err(e) => Some(format!("{e:#}")),
            }
        };
        if let Some(why) = why {
            let msg = format!(
                "partial-connectivity scenarios skipped: they need iptables rules between members \
                 running under their own uids ({why})"
            );
            eprintln!("{msg}");
            notes.push(msg);
            scenarios.retain(|s| !s.needs_firewall());
        }
    }

    let data_root_guard = DataRoot::make(args.clusters.data_root.as_deref(), &mut notes)?;
    let data_root = data_root_guard.0.clone();
    let launcher = args
        .clusters
        .launcher(data_root.clone(), isolate, args.protocol);

    let secs = |v: f64| Duration::from_secs_f64(v.max(0.0));
    let budget = Budget {
        warmup: secs(args.warmup.unwrap_or(if args.quick { 0.3 } else { 1.0 })),
        measure: match args.ops {
            Some(n) => Measure::Count(n),
            None => Measure::Time(secs(args.duration.unwrap_or(if args.quick {
                1.0
            } else {
                5.0
            }))),
        },
    };
    let phases = if args.quick {
        Phases {
            before: secs(1.0),
            lag: secs(1.0),
            fault: secs(3.0),
            after: secs(1.5),
        }
    } else {
        Phases {
            before: secs(3.0),
            lag: secs(3.0),
            fault: secs(8.0),
            after: secs(4.0),
        }
    };
    let keys: u64 = if args.quick { 1_000 } else { 10_000 };
    let mut groups = if args.skip_steady {
        Vec::new()
    } else {
        plan(args.quick)
    };
    if let Some(filter) = &args.filter {
        for g in &mut groups {
            g.shapes.retain(|s| s.label().contains(filter.as_str()));
        }
        groups.retain(|g| !g.shapes.is_empty());
    }

    let total_runs = groups.iter().map(|g| g.shapes.len()).sum::<usize>() * systems.len()
        + scenarios.len() * systems.len();
    let bar = ProgressBar::new(total_runs as u64);
    bar.set_style(
        ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));

    let mut report = Report {
        notes,
        ..Report::default()
    };
    let mut failures = 0usize;
    let mut cas_run = 0u32;
    for group in &groups {
        // Both systems' clusters run side by side; each shape runs on DDBB then on etcd, so
        // that a change in machine load hits both alike.
        let mut clusters = Vec::new();
        for &system in &systems {
            bar.set_message(format!("starting {system}, {} replicas", group.replicas));
            let started = async {
                let mut c =
                    Cluster::start(&launcher, system, group.replicas, Timing::Defaults).await?;
                bar.set_message(format!("preloading {keys} keys into {system}"));
                c.old_revision = run::preload(&c, keys, group.value_size).await?;
                anyhow::Ok(c)
            }
            .await;
            match started {
                Ok(c) => clusters.push(c),
                Err(e) => {
                    failures += 1;
                    let msg = format!("FAILED: {system} cluster of {}: {e:#}", group.replicas);
                    say(&bar, &msg);
                    report.notes.push(msg);
                    bar.inc(group.shapes.len() as u64);
                }
            }
        }
        for shape in &group.shapes {
            if shape.workload == Workload::Cas {
                cas_run += 1;
            }
            for cluster in &clusters {
                let system = cluster.system;
                bar.set_message(format!("{system}: {}", shape.label()));
                let result = async {
                    if shape.workload == Workload::Cas {
                        run::preload_cas(cluster, cas_run, shape.clients, shape.value_size).await?;
                    }
                    run::steady(cluster, shape, budget, keys, 42, cas_run).await
                }
                .await;
                match result {
                    Ok(out) => {
                        let r = SteadyResult::new(system, *shape, &out);
                        if r.errors > 0 {
                            let msg = format!(
                                "{system}, {}: {} operations failed (first: {})",
                                shape.label(),
                                r.errors,
                                r.first_error.as_deref().unwrap_or("?")
                            );
                            say(&bar, &msg);
                            report.notes.push(msg);
                        }
                        say(
                            &bar,
                            &format!(
                                "{system:>4} {:<70} {:>9} ops/s  p99 {:.2} ms",
                                shape.label(),
                                crate::report::thousands(r.throughput),
                                r.latency.p99_ms
                            ),
                        );
                        report.steady.push(r);
                    }
                    Err(e) => {
                        failures += 1;
                        let msg = format!("FAILED: {system}, {}: {e:#}", shape.label());
                        say(&bar, &msg);
                        report.notes.push(msg);
                    }
                }
                bar.inc(1);
            }
        }
        drop(clusters);
    }

    for &scenario in &scenarios {
        for &system in &systems {
            bar.set_message(format!("{system}: fault scenario {}", scenario.name()));
            match fault::run(&launcher, firewall.as_ref(), system, scenario, phases).await {
                Ok(r) => {
                    say(
                        &bar,
                        &format!(
                            "{system:>4} {:<22} writes back after {}",
                            scenario.name(),
                            r.recovery_ms
                                .map(|v| format!("{v:.0} ms"))
                                .unwrap_or_else(|| "— (not during the fault)".into())
                        ),
                    );
                    report.faults.push(r);
                }
                Err(e) => {
                    failures += 1;
                    let msg = format!("FAILED: {system}, {}: {e:#}", scenario.name());
                    say(&bar, &msg);
                    report.notes.push(msg);
                }
            }
            bar.inc(1);
        }
    }
    bar.finish_with_message("done");

    let mut settings = vec![
        format!(
            "steady runs: {} warm-up, then {}; {keys} preloaded keys of 24 B; clients are closed-loop",
            format!("{:.1} s", budget.warmup.as_secs_f64()),
            match budget.measure {
                Measure::Time(d) => format!("{:.1} s measured", d.as_secs_f64()),
                Measure::Count(n) => format!("{n} operations measured"),
            }
        ),
        "each system runs with its own defaults in steady runs (DDBB: --snapshot-every 10000; \
         etcd: --snapshot-count 100000, no auto-compaction, --quota-backend-bytes 8 GiB); both \
         fsync their logs before acknowledging"
            .to_string(),
    ];
    if !scenarios.is_empty() {
        settings.push(format!(
            "fault scenarios: {:.1} s before, {:.1} s fault ({:.1} s lag phase first for \
             constrained-election), {:.1} s after",
            phases.before.as_secs_f64(),
            phases.fault.as_secs_f64(),
            phases.lag.as_secs_f64(),
            phases.after.as_secs_f64()
        ));
    }
    if let Some(fw) = &firewall {
        settings.push(format!(
            "members run under uids of their own (47101..) so that iptables rules in the run's \
             chains {} can cut links between them",
            fw.chains().join(" and ")
        ));
    }
    report.meta = Meta {
        etcd_version: etcd_version_text,
        ddbb_server: args.clusters.ddbb_server_text("fsync on"),
        data_root: data_root.display().to_string(),
        protocol: args.protocol.name().to_string(),
        settings,
        ..start.meta(args.quick)
    };
    drop(firewall);
    let files = report.write(&out_dir).context("writing the report")?;
    println!(
        "{} steady runs ({} failed operations), {} fault runs",
        report.steady.len(),
        report.steady_errors(),
        report.faults.len()
    );
    println!("report: {}", out_dir.join("report.md").display());
    println!("{} files written to {}", files.len(), out_dir.display());
    if failures > 0 {
        bail!(
            "{failures} run(s) failed; see the notes in {}",
            out_dir.join("report.md").display()
        );
    }
    Ok(out_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(utc(UNIX_EPOCH).0, "1970-01-01");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(utc(t).0, "2026-11-18");
        assert!(utc(t).1.ends_with("UTC"));
    }

    #[test]
    fn the_full_plan_covers_the_issue() {
        let groups = plan(false);
        let shapes: Vec<&Shape> = groups.iter().flat_map(|g| &g.shapes).collect();
        for w in Workload::ALL {
            for c in [1, 16, 64, 256] {
                assert!(shapes
                    .iter()
                    .any(|s| s.workload == w && s.clients == c && s.replicas == 3));
            }
        }
        for v in [24, 256, 4096] {
            assert!(shapes.iter().any(|s| s.value_size == v));
        }
        assert!(shapes.iter().any(|s| s.replicas == 5));
        assert!(shapes.iter().all(|s| s.conns <= s.clients && s.conns >= 1));
        assert!(shapes
            .iter()
            .filter(|s| s.clients == 1)
            .all(|s| s.target == Target::Leader));
        // Every workload also runs in the quick plan.
        let quick: Vec<Shape> = plan(true).into_iter().flat_map(|g| g.shapes).collect();
        for w in Workload::ALL {
            assert!(quick.iter().any(|s| s.workload == w));
        }
    }
}
