//! The harness: repeat a measurement, keep its median and spread, and put
//! each job's figures in one row of the table and the JSON.
//!
//! Its own and not criterion's because each row holds three measurements
//! of different code (this project, Linux, the limit) taken in the same run,
//! some of which (fork of 1 GiB, a fault round trip) only make sense as a
//! handful of whole runs with their own set-up, and the output is one table
//! of ratios with the targets, not a report per function.

use std::fmt::Write as _;
use std::time::Instant;

use serde::Serialize;

/// A measured figure: the median of `runs` runs, their quartiles and
/// extremes, in the row's [`Unit`] (nanoseconds or bytes per unit of work).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Stats {
    pub median: f64,
    pub q1: f64,
    pub q3: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Stats {
    /// The figures of `samples` (at least one).
    pub fn of(mut samples: Vec<f64>) -> Stats {
        assert!(!samples.is_empty(), "a figure needs a sample");
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let at = |q: f64| {
            // Linear interpolation between the closest ranks.
            let pos = q * (n - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            samples[lo] + (samples[hi] - samples[lo]) * (pos - lo as f64)
        };
        Stats { median: at(0.5), q1: at(0.25), q3: at(0.75), min: samples[0], max: samples[n - 1], runs: n }
    }

    /// A figure that is not a time: one exact value.
    pub fn exact(value: f64) -> Stats {
        Stats::of(vec![value])
    }

    /// The spread: the interquartile range as a share of the median.
    pub fn spread(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.q3 - self.q1) / self.median
        }
    }
}

/// Runs `one` `runs` times; each run does its own untimed set-up and
/// returns nanoseconds (or bytes) per unit of its timed part.
pub fn sample(runs: usize, mut one: impl FnMut() -> f64) -> Stats {
    Stats::of((0..runs).map(|_| one()).collect())
}

/// Nanoseconds per unit of `f()`, timed once.
pub fn time_per(units: u64, f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_nanos() as f64 / units as f64
}

/// What a row's figures count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Time per page.
    TimePerPage,
    /// Time per call (one operation, whatever its size).
    TimePerCall,
    /// Pages per second; kept as time per page, shown as its inverse.
    PagesPerSecond,
    /// Bytes of metadata per committed page.
    BytesPerPage,
}

impl Unit {
    fn label(self) -> &'static str {
        match self {
            Unit::TimePerPage => "time/page",
            Unit::TimePerCall => "time/call",
            Unit::PagesPerSecond => "pages/s",
            Unit::BytesPerPage => "bytes/page",
        }
    }

    /// `value` (ns or bytes per unit) as this unit shows it.
    fn show(self, value: f64) -> String {
        match self {
            Unit::TimePerPage | Unit::TimePerCall => show_ns(value),
            Unit::PagesPerSecond => show_rate(1e9 / value),
            Unit::BytesPerPage => format!("{value:.1}"),
        }
    }

    fn show_stats(self, s: &Stats) -> String {
        if s.runs == 1 {
            return self.show(s.median);
        }
        format!("{} ±{:.0}%", self.show(s.median), s.spread() * 50.0)
    }
}

fn show_ns(ns: f64) -> String {
    scaled(ns, [" ns", " µs", " ms", " s"])
}

fn show_rate(per_second: f64) -> String {
    scaled(per_second, ["", "k", "M", "G"])
}

/// `value` in the first of `units` (each 1000 times the one before) that
/// keeps it under 1000, to three digits.
fn scaled(mut value: f64, units: [&str; 4]) -> String {
    let mut unit = 0;
    while value >= 1e3 && unit < units.len() - 1 {
        value /= 1e3;
        unit += 1;
    }
    format!("{}{}", three_digits(value), units[unit])
}

fn three_digits(v: f64) -> String {
    match v {
        v if v < 10.0 => format!("{v:.2}"),
        v if v < 100.0 => format!("{v:.1}"),
        v => format!("{v:.0}"),
    }
}

/// A figure of one side of a row.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Figure {
    /// Measured in this run.
    Measured { what: String, stats: Stats },
    /// The running kernel cannot do it: why (never a made-up figure).
    Absent { why: String },
    /// This side has no such job.
    None,
}

impl Figure {
    pub fn measured(what: impl Into<String>, stats: Stats) -> Figure {
        Figure::Measured { what: what.into(), stats }
    }

    pub fn stats(&self) -> Option<&Stats> {
        match self {
            Figure::Measured { stats, .. } => Some(stats),
            _ => None,
        }
    }
}

/// The target for a row, as a bound on this project's median.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "factor")]
pub enum Target {
    /// At most `factor` × the limit's figure.
    TimesLimit(f64),
    /// At most `factor` × Linux's figure (for a rate: at least its rate
    /// divided by `factor`).
    TimesLinux(f64),
    /// At most this many units.
    AtMost(f64),
}

/// Whether a row met its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    Missed,
    /// The figure it is judged against is absent.
    Unjudged,
}

/// One job: this project's figure, Linux's, and the limit.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub job: String,
    pub unit: Unit,
    pub project: Figure,
    pub linux: Figure,
    pub limit: Figure,
    pub target: Option<Target>,
    /// This project ÷ Linux (time or bytes: below 1 is better).
    pub ratio: Option<f64>,
    pub verdict: Option<Verdict>,
}

impl Row {
    pub fn new(job: impl Into<String>, unit: Unit, project: Figure, linux: Figure, limit: Figure) -> Row {
        let ratio = match (project.stats(), linux.stats()) {
            (Some(p), Some(l)) => Some(p.median / l.median),
            _ => None,
        };
        Row { job: job.into(), unit, project, linux, limit, target: None, ratio, verdict: None }
    }

