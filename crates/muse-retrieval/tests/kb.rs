#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
//! The knowledge base end to end with the toy embedder: ingest outcomes, replacement, removal,
//! bad input, search modes, format versions and the derived HNSW cache.

use muse_retrieval::kb::{KbOptions, list_knowledge_bases};
use muse_retrieval::toy::HashEmbedder;
use muse_retrieval::{AddOutcome, KnowledgeBase, RetrievalError, SearchMode, SearchOptions};
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, body).unwrap();
    p
}

fn corpus(dir: &Path) {
    write(dir, "animals/cats.txt", b"Cats purr when content. A cat sleeps sixteen hours a day.\n\nKittens open their eyes after a week.");
    write(
        dir,
        "animals/dogs.md",
        b"# Dogs\n\nDogs bark at strangers. A dog wags its tail when happy.",
    );
    write(dir, "space.html", b"<html><head><title>Space</title><script>var planets = 'cats';</script></head><body><p>Jupiter is the largest planet.</p><p>Saturn has rings of ice.</p></body></html>");
    write(dir, "notes.jsonl", b"{\"text\": \"Volcanoes erupt molten rock.\"}\n{\"text\": \"Glaciers carve valleys slowly.\"}\n");
    write(dir, "empty.txt", b"");
    write(dir, "blob.txt", b"\x00\x01\x02binary");
    write(dir, "latin1.md", b"caf\xe9");
    write(dir, "image.png", b"\x89PNG");
    write(dir, "broken.pdf", b"%PDF-1.4 garbage that is not a pdf");
}

fn opts(k: usize, mode: SearchMode) -> SearchOptions {
    SearchOptions {
        k,
        mode,
        ..SearchOptions::default()
    }
}

