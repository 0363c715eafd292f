//! Scale benchmark of the knowledge base without a model: N synthetic chunks (pseudo-word text,
//! unit vectors drawn around random cluster centres, or uniformly at random) go into a real
//! store; then the HNSW build time, ANN query latency and recall@10 against exact search (for
//! several `ef`), brute-force latency, BM25 and hybrid latency, and bytes per chunk are measured.
//! With `--export DIR` the vectors, queries and exact neighbours are written as raw little-endian
//! files for `scripts/bench/kb_ann_side_by_side.py` (hnswlib on the same vectors).
//!
//! cargo run --release -p muse-retrieval --example kb_bench -- --n 100000 --data clustered --export /tmp/kbb

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

use muse_retrieval::hnsw::HnswParams;
use muse_retrieval::kb::{KbOptions, KnowledgeBase};
use muse_retrieval::store::NewChunk;
use muse_retrieval::{SearchMode, SearchOptions, normalize};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

struct Opts {
    n: usize,
    dim: usize,
    queries: usize,
    clustered: bool,
    m: usize,
    efc: usize,
    efs: Vec<usize>,
    dir: Option<PathBuf>,
    export: Option<PathBuf>,
}

fn parse() -> Opts {
    let mut o = Opts {
        n: 100_000,
        dim: 384,
        queries: 1000,
        clustered: true,
        m: 16,
        efc: 200,
        efs: vec![16, 32, 64, 100, 200],
        dir: None,
        export: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--n" => o.n = v.parse().unwrap(),
            "--dim" => o.dim = v.parse().unwrap(),
            "--queries" => o.queries = v.parse().unwrap(),
            "--data" => o.clustered = v == "clustered",
            "--m" => o.m = v.parse().unwrap(),
            "--efc" => o.efc = v.parse().unwrap(),
            "--ef" => o.efs = v.split(',').map(|x| x.parse().unwrap()).collect(),
            "--dir" => o.dir = Some(v.into()),
            "--export" => o.export = Some(v.into()),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    o
}

/// Standard normal by Box–Muller.
fn gauss(rng: &mut ChaCha8Rng) -> f32 {
    let u: f32 = rng.random_range(f32::MIN_POSITIVE..1.0);
    let v: f32 = rng.random_range(0.0..1.0);
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

struct Gen {
    rng: ChaCha8Rng,
    centres: Vec<Vec<f32>>,
    dim: usize,
}

impl Gen {
    fn vector(&mut self) -> Vec<f32> {
        let dim = self.dim;
        let mut v: Vec<f32> = if self.centres.is_empty() {
            (0..dim).map(|_| gauss(&mut self.rng)).collect()
        } else {
            let c = self.rng.random_range(0..self.centres.len());
            // Noise of norm ~0.8 around a unit centre: neighbours within a cluster have cosine
            // ~0.6, about what MiniLM gives related sentences.
            let s = 0.8 / (dim as f32).sqrt();
            (0..dim)
                .map(|j| self.centres[c][j] + s * gauss(&mut self.rng))
                .collect()
        };
        normalize(&mut v);
        v
    }
}

fn word(i: usize) -> String {
    const SYL: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "de", "po", "ba", "gu", "fe", "zi", "ha",
        "jo",
    ];
    let mut w = String::new();
    let mut x = i + 16;
    while x > 0 {
        w.push_str(SYL[x % 16]);
        x /= 16;
    }
    w
}

/// A word index with a Zipf-like (log-uniform) rank distribution over `vocab` words.
fn zipf(rng: &mut ChaCha8Rng, vocab: usize) -> usize {
    let u: f64 = rng.random_range(0.0..1.0);
    ((vocab as f64).powf(u) as usize)
        .saturating_sub(1)
        .min(vocab - 1)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn write_f32(path: &std::path::Path, rows: &[&[f32]]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for r in rows {
        for x in *r {
            f.write_all(&x.to_le_bytes()).unwrap();
        }
    }
}

fn main() {
    let o = parse();
    let mut out = std::io::stdout().lock();
    let tmp = tempfile::tempdir().unwrap();
    let dir = o.dir.clone().unwrap_or_else(|| tmp.path().join("kb"));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let centres: Vec<Vec<f32>> = if o.clustered {
        (0..1000)
            .map(|_| {
                let mut c: Vec<f32> = (0..o.dim).map(|_| gauss(&mut rng)).collect();
                normalize(&mut c);
                c
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut g = Gen {
        rng,
        centres,
        dim: o.dim,
    };
    let opts = KbOptions {
        hnsw: HnswParams {
            m: o.m,
            ef_construction: o.efc,
            ..HnswParams::default()
        },
        ..KbOptions::default()
    };
    let mut kb = KnowledgeBase::create_or_open(&dir, opts.clone()).unwrap();
    kb.store().set_meta("model", "synthetic").unwrap();
    kb.store().set_meta("dim", &o.dim.to_string()).unwrap();

    // Ingest: 1000 chunks a document, one transaction each, as `kb add` writes them.
    let per_doc = 1000;
    let vocab = 20_000;
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(o.n);
    let t = Instant::now();
    let mut store = muse_retrieval::store::Store::open(&dir, false).unwrap();
    for d in 0..o.n.div_ceil(per_doc) {
        let mut chunks = Vec::new();
        let mut pos = 0;
        for _ in 0..per_doc.min(o.n - d * per_doc) {
            let text: Vec<String> = (0..60).map(|_| word(zipf(&mut g.rng, vocab))).collect();
            let text = text.join(" ");
            let v = g.vector();
            vectors.push(v.clone());
            let len = text.chars().count();
            chunks.push(NewChunk {
                start: pos,
                end: pos + len,
                title: format!("doc {d}"),
                text,
                vector: v,
            });
            pos += len + 1;
        }
        store
            .put_document(
                &format!("/synthetic/doc{d}.txt"),
                &format!("{d}"),
                &format!("doc {d}"),
                pos,
                &chunks,
            )
            .unwrap();
    }
    store.checkpoint().unwrap();
    let ingest_s = t.elapsed().as_secs_f64();
    drop(store);

    let t = Instant::now();
    kb.sync_index().unwrap();
    let build_s = t.elapsed().as_secs_f64();
    let stats = kb.stats().unwrap();
    let graph = kb.index().unwrap();
    assert_eq!(graph.len(), o.n);

    let queries: Vec<Vec<f32>> = (0..o.queries).map(|_| g.vector()).collect();
    // Exact top 10 (brute force over the graph's copy of the vectors).
    let mut exact_ms = Vec::new();
    let mut truth: Vec<Vec<i64>> = Vec::new();
    for q in &queries {
        let t = Instant::now();
        let r = graph.exact(q, 10, None);
        exact_ms.push(t.elapsed().as_secs_f64() * 1e3);
        truth.push(r.iter().map(|x| x.0).collect());
    }
    let header = serde_json::json!({
        "n": o.n, "dim": o.dim, "data": if o.clustered { "clustered" } else { "random" },
        "m": o.m, "ef_construction": o.efc,
        "store_insert_s": ingest_s, "store_chunks_per_s": o.n as f64 / ingest_s,
        "hnsw_build_s": build_s,
        "store_bytes_per_chunk": stats.store_bytes as f64 / o.n as f64,
        "index_bytes_per_chunk": stats.index_bytes as f64 / o.n as f64,
        "exact_ms_p50": pct(&mut exact_ms.clone(), 0.5), "exact_ms_p99": pct(&mut exact_ms, 0.99),
    });
    writeln!(out, "{header}").unwrap();
    for &ef in &o.efs {
        let mut ms = Vec::new();
        let mut hit = 0;
        for (q, t10) in queries.iter().zip(&truth) {
            let t = Instant::now();
            let r = graph.search(q, 10, ef, None);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            hit += r.iter().filter(|x| t10.contains(&x.0)).count();
        }
        let row = serde_json::json!({
            "ef": ef, "recall_at_10": hit as f64 / (10 * queries.len()) as f64,
            "ann_ms_p50": pct(&mut ms.clone(), 0.5), "ann_ms_p99": pct(&mut ms, 0.99),
        });
        writeln!(out, "{row}").unwrap();
    }
    // Through the knowledge base: vector (with the live-chunk filter and chunk fetch), BM25
    // and hybrid, k = 5, default options (ef 100, 50 candidates a ranking).
    for mode in [SearchMode::Vector, SearchMode::Keyword, SearchMode::Hybrid] {
        let mut ms = Vec::new();
        for q in &queries {
            let text = format!(
                "{} {} {}",
                word(zipf(&mut g.rng, vocab)),
                word(zipf(&mut g.rng, vocab)),
                word(zipf(&mut g.rng, vocab))
            );
            let o = SearchOptions {
                k: 5,
                mode,
                ..SearchOptions::default()
            };
            let t = Instant::now();
            let hits = kb.search_with_vector(&text, Some(q), &o).unwrap();
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            assert!(!hits.is_empty());
        }
        let row = serde_json::json!({
            "kb_search": mode, "ms_p50": pct(&mut ms.clone(), 0.5), "ms_p99": pct(&mut ms, 0.99),
        });
        writeln!(out, "{row}").unwrap();
    }
    if let Some(ex) = &o.export {
        std::fs::create_dir_all(ex).unwrap();
        // Rows in graph order = id order; ids are 1-based SQLite rowids.
        let graph = kb.index().unwrap();
        let rows: Vec<&[f32]> = (0..graph.len()).map(|i| graph.vector(i)).collect();
        write_f32(&ex.join("vectors.f32"), &rows);
        let qrows: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
        write_f32(&ex.join("queries.f32"), &qrows);
        let pos: std::collections::HashMap<i64, usize> = graph
            .ids()
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i))
            .collect();
        let mut f = std::fs::File::create(ex.join("truth.i32")).unwrap();
        for t10 in &truth {
            for id in t10 {
                f.write_all(&(pos[id] as i32).to_le_bytes()).unwrap();
            }
        }
        std::fs::write(
            ex.join("meta.json"),
            serde_json::json!({"n": o.n, "dim": o.dim, "queries": o.queries, "k": 10, "m": o.m, "ef_construction": o.efc}).to_string(),
        )
        .unwrap();
    }
}
