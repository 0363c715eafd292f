//! End-to-end tests of `muse kb` and `muse generate --kb`: JSON shapes, ingest outcomes, the
//! housekeeping commands, errors naming what is missing, and the retrieval quality target on the
//! committed licence evaluation set. Tests that need the packaged models skip visibly without
//! them (and fail under CI).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn muse(args: &[&str], home: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_muse"));
    c.args(args);
    if let Some(h) = home {
        c.env("MUSE_HOME", h);
    }
    c.output().expect("run muse")
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "muse failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn minilm() -> Option<String> {
    muse_test_utils::packaged(muse_test_utils::MINILM).map(|p| p.display().to_string())
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn search_on_a_missing_knowledge_base_names_it_and_lists_the_existing() {
    let home = tempfile::tempdir().unwrap();
    for name in ["alpha", "beta"] {
        let d = home.path().join("kb").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("kb.sqlite"), b"").unwrap();
    }
    let out = muse(
        &["kb", "search", "anything", "--kb", "gamma"],
        Some(home.path()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("`gamma` does not exist") && err.contains("existing: alpha, beta"),
        "{err}"
    );
    // With `/`, --kb is a directory as given.
    let out = muse(&["kb", "stats", "--kb", "./no/such/kb"], Some(home.path()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("./no/such/kb"));
}

#[test]
fn add_search_and_housekeeping() {
    let Some(model) = minilm() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(docs.join("sub")).unwrap();
    std::fs::write(docs.join("tea.md"), "# Tea\n\nGreen tea is steamed or pan-fired soon after picking, which stops oxidation.\n\nBlack tea is fully oxidised before drying.").unwrap();
    std::fs::write(docs.join("sub/bikes.html"), "<html><head><title>Bicycles</title><style>body{}</style></head><body><p>A derailleur moves the chain between sprockets to change gear.</p><script>alert('x')</script></body></html>").unwrap();
    std::fs::write(
        docs.join("sub/notes.jsonl"),
        "{\"body\": \"Sourdough needs a lively starter.\"}\n",
    )
    .unwrap();
    std::fs::write(docs.join("empty.txt"), "").unwrap();
    std::fs::write(docs.join("blob.txt"), b"\x00\x01\x02").unwrap();
    let kb = tmp.path().join("kbs/test");
    let kb_s = kb.to_str().unwrap();
    let docs_s = docs.to_str().unwrap();

    let add = ok_json(&muse(
        &[
            "kb",
            "add",
            docs_s,
            "--kb",
            kb_s,
            "--model",
            &model,
            "--json-field",
            "body",
            "--json",
        ],
        None,
    ));
    assert_eq!(add["added"], 3, "{add}");
    assert_eq!(add["unchanged"], 0);
    let skipped = add["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{add}");
    assert!(
        skipped
            .iter()
            .any(|s| s["path"].as_str().unwrap().ends_with("empty.txt")
                && s["reason"] == "empty file")
    );
    assert!(
        skipped
            .iter()
            .any(|s| s["path"].as_str().unwrap().ends_with("blob.txt")
                && s["reason"].as_str().unwrap().contains("binary"))
    );
    assert!(add["chunks"].as_u64().unwrap() >= 3);

    for mode in ["hybrid", "vector", "keyword"] {
        let r = ok_json(&muse(
            &[
                "kb",
                "search",
                "how do gears change on a bike",
                "--kb",
                kb_s,
                "--model",
                &model,
                "-k",
                "2",
                "--mode",
                mode,
                "--json",
            ],
            None,
        ));
        let results = r["results"].as_array().unwrap();
        assert!(!results.is_empty(), "{mode}: {r}");
        let top = &results[0];
        let keys: Vec<&str> = top
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for k in ["source", "chunk_id", "start", "end", "text", "score"] {
            assert!(keys.contains(&k), "{mode}: {k} missing in {top}");
        }
        assert!(
            top["source"].as_str().unwrap().ends_with("bikes.html"),
            "{mode}: {r}"
        );
        assert!(top["text"].as_str().unwrap().contains("derailleur"));
        assert!(!top["text"].as_str().unwrap().contains("alert"));
        let (s, e) = (top["start"].as_i64().unwrap(), top["end"].as_i64().unwrap());
        assert_eq!(e - s, top["text"].as_str().unwrap().chars().count() as i64);
    }

    // Re-adding is a no-op; a changed file replaces its chunks.
    let again = ok_json(&muse(
        &[
            "kb",
            "add",
            docs_s,
            "--kb",
            kb_s,
            "--model",
            &model,
            "--json-field",
            "body",
            "--json",
        ],
        None,
    ));
    assert_eq!(
        (again["added"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(3)),
        "{again}"
    );
    std::fs::write(
        docs.join("tea.md"),
        "# Tea\n\nOolong tea is partly oxidised.",
    )
    .unwrap();
    let changed = ok_json(&muse(
        &[
            "kb",
            "add",
            docs_s,
            "--kb",
            kb_s,
            "--model",
            &model,
            "--json-field",
            "body",
            "--json",
        ],
        None,
    ));
    assert_eq!(changed["replaced"], 1, "{changed}");
    let r = ok_json(&muse(
        &[
            "kb",
            "search",
            "steamed green tea",
            "--kb",
            kb_s,
            "--model",
            &model,
            "--mode",
            "keyword",
            "--json",
        ],
        None,
    ));
    assert!(
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| !h["text"].as_str().unwrap().contains("steamed"))
    );

    let stats = ok_json(&muse(&["kb", "stats", "--kb", kb_s, "--json"], None));
    assert_eq!(stats["documents"], 3);
    assert_eq!(stats["model"], "all-MiniLM-L6-v2");
    let out = muse(
        &[
            "kb",
            "remove",
            docs.join("tea.md").to_str().unwrap(),
            "--kb",
            kb_s,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = ok_json(&muse(&["kb", "list", "--kb", kb_s, "--json"], None));
    let docs_listed = list["documents"].as_array().unwrap();
    assert_eq!(docs_listed.len(), 2);
    assert!(
        docs_listed
            .iter()
            .all(|d| !d["path"].as_str().unwrap().ends_with("tea.md"))
    );

    // Grounded generation names its sources.
    if muse_test_utils::packaged(muse_test_utils::SMOLLM2).is_some() {
        let g = ok_json(&muse(
            &[
                "generate",
                "--kb",
                kb_s,
                "--json",
                "--max-tokens",
                "8",
                "--temperature",
                "0",
                "What does a derailleur do?",
            ],
            None,
        ));
        let sources = g["sources"].as_array().unwrap();
        assert!(!sources.is_empty(), "{g}");
        assert!(
            sources[0]["source"]
                .as_str()
                .unwrap()
                .ends_with("bikes.html"),
            "{g}"
        );
        assert!(g["text"].is_string());
    }

    let out = muse(&["kb", "drop", "--kb", kb_s], None);
    assert!(out.status.success());
    assert!(!kb.join("kb.sqlite").exists());
    let out = muse(&["kb", "search", "x", "--kb", kb_s], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

/// The quality target: hybrid recall@5 ≥ 0.9 on the committed licence question set.
#[test]
fn eval_set_meets_the_recall_target() {
    let Some(model) = minilm() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = repo().join("data/kb-eval");
    let kb = tmp.path().join("eval");
    let out = muse(
        &[
            "kb",
            "eval",
            "--questions",
            data.join("questions.jsonl").to_str().unwrap(),
            "--corpus",
            data.join("corpus").to_str().unwrap(),
            "--kb",
            kb.to_str().unwrap(),
            "--model",
            &model,
            "--json",
        ],
        None,
    );
    let v = ok_json(&out);
    assert!(v["questions"].as_u64().unwrap() >= 50);
    let metric = |mode: &str, m: &str| -> f64 {
        v["modes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["mode"] == mode)
            .unwrap()["metrics"][m]
            .as_f64()
            .unwrap()
    };
    assert!(metric("hybrid", "recall_at_5") >= 0.9, "{v}");
    // The parts are sane on their own too.
    assert!(metric("vector", "recall_at_5") >= 0.85, "{v}");
    assert!(metric("keyword", "recall_at_5") >= 0.75, "{v}");
    assert!(metric("hybrid", "mrr") > metric("keyword", "mrr"), "{v}");
}