#[test]
fn ingest_search_replace_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    corpus(&docs);
    let e = HashEmbedder::default();
    let kb_dir = tmp.path().join("kbs/main");
    let mut kb = KnowledgeBase::create_or_open(&kb_dir, KbOptions::default()).unwrap();
    let mut seen = Vec::new();
    let s = kb
        .add_paths(std::slice::from_ref(&docs), &e, &mut |_, _, p, o| {
            seen.push((p.to_path_buf(), o.clone()))
        })
        .unwrap();
    assert_eq!((s.added, s.replaced, s.unchanged), (4, 0, 0));
    assert_eq!(s.ignored, 1, "image.png");
    let mut reasons: Vec<(String, String)> = s
        .skipped
        .iter()
        .map(|(p, r)| {
            (
                Path::new(p)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                r.clone(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert_eq!(reasons[0].0, "blob.txt");
    assert!(reasons[0].1.contains("binary"));
    assert!(reasons[1].0 == "broken.pdf" && reasons[1].1.contains("PDF"));
    assert!(reasons[2].0 == "empty.txt" && reasons[2].1.contains("empty"));
    assert!(reasons[3].0 == "latin1.md" && reasons[3].1.contains("UTF-8"));
    assert_eq!(seen.len(), 8);

    // Keyword search finds the HTML text, never its script.
    let hits = kb
        .search("largest planet", &e, &opts(3, SearchMode::Keyword))
        .unwrap();
    assert!(hits[0].source.ends_with("space.html"));
    assert_eq!(hits[0].title, "Space");
    let cats = kb
        .search("cats", &e, &opts(10, SearchMode::Keyword))
        .unwrap();
    assert!(cats.iter().all(|h| !h.source.ends_with("space.html")));
    // Offsets are character positions in the extracted text.
    let cat_text = "Cats purr when content. A cat sleeps sixteen hours a day.";
    let hit = &cats[0];
    assert!(hit.source.ends_with("cats.txt"));
    assert_eq!(hit.start, 0);
    assert!(hit.text.starts_with(cat_text));
    assert_eq!(hit.end - hit.start, hit.text.chars().count() as i64);

    for mode in [SearchMode::Vector, SearchMode::Hybrid] {
        let hits = kb
            .search("Glaciers carve valleys", &e, &opts(2, mode))
            .unwrap();
        assert_eq!(hits[0].text, "Glaciers carve valleys slowly.", "{mode:?}");
        assert!(hits[0].score > 0.0);
    }

    // Unchanged: a no-op that keeps the chunk ids; changed: replaced.
    let before = kb.search("dog", &e, &opts(1, SearchMode::Keyword)).unwrap();
    let s = kb
        .add_paths(std::slice::from_ref(&docs), &e, &mut |_, _, _, _| {})
        .unwrap();
    assert_eq!((s.added, s.replaced, s.unchanged), (0, 0, 4));
    let again = kb.search("dog", &e, &opts(1, SearchMode::Keyword)).unwrap();
    assert_eq!(before[0].chunk_id, again[0].chunk_id);
    write(
        &docs,
        "animals/dogs.md",
        b"# Dogs\n\nPuppies chew everything they find.",
    );
    let dogs = docs.join("animals/dogs.md");
    assert_eq!(
        kb.add_file(&dogs, &e).unwrap(),
        AddOutcome::Replaced { chunks: 1 }
    );
    assert!(
        kb.search("bark strangers", &e, &opts(5, SearchMode::Keyword))
            .unwrap()
            .iter()
            .all(|h| !h.source.ends_with("dogs.md"))
    );
    for mode in [SearchMode::Vector, SearchMode::Keyword, SearchMode::Hybrid] {
        let hits = kb.search("puppies chew", &e, &opts(1, mode)).unwrap();
        assert!(hits[0].text.contains("Puppies chew"), "{mode:?}");
    }
    // The replaced chunk is gone from vector results too (filtered from the cached graph).
    let v = kb
        .search("Dogs bark at strangers", &e, &opts(10, SearchMode::Vector))
        .unwrap();
    assert!(v.iter().all(|h| !h.text.contains("bark")));

    // Remove.
    assert!(kb.remove(&docs.join("animals/cats.txt")).unwrap());
    assert!(!kb.remove(&docs.join("animals/cats.txt")).unwrap());
    let st = kb.stats().unwrap();
    assert_eq!(st.documents, 3);
    assert_eq!(st.model.as_deref(), Some("toy-hash-64"));
    drop(kb);

    // A reopened base answers from the saved (and caught-up) graph.
    let mut kb = KnowledgeBase::open(
        &kb_dir,
        "main",
        &tmp.path().join("kbs"),
        KbOptions::default(),
    )
    .unwrap();
    let hits = kb
        .search("Saturn rings", &e, &opts(5, SearchMode::Vector))
        .unwrap();
    assert!(hits[0].text.contains("Saturn"));
    assert!(hits.iter().all(|h| !h.source.ends_with("cats.txt")));
    assert_eq!(list_knowledge_bases(&tmp.path().join("kbs")), vec!["main"]);
}

#[test]
fn missing_base_lists_existing_and_model_mismatch_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let e = HashEmbedder::default();
    for name in ["alpha", "beta"] {
        let mut kb = KnowledgeBase::create_or_open(&root.join(name), KbOptions::default()).unwrap();
        let f = write(root, &format!("{name}.txt"), b"some words here");
        kb.add_file(&f, &e).unwrap();
    }
    let err = KnowledgeBase::open(&root.join("gamma"), "gamma", root, KbOptions::default())
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(matches!(err, RetrievalError::MissingKnowledgeBase { .. }));
    assert!(
        msg.contains("`gamma`") && msg.contains("alpha, beta"),
        "{msg}"
    );

    let other = HashEmbedder {
        dim: 32,
        ..HashEmbedder::default()
    };
    let mut kb =
        KnowledgeBase::open(&root.join("alpha"), "alpha", root, KbOptions::default()).unwrap();
    let err = kb
        .search("words", &other, &opts(3, SearchMode::Vector))
        .err()
        .unwrap();
    assert!(matches!(err, RetrievalError::ModelMismatch { .. }), "{err}");
    // Keyword search needs no model.
    assert_eq!(
        kb.search("words", &other, &opts(3, SearchMode::Keyword))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_store_of_another_format_version_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("old");
    drop(KnowledgeBase::create_or_open(&dir, KbOptions::default()).unwrap());
    let conn = rusqlite::Connection::open(dir.join("kb.sqlite")).unwrap();
    conn.execute_batch("PRAGMA user_version = 99;").unwrap();
    drop(conn);
    let err = KnowledgeBase::open(&dir, "old", tmp.path(), KbOptions::default())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "knowledge base at {} was written by format v99, this Muse reads v1",
            dir.display()
        )
    );
}

#[test]
fn a_corrupt_graph_cache_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    corpus(&docs);
    let e = HashEmbedder::default();
    let dir = tmp.path().join("kb");
    let mut kb = KnowledgeBase::create_or_open(&dir, KbOptions::default()).unwrap();
    kb.add_paths(&[docs], &e, &mut |_, _, _, _| {}).unwrap();
    kb.sync_index().unwrap();
    drop(kb);
    std::fs::write(dir.join("vectors.hnsw"), b"MUSEHNSW garbage").unwrap();
    let mut kb = KnowledgeBase::open(&dir, "kb", tmp.path(), KbOptions::default()).unwrap();
    let hits = kb
        .search("Volcanoes erupt", &e, &opts(1, SearchMode::Vector))
        .unwrap();
    assert!(hits[0].text.contains("Volcanoes"));
}

