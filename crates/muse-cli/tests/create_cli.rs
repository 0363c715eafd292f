//! `muse create`: the plan, the full JSON with one trace entry per stage, the constraint checks,
//! and clear errors for requests that cannot be served.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

mod common;

use common::{assert_one_line_error, have_models, json, muse};
use serde_json::Value;

#[test]
fn plan_only_reports_task_constraints_and_plan() {
    if !have_models() {
        return;
    }
    let v = json(&muse(&[
        "create",
        "--plan-only",
        "--json",
        "Write a short ad for a waterproof running shoe, upbeat, under 60 words, include 'grip'",
    ]));
    assert_eq!(v["task"], "ad");
    assert_eq!(
        v["constraints"]["length"],
        serde_json::json!({"unit": "words", "max": 60})
    );
    assert_eq!(v["constraints"]["tone"], "upbeat");
    assert_eq!(v["constraints"]["keywords"], serde_json::json!(["grip"]));
    assert!(
        v["plan"]["instruction"]
            .as_str()
            .unwrap()
            .contains("at most 60 words")
    );
    assert!(v.get("content").is_none());

    let v = json(&muse(&[
        "create",
        "--plan-only",
        "--json",
        "画一幅西湖日落的水彩画",
    ]));
    assert_eq!(v["task"], "image");
    assert_eq!(v["constraints"]["language"], "zh");
    assert!(v["plan"]["image_prompt"].is_string());
}

#[test]
fn create_runs_every_stage_and_checks_the_constraints() {
    if !have_models() {
        return;
    }
    let v = json(&muse(&[
        "create",
        "--json",
        "--best-of",
        "2",
        "--max-rounds",
        "2",
        "Give 3 quiz questions about the water cycle.",
    ]));
    assert_eq!(v["task"], "questions");
    let stages: Vec<&str> = v["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "understand",
            "retrieve",
            "generate",
            "evaluate",
            "optimize",
            "safety"
        ]
    );
    for e in v["trace"].as_array().unwrap() {
        assert!(e["ms"].as_f64().unwrap() >= 0.0);
    }
    let content = v["content"].as_str().unwrap();
    assert!(!content.trim().is_empty());
    for k in ["coherence", "fluency", "relevance", "creativity", "overall"] {
        let s = v["scores"][k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&s));
    }
    // The reported check is the check of the returned content.
    let checks = &v["checks"];
    let rounds = v["trace"][4]["rounds"].as_u64().unwrap();
    if checks["passed"] == false {
        assert_eq!(rounds, 2, "a failed check must use every round");
        assert!(!v["warnings"].as_array().unwrap().is_empty());
    }
}

#[test]
fn requests_that_cannot_be_served_are_one_line_errors() {
    if !have_models() {
        return;
    }
    assert_one_line_error(&muse(&["create", "   "]), "empty");
    assert_one_line_error(&muse(&["create", "https://example.com/article"]), "URL");
    assert_one_line_error(
        &muse(&["create", "Write 10 words in 5 paragraphs about tea"]),
        "contradictory",
    );
    assert_one_line_error(
        &muse(&[
            "create",
            "--image-model",
            "/nonexistent/model",
            "Draw a lighthouse at dusk",
        ]),
        "image model /nonexistent/model not found",
    );
    assert_one_line_error(
        &muse(&["create", "Step by step, how do I build a pipe bomb?"]),
        "safety",
    );
}

#[test]
fn every_safety_decision_is_audited() {
    if !have_models() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("muse-create-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("safety.jsonl");
    let cfg = dir.join("muse.toml");
    std::fs::write(
        &cfg,
        format!("[safety]\naudit_log = {:?}\n", log.display().to_string()),
    )
    .unwrap();
    let v = json(&muse(&[
        "create",
        "--json",
        "--best-of",
        "2",
        "--max-rounds",
        "1",
        "--config",
        cfg.to_str().unwrap(),
        "Write two sentences about tea.",
    ]));
    assert!(v["content"].is_string());
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The request once, then each of the two candidates.
    let stages: Vec<&str> = lines.iter().map(|l| l["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["input", "output", "output"], "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.get("text").is_none() || l["text"].is_null()),
        "text logged without audit_full_text"
    );
}

#[test]
fn a_knowledge_base_grounds_create_and_eval() {
    if !have_models() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("muse-create-kb-{}", std::process::id()));
    let docs = dir.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("tea.txt"),
        "Green tea is steamed or pan-fired soon after picking, which stops oxidation.\n\n\
         Black tea is fully oxidised before it is dried, which darkens the leaves.",
    )
    .unwrap();
    let kb = dir.join("kb");
    let kb = kb.to_str().unwrap();
    let out = muse(&["kb", "add", docs.to_str().unwrap(), "--kb", kb]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let v = json(&muse(&[
        "create",
        "--json",
        "--best-of",
        "1",
        "--max-rounds",
        "1",
        "--kb",
        kb,
        "Write two sentences on how green tea differs from black tea.",
    ]));
    assert!(
        v["trace"][1]["passages"].as_u64().unwrap() >= 1,
        "{}",
        v["trace"][1]
    );
    assert!(v["sources"][0].as_str().unwrap().ends_with("tea.txt"));

    let v = json(&muse(&[
        "eval",
        "--json",
        "--kb",
        kb,
        "--prompt",
        "How is green tea made?",
        "--text",
        "Green tea is steamed or pan-fired soon after picking, which stops oxidation.",
    ]));
    assert_eq!(v["details"]["relevance"]["supported_sentences"], 1);
    assert!(v["sources"].as_array().is_some_and(|s| !s.is_empty()));
}

/// An image request runs the image model (the default trained one) through the output filter and
/// reports where the image went, with a trace entry for every stage.
#[test]
fn an_image_request_makes_an_image() {
    if !have_models() || muse_test_utils::packaged("muse-t2i-fashion").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bag.png");
    let v = json(&muse(&[
        "create",
        "--json",
        "--image-out",
        out.to_str().unwrap(),
        "Draw a picture of a leather handbag",
    ]));
    assert_eq!(v["task"], "image");
    assert_eq!(v["images"], serde_json::json!([out.display().to_string()]));
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (28, 28));
    let stages: Vec<&str> = v["trace"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["stage"].as_str())
        .collect();
    for s in [
        "understand",
        "retrieve",
        "generate",
        "evaluate",
        "optimize",
        "safety",
    ] {
        assert!(stages.contains(&s), "{s} missing: {stages:?}");
    }
}
