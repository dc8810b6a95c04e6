//! In-process cost of each stage of the pipeline (`cargo bench`): resolving flags and presets
//! into a spec, the engine's parts (templates rendered), assembling the objects, YAML, and the
//! whole `run` of `sts-gen render` over values files. Whole-process timings, memory and the
//! comparison with kubectl are in scripts/bench; docs/benchmarks.md reports both.

use std::hint::black_box;

use sts_gen::resolve::Resolved;

fn main() {
    divan::main();
}

const DBS: [&str; 6] = [
    "mysql",
    "mariadb",
    "postgres",
    "mongodb",
    "elasticsearch",
    "redis",
];

/// `sts-gen <db> --replicas 3 --existing-secret s`, resolved (no random passwords).
fn resolved(db: &str) -> Resolved {
    let no_password = |_: usize| -> anyhow::Result<String> { unreachable!("existing secret") };
    sts_gen::cli::resolve_argv(
        &[db, "--replicas", "3", "--existing-secret", "s"],
        &no_password,
    )
    .unwrap()
}

#[divan::bench(args = DBS)]
fn resolve(db: &str) -> Resolved {
    resolved(black_box(db))
}

#[divan::bench(args = DBS)]
fn parts(bencher: divan::Bencher, db: &str) {
    let r = resolved(db);
    bencher.bench(|| r.database.parts(black_box(&r.spec)).unwrap());
}

#[divan::bench(args = DBS)]
fn generate(bencher: divan::Bencher, db: &str) {
    let r = resolved(db);
    bencher.bench(|| sts_gen::generate(black_box(&r)).unwrap());
}

#[divan::bench(args = DBS)]
fn yaml(bencher: divan::Bencher, db: &str) {
    let docs = sts_gen::generate(&resolved(db)).unwrap();
    bencher.bench(|| sts_gen::output::yaml_stream(black_box(&docs), "# h\n").unwrap());
}

/// The whole command in one process, values files to YAML stream: 1, 10 and 100 files (a mix
/// of the databases), so that the cost per database and its growth show.
#[divan::bench(args = [1, 10, 100], sample_count = 20)]
fn render(bencher: divan::Bencher, files: usize) {
    let dir = std::env::temp_dir().join(format!("sts-gen-bench-{}-{files}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut argv = vec!["sts-gen".to_owned(), "render".to_owned()];
    for i in 0..files {
        let db = ["mysql", "mongodb", "elasticsearch"][i % 3];
        let path = dir.join(format!("db{i}.yaml"));
        let extra = if db == "elasticsearch" {
            "elasticsearch:\n  privilegedInit: false\n"
        } else {
            ""
        };
        std::fs::write(
            &path,
            format!("database: {db}\nname: db{i}\nexistingSecret: s{i}\n{extra}"),
        )
        .unwrap();
        argv.push(path.display().to_string());
    }
    bencher.bench(|| {
        let cli = sts_gen::cli::parse(&argv).unwrap();
        let mut out = Vec::with_capacity(files * 40_000);
        let mut err = Vec::new();
        sts_gen::run(cli, &argv[1..], &mut out, &mut err).unwrap();
        out
    });
    std::fs::remove_dir_all(dir).unwrap();
}