/// A one-page PDF with `text` in its text layer (Helvetica, one text object), offsets computed.
fn tiny_pdf(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_string(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        pdf.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

#[test]
fn pdf_text_layer_is_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(
        tmp.path(),
        "doc.pdf",
        &tiny_pdf("Photosynthesis turns light into sugar."),
    );
    let e = HashEmbedder::default();
    let mut kb =
        KnowledgeBase::create_or_open(&tmp.path().join("kb"), KbOptions::default()).unwrap();
    assert_eq!(
        kb.add_file(&p, &e).unwrap(),
        AddOutcome::Added { chunks: 1 }
    );
    let hits = kb
        .search("photosynthesis", &e, &opts(1, SearchMode::Keyword))
        .unwrap();
    assert_eq!(hits[0].text, "Photosynthesis turns light into sugar.");
}

#[test]
fn uploaded_bytes_are_ingested_under_their_source_key() {
    let tmp = tempfile::tempdir().unwrap();
    let e = HashEmbedder::default();
    let mut kb =
        KnowledgeBase::create_or_open(&tmp.path().join("kb"), KbOptions::default()).unwrap();
    let body = b"# Tides\n\nThe moon pulls the oceans into tides twice a day.";
    let first = kb
        .add_bytes("upload:tides.md", Path::new("tides.md"), body, &e)
        .unwrap();
    assert!(
        matches!(first, AddOutcome::Added { chunks } if chunks >= 1),
        "{first:?}"
    );
    let again = kb
        .add_bytes("upload:tides.md", Path::new("tides.md"), body, &e)
        .unwrap();
    assert_eq!(again, AddOutcome::Unchanged);
    let changed = kb
        .add_bytes(
            "upload:tides.md",
            Path::new("tides.md"),
            b"Tides follow the moon.",
            &e,
        )
        .unwrap();
    assert!(
        matches!(changed, AddOutcome::Replaced { .. }),
        "{changed:?}"
    );
    let odd = kb
        .add_bytes("upload:x.exe", Path::new("x.exe"), b"MZ", &e)
        .unwrap();
    assert!(matches!(odd, AddOutcome::Skipped { ref reason } if reason.contains("unsupported")));
    let hits = kb
        .search("moon tides", &e, &opts(3, SearchMode::Keyword))
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].source, "upload:tides.md");
    assert!(hits[0].text.contains("moon"));
    let docs = kb.documents().unwrap();
    assert_eq!(docs.len(), 1, "the replaced upload is one document");
}
