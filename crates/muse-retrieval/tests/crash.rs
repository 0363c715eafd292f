#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
//! Crash safety: an ingest killed with SIGKILL at varying moments leaves a knowledge base that
//! opens and answers, with every file wholly in (all its chunks) or wholly out.
//!
//! The ingesting process is this test binary itself, re-run with `MUSE_KB_CRASH_CHILD` set: it
//! then runs only `crash_child`, which ingests the folder file by file (and saves the HNSW cache
//! every few files, so kills also land during cache writes).

use muse_retrieval::kb::KbOptions;
use muse_retrieval::toy::HashEmbedder;
use muse_retrieval::{KnowledgeBase, SearchMode, SearchOptions};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FILES: usize = 120;

fn embedder() -> HashEmbedder {
    HashEmbedder {
        delay: Duration::from_millis(3),
        ..HashEmbedder::default()
    }
}

/// File `i`, version `v`: paragraphs of words unique to the file so searches can name it.
fn body(i: usize, v: usize) -> String {
    (0..8)
        .map(|p| {
            (0..60)
                .map(|w| format!("file{i}v{v}w{} ", (w * 7 + p) % 50))
                .collect::<String>()
                .trim_end()
                .to_string()
                + "."
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[test]
fn crash_child() {
    let (Some(kb), Some(docs)) = (
        std::env::var_os("MUSE_KB_CRASH_CHILD"),
        std::env::var_os("MUSE_KB_CRASH_DOCS"),
    ) else {
        return; // Only the child process does the work.
    };
    let e = embedder();
    let mut kb = KnowledgeBase::create_or_open(Path::new(&kb), KbOptions::default()).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&docs)
        .unwrap()
        .map(|d| d.unwrap().path())
        .collect();
    files.sort();
    for (n, f) in files.iter().enumerate() {
        kb.add_file(f, &e).unwrap();
        if n % 10 == 9 {
            kb.sync_index().unwrap();
        }
    }
}

/// Open the base and check it: consistent per file, and it answers. Returns the documents in it.
fn check(kb_dir: &Path) -> usize {
    let e = embedder();
    let root = kb_dir.parent().unwrap();
    let mut kb = KnowledgeBase::open(kb_dir, "kb", root, KbOptions::default()).unwrap();
    // The database and its full-text index are intact (FTS5's check fails on any mismatch
    // between the index and the chunks table).
    let conn = rusqlite::Connection::open(kb_dir.join("kb.sqlite")).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    conn.execute(
        "INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')",
        [],
    )
    .unwrap();
    drop(conn);
    let counts = kb.store().chunk_counts().unwrap();
    for (path, expected, stored) in &counts {
        assert_eq!(expected, stored, "{path}: half-written");
        assert!(*expected > 0);
    }
    if let Some((path, _, _)) = counts.first() {
        let stem = Path::new(path)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let i: usize = stem.trim_start_matches('f').parse().unwrap();
        let o = |mode| SearchOptions {
            k: 3,
            mode,
            ..SearchOptions::default()
        };
        let kw = kb
            .search(
                &format!("file{i}v0w3 file{i}v1w3"),
                &e,
                &o(SearchMode::Keyword),
            )
            .unwrap();
        assert!(
            kw[0].source.ends_with(&format!("f{i:03}.txt")),
            "{}",
            kw[0].source
        );
        // A chunk's own text finds that chunk first by vector and hybrid search.
        for mode in [SearchMode::Vector, SearchMode::Hybrid] {
            let hits = kb.search(&kw[0].text, &e, &o(mode)).unwrap();
            assert_eq!(hits[0].chunk_id, kw[0].chunk_id, "{mode:?}");
        }
    }
    counts.len()
}

#[test]
fn sigkill_during_ingest_leaves_each_file_whole_or_absent() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    for i in 0..FILES {
        std::fs::write(docs.join(format!("f{i:03}.txt")), body(i, 0)).unwrap();
    }
    let kb_dir = tmp.path().join("kb");
    let exe = std::env::current_exe().unwrap();
    let spawn = || {
        Command::new(&exe)
            .args(["--exact", "crash_child", "--test-threads=1"])
            .env("MUSE_KB_CRASH_CHILD", &kb_dir)
            .env("MUSE_KB_CRASH_DOCS", &docs)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut partial = 0;
    let mut killed = 0;
    for (round, delay_ms) in [40u64, 90, 150, 60, 230, 120, 35, 300]
        .into_iter()
        .enumerate()
    {
        if round == 4 {
            // Change a third of the files: later kills also hit replacements.
            for i in (0..FILES).step_by(3) {
                std::fs::write(docs.join(format!("f{i:03}.txt")), body(i, 1)).unwrap();
            }
        }
        let mut child = spawn();
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(delay_ms) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL on Unix
            killed += 1;
        }
        child.wait().unwrap();
        if kb_dir.join("kb.sqlite").exists() {
            let n = check(&kb_dir);
            if n > 0 && n < FILES {
                partial += 1;
            }
        }
    }
    assert!(
        killed >= 4,
        "only {killed} runs were killed mid-ingest; the ingest is too fast"
    );
    assert!(partial >= 2, "only {partial} kills left a partial base");
    // Finish undisturbed: everything is in, with the latest contents.
    let status = spawn().wait().unwrap();
    assert!(status.success());
    assert_eq!(check(&kb_dir), FILES);
    let e = embedder();
    let mut kb = KnowledgeBase::open(&kb_dir, "kb", tmp.path(), KbOptions::default()).unwrap();
    let o = SearchOptions {
        k: 1,
        mode: SearchMode::Keyword,
        ..SearchOptions::default()
    };
    let hits = kb.search("file3v1w5", &e, &o).unwrap();
    assert!(hits[0].source.ends_with("f003.txt") && hits[0].text.contains("file3v1w5"));
    assert!(
        kb.search("file3v0w5", &e, &o)
            .unwrap()
            .iter()
            .all(|h| !h.text.contains("file3v0w5"))
    );
}
