//! `create`: the whole pipeline in one call — understand the request, screen it, retrieve
//! (passages handed in by the caller's knowledge base), plan, generate best-of-N with
//! refinement rounds and constraint checks, evaluate, screen the output, and report a trace of
//! every stage.

use crate::error::EngineError;
use crate::generate::GenerateRequest;
use crate::optimize::{OptimizeRequest, Optimized};
use crate::text_model::TextModel;
use muse_quality::vector::cosine;
use muse_quality::{Embedder, Evaluator, Scores};
use muse_safety::{Action, AuditLog, ContentFilter, FilterChain, Stage, Verdict};
use muse_sample::SamplingParams;
use muse_understand::{
    CheckReport, Constraints, PROTOTYPES, Plan, Task, check_constraints, fit_to_length, plan,
    understand,
};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Instant;

/// A retrieved passage and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Passage {
    pub source: String,
    pub text: String,
}

/// What to create.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub prompt: String,
    /// Candidates per round.
    pub best_of: usize,
    /// Rounds at most; a round runs again while the best candidate fails the request's checks
    /// or scores below `min_score`.
    pub max_rounds: usize,
    pub min_score: Option<f64>,
    pub sampling: SamplingParams,
    /// Passages retrieved for the request, with the time retrieval took (`None`: no knowledge
    /// base was used).
    pub retrieved: Option<(Vec<Passage>, f64)>,
    /// Stop after understanding and planning.
    pub plan_only: bool,
}

impl CreateRequest {
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            best_of: 4,
            max_rounds: 3,
            min_score: None,
            sampling: SamplingParams {
                temperature: 0.8,
                repeat_penalty: 1.1,
                ..SamplingParams::default()
            },
            retrieved: None,
            plan_only: false,
        }
    }
}

/// One stage of the trace.
#[derive(Debug, Clone, Serialize)]
pub struct TraceEntry {
    pub stage: &'static str,
    pub ms: f64,
    #[serde(flatten)]
    pub detail: serde_json::Map<String, Value>,
}

/// The result of [`Pipeline::create`].
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub task: Task,
    pub constraints: Constraints,
    pub plan: Plan,
    /// The finished text (`None` with `plan_only`).
    pub content: Option<String>,
    pub scores: Option<Scores>,
    pub checks: Option<CheckReport>,
    pub sources: Vec<String>,
    pub trace: Vec<TraceEntry>,
    /// Things the user should know (an image that could not be made, a language the model
    /// writes poorly).
    pub warnings: Vec<String>,
    /// Where the images of `image` / `text_image` requests were written.
    pub images: Vec<String>,
}

/// Makes the image of an `image` or `text_image` request — a text-to-image model with the output
/// safety filter applied — so the engine needs no diffusion dependency. Returns where the image
/// was written, or `None` when the safety filter withheld it.
pub trait ImageMaker {
    /// # Errors
    /// A message when no image could be made.
    fn make(&self, prompt: &str, seed: u64) -> Result<Option<String>, String>;
}

impl Created {
    /// The JSON of `muse create --json` and `POST /v1/create`: `{"task", "constraints",
    /// "content", "scores", "checks", "trace", "warnings", "sources"?, "images"?}`.
    pub fn to_json(&self) -> Value {
        let mut out = json!({
            "task": self.task,
            "constraints": self.constraints,
            "content": self.content,
            "scores": self.scores.as_ref().map(|s| json!({
                "coherence": s.coherence, "fluency": s.fluency, "relevance": s.relevance,
                "creativity": s.creativity, "overall": s.overall,
            })),
            "checks": self.checks,
            "trace": self.trace,
            "warnings": self.warnings,
        });
        if !self.sources.is_empty() {
            out["sources"] = json!(self.sources);
        }
        if self.task.wants_image() {
            out["images"] = json!(self.images);
        }
        out
    }

    /// The JSON of `--plan-only`: `{"task", "constraints", "plan"}`.
    pub fn plan_json(&self) -> Value {
        json!({"task": self.task, "constraints": self.constraints, "plan": self.plan})
    }
}

/// The models and filters the pipeline runs with.
pub struct Pipeline<'a> {
    pub lm: &'a TextModel,
    pub embedder: &'a dyn Embedder,
    pub evaluator: &'a Evaluator<'a>,
    pub safety: &'a FilterChain,
    /// Where every safety decision is appended (the `[safety] audit_log` of muse.toml).
    pub audit: Option<&'a AuditLog>,
    /// The image model for `image` / `text_image` requests (`None`: they stop at the plan,
    /// or write the text only).
    pub image: Option<&'a dyn ImageMaker>,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn entry(stage: &'static str, ms: f64, detail: Value) -> TraceEntry {
    TraceEntry {
        stage,
        ms,
        detail: match detail {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        },
    }
}

fn verdict_json(v: &Verdict) -> Value {
    json!({"action": v.action.as_str(), "flagged": v.flagged, "categories": v.categories})
}

