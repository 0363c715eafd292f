//! Full sampling loops of every scheduler against diffusers 0.42.1 with an analytic model and
//! the same injected noise (scripts/fixtures/diffusion_schedulers.py).

use std::path::Path;

use candle_core::{Device, Tensor};
use muse_diffusion::schedulers::{
    FixedNoise, Scheduler, SchedulerConfig, SchedulerKind, ddim::DdimScheduler,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Loop {
    name: String,
    config: serde_json::Value,
    steps: usize,
    eta: f64,
    #[serde(default)]
    use_clipped_model_output: bool,
    timesteps: Vec<f64>,
    init_noise_sigma: f64,
    initial: Vec<f32>,
    noise: Vec<Vec<f32>>,
    #[serde(rename = "final")]
    final_: Vec<f32>,
}

#[derive(Deserialize)]
struct AddNoise {
    name: String,
    config: serde_json::Value,
    timesteps: Vec<usize>,
    original: Vec<f32>,
    noise: Vec<f32>,
    noisy: Vec<f32>,
}

#[derive(Deserialize)]
struct Fixture {
    shape: Vec<usize>,
    loops: Vec<Loop>,
    add_noise: Vec<AddNoise>,
}

fn fixture() -> anyhow::Result<Fixture> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schedulers/loops.json");
    Ok(serde_json::from_str(&std::fs::read_to_string(p)?)?)
}

/// The analytic model of the fixture: eps(x, t) = x * t / (t + 1) + 0.1 * sin(x).
fn model(x: &Tensor, t: f64) -> candle_core::Result<Tensor> {
    let t = t as f32 as f64;
    ((x * t)? / (t + 1.0))? + (x.sin()? * 0.1)?
}

fn build(
    cfg: &serde_json::Value,
    eta: f64,
    clipped_eps: bool,
) -> anyhow::Result<Box<dyn Scheduler>> {
    let sc: SchedulerConfig = serde_json::from_value(cfg.clone())?;
    let class = sc.class_name.clone().unwrap_or_default();
    let kind = SchedulerKind::from_class_name(&class)
        .ok_or_else(|| anyhow::anyhow!("unknown class {class}"))?;
    Ok(if kind == SchedulerKind::Ddim {
        Box::new(DdimScheduler::new(&sc, eta)?.with_clipped_model_output(clipped_eps))
    } else {
        anyhow::ensure!(!clipped_eps, "use_clipped_model_output is a DDIM option");
        kind.build(&sc)?
    })
}

fn max_err(a: &[f32], b: &[f32]) -> f32 {
    // Absolute for |x| <= 1, relative above (two loops blow up to |x| ~ 300 by design).
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f32::max)
}

#[test]
fn sampling_loops_match_diffusers() -> anyhow::Result<()> {
    let fx = fixture()?;
    let mut failures = Vec::new();
    for case in &fx.loops {
        let got = run_loop(&fx, case, case.use_clipped_model_output)?;
        let err = max_err(&got, &case.final_);
        eprintln!("{:32} max err {err:.2e}", case.name);
        if err > 1e-5 {
            failures.push(format!("{}: {err:e}", case.name));
        }
        if case.use_clipped_model_output {
            // The case must exercise the option: the plain update ends elsewhere.
            let plain = run_loop(&fx, case, false)?;
            let apart = max_err(&plain, &case.final_);
            assert!(
                apart > 1e-3,
                "{}: clipping never mattered ({apart:e})",
                case.name
            );
        }
    }
    assert!(failures.is_empty(), "mismatches: {failures:?}");
    Ok(())
}

/// Runs one fixture loop and returns the final sample.
fn run_loop(fx: &Fixture, case: &Loop, clipped_eps: bool) -> anyhow::Result<Vec<f32>> {
    let dev = Device::Cpu;
    let mut s = build(&case.config, case.eta, clipped_eps)?;
    s.set_timesteps(case.steps)?;
    assert_eq!(
        s.timesteps(),
        &case.timesteps[..],
        "{}: timesteps",
        case.name
    );
    let sigma_err = (s.init_noise_sigma() - case.init_noise_sigma).abs() / case.init_noise_sigma;
    assert!(
        sigma_err < 1e-6,
        "{}: init_noise_sigma {} vs {}",
        case.name,
        s.init_noise_sigma(),
        case.init_noise_sigma
    );
    let noises = case
        .noise
        .iter()
        .map(|n| Tensor::from_vec(n.clone(), fx.shape.as_slice(), &dev))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let mut noise = FixedNoise::new(noises);
    let x0 = Tensor::from_vec(case.initial.clone(), fx.shape.as_slice(), &dev)?;
    let mut x = (x0 * s.init_noise_sigma())?;
    for t in s.timesteps().to_vec() {
        let inp = s.scale_model_input(&x, t)?;
        let eps = model(&inp, t)?;
        x = s.step(&eps, t, &x, &mut noise)?;
    }
    assert_eq!(noise.remaining(), 0, "{}: noise draws", case.name);
    Ok(x.flatten_all()?.to_vec1()?)
}

#[test]
fn add_noise_matches_diffusers() -> anyhow::Result<()> {
    let fx = fixture()?;
    let dev = Device::Cpu;
    for case in &fx.add_noise {
        let s = build(&case.config, 0.0, false)?;
        let o = Tensor::from_vec(case.original.clone(), fx.shape.as_slice(), &dev)?;
        let n = Tensor::from_vec(case.noise.clone(), fx.shape.as_slice(), &dev)?;
        let got: Vec<f32> = s
            .add_noise(&o, &n, &case.timesteps)?
            .flatten_all()?
            .to_vec1()?;
        let err = max_err(&got, &case.noisy);
        eprintln!("{:32} max err {err:.2e}", case.name);
        assert!(err <= 1e-6, "{}: {err}", case.name);
    }
    Ok(())
}

#[test]
fn bad_steps_and_names_are_errors() -> anyhow::Result<()> {
    for kind in SchedulerKind::NAMES {
        let mut s = SchedulerKind::from_name(kind)?.build(&SchedulerConfig::default())?;
        let e0 = s
            .set_timesteps(0)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e0.contains("between 1 and num_train_timesteps (1000)"),
            "{kind}: {e0}"
        );
        assert!(s.set_timesteps(1001).is_err());
        assert!(s.set_timesteps(1000).is_ok());
    }
    let e = SchedulerKind::from_name("pndm")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        e,
        "unsupported scheduler `pndm`; supported: ddpm, ddim, euler-a, dpmpp-2m"
    );
    let bad: SchedulerConfig = serde_json::from_str(r#"{"beta_schedule": "sigmoid"}"#)?;
    let e = SchedulerKind::Ddim
        .build(&bad)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("unsupported beta_schedule `sigmoid`"), "{e}");
    Ok(())
}
