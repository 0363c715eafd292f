//! Table-driven distribution tests for each processor, in the style of llama.cpp's
//! `tests/test-sampling.cpp`: input probabilities + parameter → expected probabilities.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use muse_sample::{Candidates, min_p, temperature, top_k, top_p};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOL: f32 = 1e-5;

/// Runs `f` on the candidates built from `input` probabilities, renormalises, and returns
/// the probability per token id (0 for removed tokens; `None` marks removal explicitly).
fn run(input: &[f32], f: impl FnOnce(&mut Candidates)) -> Vec<Option<f32>> {
    let mut c = Candidates::from_probs(input);
    f(&mut c);
    c.renormalize();
    let mut out = vec![None; input.len()];
    for cand in c.iter() {
        let slot = &mut out[cand.id as usize];
        assert!(slot.is_none(), "duplicate id {}", cand.id);
        *slot = Some(cand.p);
    }
    out
}

/// `expected[i] == 0.0` means token `i` must be removed.
fn assert_dist(label: &str, got: &[Option<f32>], expected: &[f32]) {
    assert_eq!(got.len(), expected.len(), "{label}");
    for (i, (g, &e)) in got.iter().zip(expected).enumerate() {
        match g {
            None => assert_eq!(e, 0.0, "{label}: token {i} removed but expected p={e}"),
            Some(p) => {
                assert!(
                    e > 0.0,
                    "{label}: token {i} kept (p={p}) but expected removed"
                );
                assert!(
                    (p - e).abs() < TOL,
                    "{label}: token {i}: got {p}, expected {e}"
                );
            }
        }
    }
}

const P4: [f32; 4] = [0.1, 0.2, 0.3, 0.4];

#[test]
fn top_k_table() {
    let table: &[(usize, [f32; 4])] = &[
        (1, [0.0, 0.0, 0.0, 1.0]),
        (2, [0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0]),
        (3, [0.0, 2.0 / 9.0, 3.0 / 9.0, 4.0 / 9.0]),
        (4, P4),
        (5, P4),
        (0, P4), // disabled
    ];
    for &(k, expected) in table {
        let got = run(&P4, |c| top_k(c, k));
        assert_dist(&format!("top_k {k}"), &got, &expected);
    }
}

#[test]
fn top_p_table() {
    let table: &[(f32, [f32; 4])] = &[
        (0.01, [0.0, 0.0, 0.0, 1.0]),
        (0.4, [0.0, 0.0, 0.0, 1.0]), // exactly reached by the first token
        (0.5, [0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0]),
        (0.7, [0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0]), // 0.4 + 0.3 reaches 0.7 exactly
        (0.8, [0.0, 2.0 / 9.0, 3.0 / 9.0, 4.0 / 9.0]),
        (0.9, [0.0, 2.0 / 9.0, 3.0 / 9.0, 4.0 / 9.0]),
        (0.95, P4),
        (1.0, P4), // disabled
    ];
    for &(p, expected) in table {
        let got = run(&P4, |c| top_p(c, p));
        assert_dist(&format!("top_p {p}"), &got, &expected);
    }
}

#[test]
fn min_p_table() {
    // threshold = min_p * 0.4
    let table: &[(f32, [f32; 4])] = &[
        (0.0, P4),  // disabled
        (0.24, P4), // 0.096 keeps 0.1
        (0.26, [0.0, 2.0 / 9.0, 3.0 / 9.0, 4.0 / 9.0]),
        (0.49, [0.0, 2.0 / 9.0, 3.0 / 9.0, 4.0 / 9.0]),
        (0.51, [0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0]),
        (0.74, [0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0]),
        (0.76, [0.0, 0.0, 0.0, 1.0]),
        (0.99, [0.0, 0.0, 0.0, 1.0]),
    ];
    for &(m, expected) in table {
        let got = run(&P4, |c| min_p(c, m));
        assert_dist(&format!("min_p {m}"), &got, &expected);
    }
}

/// softmax(logit / t), computed independently in f64.
fn reference_softmax(logits: &[f32], t: f64) -> Vec<f32> {
    let scaled: Vec<f64> = logits.iter().map(|&l| f64::from(l) / t).collect();
    let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = scaled.iter().map(|s| (s - max).exp()).sum();
    scaled
        .iter()
        .map(|s| ((s - max).exp() / z) as f32)
        .collect()
}

#[test]
fn temperature_table() {
    let logits = [1.0f32, 2.0, 3.0, 4.0, -0.5];
    for t in [0.1f32, 0.25, 0.5, 0.8, 1.0, 1.5, 2.0, 10.0, 100.0] {
        let mut c = Candidates::from_logits(&logits);
        temperature(&mut c, t);
        c.softmax();
        let expected = reference_softmax(&logits, f64::from(t));
        let got: Vec<Option<f32>> = c.iter().map(|x| Some(x.p)).collect();
        assert_dist(&format!("temperature {t}"), &got, &expected);
    }
}

#[test]
fn temperature_flattens_and_sharpens() {
    let with_t = |t: f32| {
        run(&P4, |c| {
            temperature(c, t);
            c.softmax();
        })
    };
    let (base, hot, cold) = (with_t(1.0), with_t(2.0), with_t(0.5));
    let top = |v: &[Option<f32>]| v[3].unwrap_or(0.0);
    assert!(top(&cold) > top(&base) && top(&base) > top(&hot));
    // T = 2 on probabilities p gives p^(1/2) normalised.
    let z: f32 = P4.iter().map(|p| p.sqrt()).sum();
    let expected: Vec<f32> = P4.iter().map(|p| p.sqrt() / z).collect();
    let got = run(&P4, |c| {
        temperature(c, 2.0);
        c.softmax();
    });
    assert_dist("T=2 as sqrt", &got, &expected);
}