/// Cosine of `prompt` to each task's nearest prototype request ([`PROTOTYPES`]), in
/// `Task::ALL` order: the embedding half of prompt understanding.
pub fn prototype_similarity(
    embedder: &dyn Embedder,
    prompt: &str,
) -> Result<[f64; 12], EngineError> {
    {
        let mut texts: Vec<&str> = vec![prompt];
        texts.extend(PROTOTYPES.iter().map(|(_, p)| *p));
        let v = embedder.embed(&texts).map_err(|source| {
            EngineError::Quality(muse_quality::QualityError::Backend {
                what: "the embedding model",
                source,
            })
        })?;
        let mut sim = [f64::NEG_INFINITY; 12];
        for ((task, _), e) in PROTOTYPES.iter().zip(&v[1..]) {
            let i = Task::ALL.iter().position(|t| t == task).unwrap_or(0);
            let c = cosine(&v[0], e);
            sim[i] = sim[i].max(c);
        }
        for s in &mut sim {
            if !s.is_finite() {
                *s = 0.0;
            }
        }
        Ok(sim)
    }
}

impl Pipeline<'_> {
    /// Screen `text` and append the decision to the audit log, if there is one.
    fn screen(&self, text: &str, stage: Stage) -> Result<Verdict, EngineError> {
        let v = self.safety.check_text(text, stage)?;
        if let Some(log) = self.audit {
            log.record(stage, "chain", &v, text)?;
        }
        Ok(v)
    }

    /// Run the pipeline.
    pub fn create(&self, req: &CreateRequest) -> Result<Created, EngineError> {
        let mut trace = Vec::new();
        let mut warnings = Vec::new();

        // Understand.
        let t = Instant::now();
        let sim = prototype_similarity(self.embedder, &req.prompt)?;
        let u = understand(&req.prompt, Some(&sim)).map_err(EngineError::Understand)?;
        let mut ranked = u.task_scores.clone();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        trace.push(entry(
            "understand",
            ms(t),
            json!({"task": u.task, "top_tasks": ranked.iter().take(3).map(|(t, s)| json!({"task": t, "score": s})).collect::<Vec<_>>(), "constraints": u.constraints}),
        ));

        // Screen the request before anything is generated from it.
        let t = Instant::now();
        let input = self.screen(&req.prompt, Stage::Input)?;
        let input_ms = ms(t);
        if input.action == Action::Block {
            return Err(EngineError::Refused {
                stage: "input",
                categories: input
                    .categories
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }

        let (passages, retrieve_ms) = req.retrieved.clone().unwrap_or_default();
        let sources: Vec<String> = passages.iter().map(|p| p.source.clone()).collect();
        let texts: Vec<String> = passages.iter().map(|p| p.text.clone()).collect();
        let the_plan = plan(&req.prompt, u.task, &u.constraints, &texts);
        trace.push(entry(
            "retrieve",
            retrieve_ms,
            match &req.retrieved {
                None => json!({"skipped": true, "reason": "no knowledge base given"}),
                Some(_) => json!({"passages": passages.len(), "sources": sources}),
            },
        ));
        if req.plan_only {
            return Ok(Created {
                task: u.task,
                constraints: u.constraints,
                plan: the_plan,
                content: None,
                scores: None,
                checks: None,
                sources,
                trace,
                warnings,
                images: Vec::new(),
            });
        }
        let mut images = Vec::new();
        if u.task.wants_image() {
            match self.image {
                Some(maker) => {
                    let t = Instant::now();
                    let prompt = the_plan
                        .image_prompt
                        .clone()
                        .unwrap_or_else(|| req.prompt.clone());
                    let made = maker
                        .make(&prompt, req.sampling.seed)
                        .map_err(EngineError::Unsupported)?;
                    let withheld = made.is_none();
                    images.extend(made);
                    trace.push(entry(
                        "generate",
                        ms(t),
                        json!({"image_prompt": prompt, "images": images.len(), "withheld_by_safety": withheld}),
                    ));
                    if withheld {
                        warnings.push("the image was withheld by the image safety filter".into());
                    }
                }
                None if u.task == Task::Image => {
                    return Err(EngineError::Unsupported(
                        "image generation needs an image model, which this pipeline was not given; \
                         `--plan-only` shows the image prompt"
                            .into(),
                    ));
                }
                None => warnings.push(
                    "the image part was skipped: no image model is available; the text was written"
                        .into(),
                ),
            }
        }
        if u.task == Task::Image {
            // Nothing to write: the image is the content. Quality scores are for text.
            trace.push(entry(
                "evaluate",
                0.0,
                json!({"skipped": "quality scores are defined for text"}),
            ));
            trace.push(entry(
                "optimize",
                0.0,
                json!({"skipped": "one image per request"}),
            ));
            trace.push(entry(
                "safety",
                0.0,
                json!({"image": "screened by the image filter in generate"}),
            ));
            return Ok(Created {
                task: u.task,
                constraints: u.constraints,
                plan: the_plan,
                content: None,
                scores: None,
                checks: None,
                sources,
                trace,
                warnings,
                images,
            });
        }
        if u.constraints.language != "en" {
            warnings.push(format!(
                "the request asks for language `{}`; the default model writes English best",
                u.constraints.language
            ));
        }

        // Generate, evaluate and optimise: best-of-N rounds until the checks pass.
        let generate = GenerateRequest {
            prompt: the_plan.instruction.clone(),
            system: Some(the_plan.system.clone()),
            raw: false,
            max_tokens: the_plan.max_tokens,
            sampling: req.sampling.clone(),
            stop: Vec::new(),
        };
        let mut opt = OptimizeRequest::new(generate, req.best_of);
        opt.max_rounds = req.max_rounds;
        opt.min_score = req.min_score;
        opt.passages = texts;
        opt.eval_prompt = Some(req.prompt.clone());
        let constraints = u.constraints.clone();
        // Every candidate is screened: a blocked one fails the check and can only be chosen if
        // all are blocked — and then the output screen below refuses it.
        // Their verdicts are kept, so the winner's is not computed twice.
        let screen_failed = std::cell::Cell::new(None);
        let verdicts: std::cell::RefCell<HashMap<String, Verdict>> = Default::default();
        let screen_ms = std::cell::Cell::new(0.0);
        let fit = |text: &str| fit_to_length(text, &constraints);
        let r: Optimized = self
            .lm
            .optimize_checked(&opt, self.evaluator, &fit, &|text| {
                let t = Instant::now();
                let safe = match self.screen(text, Stage::Output) {
                    Ok(v) => {
                        let safe = v.action != Action::Block;
                        verdicts.borrow_mut().insert(text.to_string(), v);
                        safe
                    }
                    Err(e) => {
                        screen_failed.set(Some(e.to_string()));
                        false
                    }
                };
                screen_ms.set(screen_ms.get() + ms(t));
                safe && check_constraints(text, &constraints).passed
            })?;
        // Fail closed: a filter or audit error refuses the request.
        if let Some(e) = screen_failed.take() {
            return Err(EngineError::Refused {
                stage: "output",
                categories: format!("the safety filter failed: {e}"),
            });
        }
        let best = r
            .best()
            .ok_or_else(|| EngineError::Unsupported("no candidate was generated".into()))?
            .clone();
        let generate_ms: f64 = r.rounds.iter().map(|x| x.generate_ms).sum();
        let evaluate_ms: f64 = r.rounds.iter().map(|x| x.evaluate_ms).sum();
        trace.push(entry(
            "generate",
            generate_ms,
            json!({"model": r.model, "candidates": r.candidates.len(), "max_tokens": the_plan.max_tokens,
                   "tokens": r.candidates.iter().map(|c| c.tokens).sum::<usize>()}),
        ));
        trace.push(entry(
            "evaluate",
            evaluate_ms,
            json!({"weights": self.evaluator.weights(), "overall": r.candidates.iter().map(|c| c.scores.overall).collect::<Vec<_>>()}),
        ));
        let checks = check_constraints(&best.text, &u.constraints);
        trace.push(entry(
            "optimize",
            0.0,
            json!({"rounds": r.rounds.len(), "chosen": r.chosen, "chosen_round": best.round,
                   "passed_checks": r.passed_checks, "reached_min_score": r.reached_min_score,
                   "weakest": r.rounds.last().map(|x| x.weakest), "postprocess": best.postprocess,
                   "sampling": r.rounds.iter().map(|x| json!({"temperature": x.sampling.temperature, "repeat_penalty": x.sampling.repeat_penalty, "min_p": x.sampling.min_p})).collect::<Vec<_>>()}),
        ));
        if !checks.passed {
            warnings.push(format!(
                "no candidate met every constraint in {} round(s): length {:?} (asked {:?}), missing keywords {:?}",
                r.rounds.len(),
                checks.measured_length,
                u.constraints.length,
                checks.missing_keywords
            ));
        }

        // Screen the output.
        let output = match verdicts.borrow_mut().remove(&best.text) {
            Some(v) => v,
            None => self.screen(&best.text, Stage::Output)?,
        };
        let blocked_candidates = r.candidates.iter().filter(|c| !c.passed_checks).count();
        trace.push(entry(
            "safety",
            input_ms + screen_ms.get(),
            json!({"input": verdict_json(&input), "output": verdict_json(&output),
                   "candidates_failing_checks_or_screen": blocked_candidates,
                   "audit_log": self.audit.is_some()}),
        ));
        let content = match output.action {
            Action::Block => {
                return Err(EngineError::Refused {
                    stage: "output",
                    categories: output
                        .categories
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            Action::Redact => output.redacted_text.clone().unwrap_or(best.text.clone()),
            Action::Allow => best.text.clone(),
        };
        Ok(Created {
            task: u.task,
            constraints: u.constraints,
            plan: the_plan,
            content: Some(content),
            scores: Some(best.scores),
            checks: Some(checks),
            sources,
            trace,
            warnings,
            images,
        })
    }
}