    pub fn with_target(mut self, target: Target) -> Row {
        let project = self.project.stats().map(|s| s.median);
        let bound = match target {
            Target::TimesLimit(k) => self.limit.stats().map(|s| k * s.median),
            Target::TimesLinux(k) => self.linux.stats().map(|s| k * s.median),
            Target::AtMost(v) => Some(v),
        };
        self.verdict = Some(match (project, bound) {
            (Some(p), Some(b)) if p <= b => Verdict::Met,
            (Some(_), Some(_)) => Verdict::Missed,
            _ => Verdict::Unjudged,
        });
        self.target = Some(target);
        self
    }

    fn target_text(&self) -> String {
        let Some(target) = self.target else { return String::new() };
        let rate = self.unit == Unit::PagesPerSecond;
        let bound = match target {
            Target::TimesLimit(k) => format!("≤ {k}× limit"),
            Target::TimesLinux(k) if rate && k == 1.0 => "≥ Linux".to_string(),
            Target::TimesLinux(k) if k < 1.0 => format!("≤ Linux/{:.0}", 1.0 / k),
            Target::TimesLinux(k) => format!("≤ {k}× Linux"),
            Target::AtMost(v) => format!("≤ {}", self.unit.show(v)),
        };
        let verdict = match self.verdict {
            Some(Verdict::Met) => "met",
            Some(Verdict::Missed) => "MISSED",
            _ => "unjudged",
        };
        format!("{bound}: {verdict}")
    }
}

fn cell(figure: &Figure, unit: Unit) -> String {
    match figure {
        Figure::Measured { stats, .. } => unit.show_stats(stats),
        Figure::Absent { .. } => "absent".to_string(),
        Figure::None => "—".to_string(),
    }
}

/// The machine a run was taken on.
#[derive(Clone, Debug, Serialize)]
pub struct MachineInfo {
    pub cpu: String,
    pub cpus: usize,
    pub kernel: String,
}

impl MachineInfo {
    pub fn here() -> MachineInfo {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim()))
            .unwrap_or("unknown")
            .to_string();
        let kernel =
            std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        MachineInfo { cpu, cpus, kernel }
    }
}

/// A whole run: the machine, the sizes and repetitions, and every row.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub machine: MachineInfo,
    pub config: crate::Config,
    pub rows: Vec<Row>,
}

impl Run {
    /// The table (Markdown, so the README can hold it as printed), then
    /// what each side measured and why any figure is absent.
    pub fn table(&self) -> String {
        let m = &self.machine;
        let mut out = format!("machine: {}, {} CPUs, Linux {}\n\n", m.cpu, m.cpus, m.kernel);
        out.push_str("| job | unit | this project | Linux | ratio | limit | target |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let ratio = r.ratio.map_or("—".to_string(), |x| format!("{x:.3}"));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                r.job,
                r.unit.label(),
                cell(&r.project, r.unit),
                cell(&r.linux, r.unit),
                ratio,
                cell(&r.limit, r.unit),
                r.target_text()
            );
        }
        out.push_str(
            "\nMedians of the runs, ± half their interquartile range as a share of the median (min and max are in the JSON); \
             ratio = this project ÷ Linux in time (or bytes): below 1 is better.\n\n",
        );
        for r in &self.rows {
            let sides = [("project", &r.project), ("Linux", &r.linux), ("limit", &r.limit)];
            let parts: Vec<String> = sides
                .iter()
                .filter_map(|(side, f)| match f {
                    Figure::Measured { what, stats } => Some(format!("{side}: {what} ({} runs)", stats.runs)),
                    Figure::Absent { why } => Some(format!("{side}: absent ({why})")),
                    Figure::None => None,
                })
                .collect();
            let _ = writeln!(out, "- {}: {}", r.job, parts.join("; "));
        }
        out
    }

    pub fn write_json(&self, path: &std::path::Path) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let s = Stats::of(vec![3.0, 1.0, 2.0, 10.0, 4.0]);
        assert_eq!((s.median, s.q1, s.q3, s.min, s.max, s.runs), (3.0, 2.0, 4.0, 1.0, 10.0, 5));
        assert_eq!(Stats::of(vec![4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert!((s.spread() - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn targets_judge_the_median() {
        let f = |v| Figure::measured("x", Stats::exact(v));
        let unit = Unit::TimePerPage;
        let met = Row::new("a", unit, f(120.0), f(200.0), f(100.0)).with_target(Target::TimesLimit(1.25));
        assert_eq!((met.verdict, met.ratio), (Some(Verdict::Met), Some(0.6)));
        let missed = Row::new("b", unit, f(130.0), f(200.0), f(100.0)).with_target(Target::TimesLimit(1.25));
        assert_eq!(missed.verdict, Some(Verdict::Missed));
        let absent = Figure::Absent { why: "old kernel".into() };
        let unjudged = Row::new("c", unit, f(1.0), absent, Figure::None).with_target(Target::TimesLinux(0.1));
        assert_eq!((unjudged.verdict, unjudged.ratio), (Some(Verdict::Unjudged), None));
    }

    #[test]
    fn rates_show_as_inverse_time() {
        assert_eq!(Unit::PagesPerSecond.show(250.0), "4.00M");
        assert_eq!(Unit::TimePerCall.show(1_500.0), "1.50 µs");
    }
}
