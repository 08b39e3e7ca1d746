//! A whole run: setup, the load on one or more generator threads, the interval ticker, and
//! the report.

use std::{
    io::Write as _,
    path::Path,
    process::ExitCode,
    sync::{Arc, Mutex, atomic::AtomicU64},
    time::{Duration, Instant},
};

use http::HeaderValue;
use tokio_util::sync::CancellationToken;

use crate::{
    args::{BenchArgs, BenchCommand, EraChoice},
    ceiling, churn,
    client::{EndpointError, StdioError, StdioPeer},
    compare,
    load::{self, Schedule, Shared},
    mcp::Era,
    report::{self, Errors, Interval, Latency, Report},
    setup::{self, Session, Target},
    slo::{Slo, SloError},
    stats::{Recorder, Sample},
    workload::{Mix, Workload, WorkloadError},
};

/// Why a run could not take place (as opposed to a run that failed its gates).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Neither a URL nor `--stdio -- CMD`.
    #[error("give the server's URL, or --stdio -- COMMAND")]
    NoTarget,
    /// The URL or a header is unusable.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The stdio server did not start.
    #[error(transparent)]
    Stdio(#[from] StdioError),
    /// The workload is invalid.
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    /// The gates are invalid.
    #[error(transparent)]
    Slo(#[from] SloError),
    /// A flag is out of range.
    #[error("{0}")]
    Usage(&'static str),
    /// The server did not complete a handshake or listing.
    #[error("the server did not answer the setup: {0}")]
    Handshake(String),
    /// A report could not be written.
    #[error("cannot write {0}: {1}")]
    Write(String, std::io::Error),
}

/// Runs `keel bench` (or `keel bench compare`); the exit code is 0 when the gates held, 1
/// when one broke, 2 when the run could not take place.
pub fn main(args: BenchArgs) -> ExitCode {
    if let Some(BenchCommand::Compare(c)) = &args.command {
        return compare::main(c);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keel bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(bench(&args)) {
        Ok(report) => {
            if let Err(e) = write_reports(&args, &report) {
                eprintln!("keel bench: {e}");
                return ExitCode::from(2);
            }
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(report::text(&report).as_bytes());
            if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("keel bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn write_reports(args: &BenchArgs, report: &Report) -> Result<(), BenchError> {
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|e| BenchError::Write(path.display().to_string(), e))
    };
    if let Some(p) = &args.json {
        write(
            p,
            serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        )?;
    }
    if let Some(p) = &args.html {
        write(p, report::html(report))?;
    }
    if let Some(p) = &args.ndjson {
        let mut lines = String::new();
        for i in &report.intervals {
            lines.push_str(&serde_json::to_string(i).unwrap_or_default());
            lines.push('\n');
        }
        write(p, lines)?;
    }
    Ok(())
}

/// Everything a load phase needs, negotiated once.
pub(crate) struct Prepared {
    pub(crate) target: Target,
    pub(crate) target_name: String,
    pub(crate) era: Era,
    pub(crate) version: String,
    pub(crate) sessions: Vec<Option<HeaderValue>>,
    pub(crate) mix: Arc<Mix>,
}

/// One load phase's parameters.
pub(crate) struct Phase {
    pub(crate) connections: usize,
    pub(crate) threads: usize,
    pub(crate) duration: Duration,
    pub(crate) schedule: Option<Schedule>,
    pub(crate) timeout: Duration,
    pub(crate) interval: Duration,
    pub(crate) progress: bool,
}

/// What a load phase recorded.
pub(crate) struct Recorded {
    pub(crate) total: Sample,
    pub(crate) intervals: Vec<Interval>,
    pub(crate) elapsed: Duration,
}

/// Runs the benchmark the arguments describe and returns its report (without writing files).
pub async fn bench(args: &BenchArgs) -> Result<Report, BenchError> {
    let slo = Slo::parse(&args.slo)?;
    if args.connections == 0 || args.threads == 0 {
        return Err(BenchError::Usage("-c and -t must be at least 1"));
    }
    if args.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err(BenchError::Usage("--rate must be a positive number"));
    }
    let workload = match &args.workload {
        Some(path) => Workload::from_file(path)?,
        None => Workload::from_flags(
            &args.method,
            args.tool.as_deref(),
            args.args.as_deref(),
            args.keys,
            args.zipf,
        )?,
    };
    let prepared = prepare(args, &workload).await?;
    let threads = if matches!(prepared.target, Target::Stdio(_)) {
        1
    } else {
        args.threads.min(args.connections)
    };
    let phase = |duration: Duration, schedule: Option<Schedule>| Phase {
        connections: args.connections,
        threads,
        duration,
        schedule,
        timeout: args.timeout,
        interval: args.interval.max(Duration::from_millis(50)),
        progress: !args.quiet,
    };
    let schedule = |rate: f64, duration: Duration| Schedule {
        shape: args.shape,
        rate,
        start_rate: args.start_rate.unwrap_or(rate / 10.0),
        steps: args.steps,
        spike_rate: args.spike_rate.unwrap_or(rate * 4.0),
        duration,
    };
    let mut report = if args.find_ceiling {
        ceiling::find(
            &prepared,
            args.rate.unwrap_or(100.0),
            &slo,
            args.max_error_rate,
            |rate| phase(args.stage, Some(schedule(rate, args.stage))),
        )
        .await
    } else {
        let churn = match args.churn {
            Some(rate) => Some(churn::Churn::start(&prepared, rate, args.server_pid)?),
            None => None,
        };
        let recorded = drive(
            &prepared,
            &phase(args.duration, args.rate.map(|r| schedule(r, args.duration))),
        )
        .await;
        let mut report = assemble(&prepared, &recorded, &slo, args.max_error_rate);
        if let Some(c) = churn {
            report.churn = Some(c.finish().await);
        }
        report
    };
    report.connections = args.connections;
    report.threads = threads;
    if let Some(rate) = args.rate.filter(|_| !args.find_ceiling) {
        report.mode = "open".into();
        report.rate = Some(rate);
        report.shape = Some(format!("{:?}", args.shape).to_lowercase());
    }
    Ok(report)
}

async fn prepare(args: &BenchArgs, workload: &Workload) -> Result<Prepared, BenchError> {
    let (target, target_name) = if args.stdio {
        let peer = StdioPeer::spawn(&args.command_line)?;
        (
            Target::Stdio(Arc::new(peer)),
            format!("stdio: {}", args.command_line.join(" ")),
        )
    } else {
        let url = args.url.as_deref().ok_or(BenchError::NoTarget)?;
        let mut headers = args.headers.clone();
        if let Some(t) = &args.token {
            headers.push(format!("Authorization: Bearer {t}"));
        }
        let endpoint = crate::client::Endpoint::resolve(url, &headers).await?;
        let name = endpoint.url().to_owned();
        (Target::Http(Arc::new(endpoint)), name)
    };
    let mut channel = target.channel();
    let era = match args.era {
        EraChoice::Modern => Era::Modern,
        EraChoice::Legacy => Era::Legacy,
        EraChoice::Auto => setup::discover(&mut channel).await,
    };
    let mut sessions: Vec<Session> = Vec::new();
    match era {
        Era::Modern => sessions.push(setup::modern()),
        Era::Legacy => {
            // One session serves a stdio server; over HTTP, one per connection unless told.
            let n = match &target {
                Target::Stdio(_) => 1,
                Target::Http(_) => args.sessions.unwrap_or(args.connections).max(1),
            };
            for i in 0..n {
                sessions.push(setup::open_legacy(&mut channel, 1 + i as u64).await?);
            }
        }
    }
    let tools = if workload.needs_tools() {
        Some(setup::list_tools(&sessions[0], &mut channel).await?)
    } else if era == Era::Modern && workload.calls_tools() {
        // Only to learn which parameters the tools mirror into headers; a server that does not
        // list its tools still gets the calls.
        setup::list_tools(&sessions[0], &mut channel)
            .await
            .ok()
            .filter(|t| !t.is_empty())
    } else {
        None
    };
    let mix = workload.resolve(tools.as_deref())?;
    Ok(Prepared {
        target,
        target_name,
        era,
        version: sessions[0].version.clone(),
        sessions: sessions.into_iter().map(|s| s.id).collect(),
        mix: Arc::new(mix),
    })
}

/// Runs one load phase to its end and returns what it recorded.
pub(crate) async fn drive(prepared: &Prepared, phase: &Phase) -> Recorded {
    let stop = CancellationToken::new();
    let ids = Arc::new(AtomicU64::new(1 << 20));
    let start = Instant::now();
    let recorders: Vec<Arc<Mutex<Recorder>>> = (0..phase.threads)
        .map(|_| Arc::new(Mutex::new(Recorder::new())))
        .collect();
    let version = HeaderValue::try_from(prepared.version.as_str())
        .unwrap_or(HeaderValue::from_static("2026-07-28"));
    let seed = fastrand::u64(..);
    // Worker i runs on thread i % threads and uses session i % sessions.
    let workers_of = |thread: usize| -> Vec<(usize, Option<HeaderValue>)> {
        (0..phase.connections)
            .filter(|i| i % phase.threads == thread)
            .map(|i| (i, prepared.sessions[i % prepared.sessions.len()].clone()))
            .collect()
    };
    let shared_of = |thread: usize| {
        Arc::new(Shared {
            mix: Arc::clone(&prepared.mix),
            era: prepared.era,
            protocol_version: version.clone(),
            timeout: phase.timeout,
            stop: stop.clone(),
            recorder: Arc::clone(&recorders[thread]),
            open: phase.schedule.map(|s| (s, start, phase.connections)),
            ids: Arc::clone(&ids),
        })
    };
    let mut done = Vec::new();
    for thread in 1..phase.threads {
        let shared = shared_of(thread);
        let workers = workers_of(thread);
        let target = prepared.target.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        done.push(rx);
        std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(run_workers(shared, target, workers, seed));
            let _ = tx.send(());
        });
    }
    let local = tokio::spawn(run_workers(
        shared_of(0),
        prepared.target.clone(),
        workers_of(0),
        seed,
    ));
    let all_done = async move {
        let _ = local.await;
        for rx in done {
            let _ = rx.await;
        }
    };
    tokio::pin!(all_done);

    let bar = phase.progress.then(progress_bar);
    let mut intervals = Vec::new();
    let mut tick = tokio::time::interval_at((start + phase.interval).into(), phase.interval);
    let mut last_tick = start;
    let deadline = tokio::time::sleep_until((start + phase.duration).into());
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut all_done => break,
            () = &mut deadline, if !stop.is_cancelled() => stop.cancel(),
            _ = tick.tick() => {
                let now = Instant::now();
                let i = take_interval(&recorders, start, last_tick, now, phase);
                last_tick = now;
                if let Some(bar) = &bar {
                    bar.set_message(format!(
                        "{:>6.1}s  {:>9.1} req/s  p50 {}  p99 {}  errors {}",
                        i.t,
                        i.throughput_rps,
                        crate::report::us_text(i.latency_us.p50 as f64),
                        crate::report::us_text(i.latency_us.p99 as f64),
                        i.errors
                    ));
                }
                intervals.push(i);
            }
        }
    }
    stop.cancel();
    let end = Instant::now();
    // What finished after the last tick (the in-flight requests drained at the end).
    let i = take_interval(&recorders, start, last_tick, end, phase);
    if i.requests > 0 {
        intervals.push(i);
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut total = Sample::new();
    for r in &recorders {
        if let Ok(r) = r.lock() {
            total.merge(&r.total);
        }
    }
    Recorded {
        total,
        intervals,
        elapsed: end - start,
    }
}

