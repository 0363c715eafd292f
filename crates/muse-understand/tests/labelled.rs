//! Task and constraint accuracy on the committed labelled set (crates/muse-understand/data/
//! labelled_prompts.jsonl: 169 prompts written for Muse, 28% Chinese). Rules alone, no model: the
//! embedding prototypes are tested with the real model in muse-engine.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use muse_understand::{Constraints, Task, understand};

#[derive(serde::Deserialize)]
struct Labelled {
    id: String,
    prompt: String,
    task: Task,
    constraints: Constraints,
}

fn labelled() -> Vec<Labelled> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/labelled_prompts.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn task_and_constraint_accuracy() {
    let set = labelled();
    assert!(set.len() >= 150);
    let n = set.len() as f64;
    let (
        mut task,
        mut all,
        mut length,
        mut tone,
        mut audience,
        mut language,
        mut keywords,
        mut format,
    ) = (0, 0, 0, 0, 0, 0, 0, 0);
    let verbose = std::env::var_os("MUSE_UNDERSTAND_DEBUG").is_some();
    for l in &set {
        let u = understand(&l.prompt, None).unwrap();
        let c = &u.constraints;
        let want = &l.constraints;
        let ok = [
            u.task == l.task,
            c.length == want.length,
            c.tone == want.tone,
            c.audience == want.audience,
            c.language == want.language,
            c.keywords == want.keywords,
            c.format == want.format,
        ];
        task += usize::from(ok[0]);
        length += usize::from(ok[1]);
        tone += usize::from(ok[2]);
        audience += usize::from(ok[3]);
        language += usize::from(ok[4]);
        keywords += usize::from(ok[5]);
        format += usize::from(ok[6]);
        all += usize::from(ok[1..].iter().all(|x| *x));
        if verbose && ok.iter().any(|x| !x) {
            eprintln!(
                "{} {:?}\n   want {:?} {:?}\n   got  {:?} {:?}",
                l.id, l.prompt, l.task, want, u.task, c
            );
        }
    }
    let r = |k: usize| k as f64 / n;
    eprintln!(
        "{} prompts: task {:.3}; constraints all-fields {:.3} (length {:.3}, tone {:.3}, audience {:.3}, language {:.3}, keywords {:.3}, format {:.3})",
        set.len(),
        r(task),
        r(all),
        r(length),
        r(tone),
        r(audience),
        r(language),
        r(keywords),
        r(format)
    );
    assert!(r(task) >= 0.9, "task accuracy {:.3}", r(task));
    assert!(r(all) >= 0.85, "constraint accuracy {:.3}", r(all));
}

#[test]
fn bad_prompts_get_clear_errors() {
    assert!(
        understand("   ", None)
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    assert!(
        understand("https://example.com/page", None)
            .unwrap_err()
            .to_string()
            .contains("URL")
    );
    let e = understand("Write an essay of at most 10 words in 5 paragraphs", None).unwrap_err();
    assert!(e.to_string().contains("contradictory"), "{e}");
    assert!(understand("Write a story in 3 paragraphs, under 300 words", None).is_ok());
}
