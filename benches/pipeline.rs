//! In-process cost of each stage of the pipeline (`cargo bench`): resolving flags and presets
//! into a spec, the engine's parts (templates rendered), assembling the objects, YAML, and the
//! whole `run` of `sts-gen render` over values files. Whole-process timings, memory and the
//! comparison with kubectl are in scripts/bench; BENCHMARKS.md reports both.

use std::hint::black_box;

use clap::Parser;
use sts_gen::cli::{Cli, DbKind, GenerateArgs};
use sts_gen::spec::Spec;

fn main() {
    divan::main();
}

const DBS: [DbKind; 6] = [
    DbKind::Mysql,
    DbKind::Mariadb,
    DbKind::Postgres,
    DbKind::Mongodb,
    DbKind::Elasticsearch,
    DbKind::Redis,
];

/// `sts-gen <db> --replicas 3 --existing-secret s`, as a spec (no random passwords).
fn spec(db: DbKind) -> Spec {
    let args = GenerateArgs {
        replicas: Some("3".into()),
        existing_secret: Some("s".into()),
        ..Default::default()
    };
    let no_password = |_: usize| -> anyhow::Result<String> { unreachable!("existing secret") };
    sts_gen::resolve::resolve_with(db, &args, &no_password)
        .unwrap()
        .spec
}

#[divan::bench(args = DBS)]
fn resolve(db: DbKind) -> Spec {
    spec(black_box(db))
}

#[divan::bench(args = DBS)]
fn parts(bencher: divan::Bencher, db: DbKind) {
    let spec = spec(db);
    let engine = sts_gen::engine::for_kind(db);
    bencher.bench(|| engine.parts(black_box(&spec)).unwrap());
}

#[divan::bench(args = DBS)]
fn generate(bencher: divan::Bencher, db: DbKind) {
    let spec = spec(db);
    bencher.bench(|| sts_gen::generate(black_box(&spec)).unwrap());
}

#[divan::bench(args = DBS)]
fn yaml(bencher: divan::Bencher, db: DbKind) {
    let docs = sts_gen::generate(&spec(db)).unwrap();
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
        let cli = Cli::try_parse_from(&argv).unwrap();
        let mut out = Vec::with_capacity(files * 40_000);
        let mut err = Vec::new();
        sts_gen::run(cli, &argv[1..], &mut out, &mut err).unwrap();
        out
    });
    std::fs::remove_dir_all(dir).unwrap();
}