async fn run_workers(
    shared: Arc<Shared>,
    target: Target,
    workers: Vec<(usize, Option<HeaderValue>)>,
    seed: u64,
) {
    let mut set = tokio::task::JoinSet::new();
    for (index, session) in workers {
        set.spawn(load::worker(
            Arc::clone(&shared),
            target.channel(),
            session,
            index,
            seed.wrapping_add(index as u64),
        ));
    }
    while set.join_next().await.is_some() {}
}

fn take_interval(
    recorders: &[Arc<Mutex<Recorder>>],
    start: Instant,
    from: Instant,
    to: Instant,
    phase: &Phase,
) -> Interval {
    let mut sample = Sample::new();
    for r in recorders {
        if let Ok(mut r) = r.lock() {
            sample.merge(&r.take_interval());
        }
    }
    let t = to - start;
    Interval::of(
        t.as_secs_f64(),
        (to - from).as_secs_f64(),
        &sample,
        phase.schedule.map(|s| s.rate_at(t)),
    )
}

fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The report of one phase.
pub(crate) fn assemble(
    prepared: &Prepared,
    recorded: &Recorded,
    slo: &Slo,
    max_error_rate: f64,
) -> Report {
    let counts = &recorded.total.counts;
    let latency = Latency::of(&recorded.total.latency);
    let verdicts = slo.judge(&latency);
    let requests = counts.requests();
    let errors = Errors::of(counts);
    let error_rate = if requests == 0 {
        1.0
    } else {
        errors.total as f64 / requests as f64
    };
    let secs = recorded.elapsed.as_secs_f64();
    Report {
        target: prepared.target_name.clone(),
        era: match prepared.era {
            Era::Modern => "modern",
            Era::Legacy => "legacy",
        }
        .into(),
        protocol_version: prepared.version.clone(),
        mode: "closed".into(),
        sessions: prepared.sessions.len(),
        duration_secs: (secs * 1000.0).round() / 1000.0,
        requests,
        ok: counts.ok,
        throughput_rps: if secs > 0.0 {
            (requests as f64 / secs * 10.0).round() / 10.0
        } else {
            0.0
        },
        input_rounds: counts.rounds,
        passed: requests > 0 && verdicts.iter().all(|v| v.passed) && error_rate <= max_error_rate,
        errors,
        latency_us: latency,
        ok_latency_us: Latency::of(&recorded.total.ok_latency()),
        failed_latency_us: (!recorded.total.failed_latency.is_empty())
            .then(|| Latency::of(&recorded.total.failed_latency)),
        slo: verdicts,
        intervals: recorded.intervals.clone(),
        histogram: report::buckets(&recorded.total.latency),
        ..Report::default()
    }
}
