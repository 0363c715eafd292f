//! A batched decode step must give every sequence the logits it would get decoding alone: the
//! batch only shares the weight reads, never any state between sequences.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use muse_models::{GgufFile, KvCache, Llama, LogitsMode};

fn model() -> Option<Llama> {
    let path = muse_test_utils::packaged(muse_test_utils::SMOLLM2)?;
    Some(Llama::load(GgufFile::open(&path).unwrap()).unwrap())
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Three sequences of different lengths, then three batched steps with different tokens each;
/// compared with the same steps run one sequence at a time.
fn check(exact: bool) {
    let Some(mut llama) = model() else { return };
    llama.set_exact_f32(exact);
    let prompts: [&[u32]; 3] = [
        &[1, 504, 3458, 282],
        &[1, 9690, 198],
        &[1, 28, 33, 77, 91, 2020, 17],
    ];
    let steps: [[u32; 3]; 3] = [[42, 17, 905], [7, 7, 7], [3000, 12, 451]];
    let mut logits = Vec::new();

    let mut solo: Vec<KvCache> = Vec::new();
    let mut batched: Vec<KvCache> = Vec::new();
    for p in prompts {
        let mut c = llama.new_cache(4);
        llama
            .forward(p, &mut c, LogitsMode::Last, &mut logits)
            .unwrap();
        batched.push(c.clone());
        solo.push(c);
    }
    let vocab = llama.config().vocab;
    let mut batch = llama.new_batch();
    for step in steps {
        let mut refs: Vec<&mut KvCache> = batched.iter_mut().collect();
        let mut got = Vec::new();
        llama
            .forward_batch(&step, &mut refs, &mut batch, &mut got)
            .unwrap();
        assert_eq!(got.len(), 3 * vocab);
        for (i, c) in solo.iter_mut().enumerate() {
            llama
                .forward(&[step[i]], c, LogitsMode::Last, &mut logits)
                .unwrap();
            let d = max_abs_diff(&got[i * vocab..(i + 1) * vocab], &logits);
            assert!(d < 1e-3, "sequence {i}: batched logits differ by {d}");
            assert_eq!(batched[i].len(), c.len());
        }
    }
}

#[test]
fn batched_decode_matches_one_sequence_at_a_time_quantized() {
    check(false);
}

#[test]
fn batched_decode_matches_one_sequence_at_a_time_exact() {
    check(true);
}

#[test]
fn mismatched_batch_and_bad_token_are_errors() {
    let Some(llama) = model() else { return };
    let mut batch = llama.new_batch();
    let mut a = llama.new_cache(4);
    let mut logits = Vec::new();
    let mut refs = vec![&mut a];
    assert!(
        llama
            .forward_batch(&[1, 2], &mut refs, &mut batch, &mut logits)
            .is_err()
    );
    let err = llama
        .forward_batch(&[u32::MAX], &mut refs, &mut batch, &mut logits)
        .unwrap_err();
    assert!(err.to_string().contains(&u32::MAX.to_string()), "{err}");
    assert_eq!(
        refs[0].len(),
        0,
        "a rejected step leaves the cache untouched"
    );
}