#[test]
fn temperature_zero_keeps_argmax_lowest_id_on_ties() {
    let mut c = Candidates::from_logits(&[1.0, 3.0, 3.0, 2.0]);
    temperature(&mut c, 0.0);
    let ids: Vec<u32> = c.iter().map(|x| x.id).collect();
    assert_eq!(ids, vec![1]);
}

#[test]
fn chained_processors_table() {
    // (top_k, top_p, min_p) → expected, applied in the Sampler's order.
    let table: &[(usize, f32, f32, [f32; 4])] = &[
        (3, 0.8, 0.0, [0.0, 2.0 / 9.0, 3.0 / 9.0, 4.0 / 9.0]), // 4/9+3/9 < 0.8
        (3, 0.7, 0.0, [0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0]),
        (0, 1.0, 0.51, [0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0]),
        (2, 1.0, 0.76, [0.0, 0.0, 0.0, 1.0]),
        (4, 0.99, 0.26, [0.0, 2.0 / 9.0, 3.0 / 9.0, 4.0 / 9.0]),
        (1, 0.5, 0.5, [0.0, 0.0, 0.0, 1.0]),
    ];
    for &(k, p, m, expected) in table {
        let got = run(&P4, |c| {
            top_k(c, k);
            temperature(c, 1.0);
            c.softmax();
            top_p(c, p);
            min_p(c, m);
        });
        assert_dist(&format!("k={k} p={p} m={m}"), &got, &expected);
    }
}

#[test]
fn processors_always_keep_one_and_handle_empty() {
    let mut empty = Candidates::new();
    top_k(&mut empty, 3);
    top_p(&mut empty, 0.5);
    min_p(&mut empty, 0.5);
    temperature(&mut empty, 0.0);
    empty.softmax();
    empty.renormalize();
    assert!(empty.is_empty());

    let got = run(&[1.0], |c| {
        top_p(c, 0.001);
        min_p(c, 0.999);
        top_k(c, 1);
    });
    assert_dist("single", &got, &[1.0]);
}

/// Large-vocabulary checks against naive full-sort references (exercises the chunked
/// partial sort of `top_p` and `select_nth_unstable` in `top_k`, with ties).
fn random_logits(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Quantised so that ties occur.
    (0..n)
        .map(|_| (rng.random_range(-2000i32..2000) as f32) / 100.0)
        .collect()
}

fn naive_sorted(logits: &[f32]) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..logits.len() as u32).collect();
    ids.sort_by(|&a, &b| {
        logits[b as usize]
            .total_cmp(&logits[a as usize])
            .then(a.cmp(&b))
    });
    ids
}

#[test]
fn top_k_large_vocab_matches_naive() {
    let logits = random_logits(50_000, 7);
    let order = naive_sorted(&logits);
    for k in [1usize, 5, 40, 1000, 49_999] {
        let mut c = Candidates::from_logits(&logits);
        top_k(&mut c, k);
        let mut got: Vec<u32> = c.iter().map(|x| x.id).collect();
        got.sort_unstable();
        let mut want = order[..k].to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "k={k}");
        // The fused fill + top-k keeps the same set.
        let mut fused = Candidates::new();
        fused.fill_top_k_from_logits(&logits, k);
        let mut got: Vec<u32> = fused.iter().map(|x| x.id).collect();
        got.sort_unstable();
        assert_eq!(got, want, "fused, k={k}");
    }
}

#[test]
fn top_k_ties_keep_the_lower_ids() {
    // 10,000 equal logits plus -inf and NaN entries that must never be kept.
    let mut logits = vec![0.5f32; 10_000];
    logits[17] = f32::NEG_INFINITY;
    logits[18] = f32::NAN;
    for k in [3usize, 40] {
        let mut c = Candidates::from_logits(&logits);
        top_k(&mut c, k);
        let mut got: Vec<u32> = c.iter().map(|x| x.id).collect();
        got.sort_unstable();
        let want: Vec<u32> = (0..10_000u32)
            .filter(|&i| i != 17 && i != 18)
            .take(k)
            .collect();
        assert_eq!(got, want, "k={k}");
        let mut fused = Candidates::new();
        fused.fill_top_k_from_logits(&logits, k);
        let mut got: Vec<u32> = fused.iter().map(|x| x.id).collect();
        got.sort_unstable();
        assert_eq!(got, want, "fused, k={k}");
    }
}

#[test]
fn top_p_large_vocab_matches_naive() {
    for (seed, scale) in [(1u64, 1.0f32), (2, 0.05), (3, 5.0)] {
        let logits: Vec<f32> = random_logits(60_000, seed)
            .into_iter()
            .map(|l| l * scale)
            .collect();
        let mut reference = Candidates::from_logits(&logits);
        reference.softmax();
        let p_of: Vec<f32> = {
            let mut v = vec![0.0f32; logits.len()];
            for x in reference.iter() {
                v[x.id as usize] = x.p;
            }
            v
        };
        let order = naive_sorted(&logits);
        for p in [0.1f32, 0.5, 0.9, 0.95, 0.999] {
            let mut cum = 0.0f64;
            let mut n_keep = order.len();
            for (i, &id) in order.iter().enumerate() {
                cum += f64::from(p_of[id as usize]);
                if cum >= f64::from(p) - 1e-6 {
                    n_keep = i + 1;
                    break;
                }
            }
            let mut c = reference.clone();
            top_p(&mut c, p);
            let got: Vec<u32> = c.iter().map(|x| x.id).collect();
            assert_eq!(got, order[..n_keep], "seed={seed} scale={scale} p={p}");
        }
    }
}
