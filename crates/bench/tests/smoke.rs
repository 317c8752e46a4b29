//! Every job runs once at small sizes and gives a sane figure: a positive,
//! finite one, or for Linux an absence with its reason. No timing is
//! asserted (speed belongs in `cargo xtask bench host`).

use host_bench::harness::{Figure, Unit};

#[test]
fn every_job_runs_once_and_gives_sane_figures() {
    let run = host_bench::run(&host_bench::Config::quick(), &mut |_| {});
    assert!(run.rows.len() >= 19, "a row per job");
    for row in &run.rows {
        assert!(
            !matches!((&row.project, &row.linux, &row.limit), (Figure::None, Figure::None, Figure::None)),
            "{}: nothing measured",
            row.job
        );
        for figure in [&row.project, &row.linux, &row.limit] {
            match figure {
                Figure::Measured { stats, .. } => {
                    assert!(stats.median.is_finite() && stats.median > 0.0, "{}: {stats:?}", row.job);
                    assert!(stats.min <= stats.median && stats.median <= stats.max, "{}", row.job);
                }
                Figure::Absent { why } => assert!(!why.is_empty(), "{}: an absence says why", row.job),
                Figure::None => {}
            }
        }
        assert!(matches!(row.project, Figure::Measured { .. } | Figure::None), "{}", row.job);
    }
    let metadata = run.rows.iter().find(|r| r.unit == Unit::BytesPerPage).expect("the metadata row");
    let bytes = metadata.project.stats().expect("measured").median;
    assert!((8.0..64.0).contains(&bytes), "a slot and its share of the node map: {bytes}");
    let table = run.table();
    assert!(table.contains("| commit 4 MiB |"), "{table}");
    let path = std::env::temp_dir().join(format!("host-bench-smoke-{}.json", std::process::id()));
    run.write_json(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), run.rows.len());
}
