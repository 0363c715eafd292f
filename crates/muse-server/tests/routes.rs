//! Every route through `Router::oneshot` against the mock backend: status codes, OpenAI's error
//! shape naming the field, SSE framing, limits, authentication, overload and cancellation.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod mock;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use mock::Mock;
use muse_server::{ServerConfig, router};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tower::ServiceExt;

fn app_with(mock: Arc<Mock>, config: ServerConfig) -> Router {
    router(mock, config)
}

fn app() -> (Router, Arc<Mock>) {
    let mock = Arc::new(Mock::default());
    (app_with(mock.clone(), ServerConfig::default()), mock)
}

fn post(uri: &str, body: &Value) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn send_json(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let (s, _, body) = send(app, req).await;
    (s, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn chat(extra: Value) -> Value {
    let mut v = json!({"model": "mock-text", "messages": [{"role": "user", "content": "Hi"}]});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// Assert OpenAI's error shape and return (message, param).
fn error_of(v: &Value) -> (String, Value) {
    let e = &v["error"];
    assert!(e["type"].is_string(), "no error type in {v}");
    assert!(e.get("code").is_some(), "no code in {v}");
    (
        e["message"].as_str().unwrap().to_string(),
        e["param"].clone(),
    )
}

#[tokio::test]
async fn models_lists_the_backend_models() {
    let (app, _) = app();
    let (s, v) = send_json(
        &app,
        Request::get("/v1/models").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "mock-text");
    assert_eq!(v["data"][0]["object"], "model");
    let (s, _) = send_json(
        &app,
        Request::get("/v1/models/mock-embed")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = send_json(
        &app,
        Request::get("/v1/models/nope").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn chat_completion_answers_with_usage_and_maps_sampling() {
    let (app, mock) = app();
    let body = chat(json!({"temperature": 0.5, "top_p": 0.9, "seed": 7, "n": 2,
        "max_completion_tokens": 30, "max_tokens": 10, "stop": "END", "presence_penalty": 1.5}));
    let (s, v) = send_json(&app, post("/v1/chat/completions", &body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"].as_array().unwrap().len(), 2);
    assert_eq!(v["choices"][1]["index"], 1);
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], "Hello world");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9})
    );
    let req = mock.last.lock().unwrap().clone().unwrap();
    assert_eq!(req.max_tokens, 30, "max_completion_tokens wins");
    assert_eq!(req.n, 2);
    assert_eq!(req.stop, vec!["END".to_string()]);
    assert_eq!(req.sampling.temperature, 0.5);
    assert_eq!(req.sampling.top_p, 0.9);
    assert_eq!(req.sampling.seed, 7);
    assert_eq!(req.sampling.presence_penalty, 1.5);
}

#[tokio::test]
async fn content_parts_are_joined_as_text() {
    let (app, mock) = app();
    let body = json!({"model": "mock-text", "messages": [{"role": "user",
        "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]}]});
    let (s, _) = send_json(&app, post("/v1/chat/completions", &body)).await;
    assert_eq!(s, StatusCode::OK);
    let req = mock.last.lock().unwrap().clone().unwrap();
    assert_eq!(
        req.prompt,
        muse_server::backend::Prompt::Chat(vec![muse_server::backend::Message {
            role: "user".into(),
            content: "Hi there".into()
        }])
    );
}

/// The `data:` payloads of an SSE body.
fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|ev| ev.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn streamed_chat_is_sse_ending_with_done() {
    let (app, _) = app();
    let body = chat(json!({"stream": true, "stream_options": {"include_usage": true}}));
    let (s, h, text) = send(&app, post("/v1/chat/completions", &body)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let data = sse_data(&text);
    assert_eq!(data.last().unwrap(), "[DONE]", "{text}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["object"], "chat.completion.chunk");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello world");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 2);
    // Without include_usage there is no usage chunk.
    let (_, _, text) = send(
        &app,
        post("/v1/chat/completions", &chat(json!({"stream": true}))),
    )
    .await;
    assert!(!text.contains("\"usage\""));
    assert!(text.trim_end().ends_with("data: [DONE]"));
}

#[tokio::test]
async fn text_completions_answer_and_stream() {
    let (app, mock) = app();
    let body = json!({"model": "mock-text", "prompt": "Once", "echo": true});
    let (s, v) = send_json(&app, post("/v1/completions", &body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["text"], "OnceHello world");
    assert_eq!(mock.last.lock().unwrap().as_ref().unwrap().max_tokens, 16);
    let body = json!({"model": "mock-text", "prompt": ["Once"], "stream": true});
    let (s, _, text) = send(&app, post("/v1/completions", &body)).await;
    assert_eq!(s, StatusCode::OK);
    let data = sse_data(&text);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let first: Value = serde_json::from_str(&data[0]).unwrap();
    assert_eq!(first["choices"][0]["text"], "Hello");
    let body = json!({"model": "mock-text", "prompt": ["a", "b"]});
    let (s, v) = send_json(&app, post("/v1/completions", &body)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&v).1, "prompt");
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let (app, _) = app();
    let cases = [
        (
            json!({"temperature": 3.0}),
            "temperature",
            "`temperature` must be between 0 and 2",
        ),
        (json!({"top_p": 0.0}), "top_p", "`top_p` must be > 0"),
        (json!({"n": 0}), "n", "`n` must be between 1 and 8"),
        (json!({"n": 100}), "n", "`n` must be between 1 and 8"),
        (
            json!({"max_tokens": 1_000_000}),
            "max_tokens",
            "`max_tokens` must be between 1 and 2048",
        ),
        (
            json!({"max_completion_tokens": 10, "max_tokens": 0}),
            "max_tokens",
            "`max_tokens` must be between 1",
        ),
        (
            json!({"max_completion_tokens": 0}),
            "max_completion_tokens",
            "`max_completion_tokens` must be",
        ),
        (
            json!({"frequency_penalty": -3}),
            "frequency_penalty",
            "`frequency_penalty` must be",
        ),
        (
            json!({"stop": ["a", "b", "c", "d", "e"]}),
            "stop",
            "at most 4",
        ),
        (
            json!({"logprobs": true, "top_logprobs": 21}),
            "top_logprobs",
            "between 0 and 20",
        ),
        (json!({"messages": []}), "messages", "at least one message"),
        (
            json!({"messages": [{"role": "wizard", "content": "x"}]}),
            "messages[0].role",
            "must be one of",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
            "messages[0].content[0]",
            "only `text` parts",
        ),
    ];
    for (extra, param, msg) in cases {
        let (s, v) = send_json(&app, post("/v1/chat/completions", &chat(extra.clone()))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{extra}: {v}");
        let (m, p) = error_of(&v);
        assert_eq!(p, param, "{extra}: {v}");
        assert!(m.contains(msg), "{extra}: `{m}` lacks `{msg}`");
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn malformed_json_wrong_types_and_missing_fields() {
    let (app, _) = app();
    let req = Request::post("/v1/chat/completions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"model\": "))
        .unwrap();
    let (s, v) = send_json(&app, req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(error_of(&v).0.contains("malformed JSON"));

    let (s, v) = send_json(
        &app,
        post("/v1/chat/completions", &chat(json!({"temperature": "hot"}))),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(error_of(&v).1, "temperature");

    let body = chat(json!({"stream": true, "stream_options": [true]}));
    let (s, v) = send_json(&app, post("/v1/chat/completions", &body)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(error_of(&v).1, "stream_options");

    let (s, v) = send_json(
        &app,
        post("/v1/chat/completions", &json!({"model": "mock-text"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_of(&v).0.contains("messages"), "{v}");

    let req = Request::post("/v1/chat/completions")
        .body(Body::from(chat(json!({})).to_string()))
        .unwrap();
    let (s, _) = send_json(&app, req).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn unknown_model_is_404() {
    let (app, _) = app();
    let (s, v) = send_json(
        &app,
        post("/v1/chat/completions", &chat(json!({"model": "gpt-9"}))),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "model_not_found");
    assert_eq!(v["error"]["param"], "model");
    // A text model is not an embedding model.
    let body = json!({"model": "mock-text", "input": "x"});
    let (s, _) = send_json(&app, post("/v1/embeddings", &body)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let mock = Arc::new(Mock::default());
    let app = app_with(
        mock,
        ServerConfig {
            max_body_bytes: 1024,
            ..ServerConfig::default()
        },
    );
    let big = "x".repeat(4096);
    let (s, v) = send_json(
        &app,
        post("/v1/chat/completions", &chat(json!({"user": big}))),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    error_of(&v);
}

#[tokio::test]
async fn api_keys_are_required_on_v1_only() {
    let mock = Arc::new(Mock::default());
    let app = app_with(
        mock,
        ServerConfig {
            api_keys: vec!["sekret".into()],
            ..ServerConfig::default()
        },
    );
    let (s, v) = send_json(
        &app,
        Request::get("/v1/models").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["type"], "authentication_error");
    let req = Request::get("/v1/models")
        .header(header::AUTHORIZATION, "Bearer wrong")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send_json(&app, req).await.0, StatusCode::UNAUTHORIZED);
    let req = Request::get("/v1/models")
        .header(header::AUTHORIZATION, "Bearer sekret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send_json(&app, req).await.0, StatusCode::OK);
    let (s, _) = send_json(&app, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_full_queue_is_429_with_retry_after() {
    let (app, mock) = app();
    mock.full.store(true, Ordering::SeqCst);
    let (s, h, body) = send(&app, post("/v1/chat/completions", &chat(json!({})))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h[header::RETRY_AFTER], "2");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn a_refused_prompt_gets_its_status_even_when_streaming() {
    let (app, _) = app();
    let body = json!({"model": "mock-text", "stream": true,
        "messages": [{"role": "user", "content": "TOO LONG"}]});
    let (s, v) = send_json(&app, post("/v1/chat/completions", &body)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&v).1, "messages");
}

#[tokio::test]
async fn dropping_a_stream_cancels_the_generation() {
    let (app, mock) = app();
    let body = json!({"model": "mock-text", "stream": true,
        "messages": [{"role": "user", "content": "SLOW"}]});
    let res = app
        .oneshot(post("/v1/chat/completions", &body))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut stream = res.into_body().into_data_stream();
    use tokio_stream::StreamExt;
    let first = stream.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("chat.completion.chunk"));
    drop(stream);
    for _ in 0..200 {
        if mock.cancelled.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the backend kept generating after the client went away");
}

#[tokio::test]
async fn embeddings_as_floats_and_base64() {
    let (app, _) = app();
    let body = json!({"model": "mock-embed", "input": ["a", "b"]});
    let (s, v) = send_json(&app, post("/v1/embeddings", &body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][0]["embedding"], json!([1.0, 2.0]));
    assert_eq!(v["usage"]["prompt_tokens"], 6);
    let body = json!({"model": "mock-embed", "input": "a", "encoding_format": "base64"});
    let (_, v) = send_json(&app, post("/v1/embeddings", &body)).await;
    assert_eq!(v["data"][0]["embedding"], "AACAPwAAAEA=");
    for bad in [
        json!({"input": []}),
        json!({"input": ""}),
        json!({"input": "a", "encoding_format": "hex"}),
    ] {
        let mut body = json!({"model": "mock-embed"});
        for (k, x) in bad.as_object().unwrap() {
            body[k] = x.clone();
        }
        let (s, v) = send_json(&app, post("/v1/embeddings", &body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
}

#[tokio::test]
async fn moderations_and_evaluate() {
    let (app, _) = app();
    let body = json!({"input": ["hello", "how to build a bomb"]});
    let (s, v) = send_json(&app, post("/v1/moderations", &body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"][0]["flagged"], false);
    assert_eq!(v["results"][1]["flagged"], true);
    assert_eq!(v["results"][1]["categories"]["weapons"], true);
    let body = json!({"prompt": "Write a haiku", "text": "Leaves fall."});
    let (s, v) = send_json(&app, post("/v1/evaluate", &body)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["overall"], 0.6);
    let (s, v) = send_json(
        &app,
        post("/v1/evaluate", &json!({"prompt": "x", "text": ""})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&v).1, "text");
}

#[tokio::test]
async fn create_runs_the_pipeline_and_validates_its_fields() {
    let (app, _) = app();
    let body = json!({"prompt": "Write a short ad for a running shoe", "best_of": 3, "seed": 7});
    let (s, v) = send_json(&app, post("/v1/create", &body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["content"],
        "made for: Write a short ad for a running shoe"
    );
    assert_eq!(
        (v["best_of"].as_u64(), v["max_rounds"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(v["seed"], 7);
    assert_eq!(v["plan_only"], false);
    for (bad, field) in [
        (json!({"prompt": "   "}), "prompt"),
        (json!({"prompt": "an ad", "best_of": 0}), "best_of"),
        (json!({"prompt": "an ad", "best_of": 9}), "best_of"),
        (json!({"prompt": "an ad", "max_rounds": 99}), "max_rounds"),
        (json!({"prompt": "an ad", "min_score": 1.5}), "min_score"),
        (json!({"prompt": "an ad", "temperature": -1}), "temperature"),
    ] {
        let (s, v) = send_json(&app, post("/v1/create", &bad)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert_eq!(error_of(&v).1, field, "{bad}");
    }
    let (s, _) = send_json(
        &app,
        post("/v1/create", &json!({"prompt": "x", "kb": "docs"})),
    )
    .await;
    assert!(s.is_client_error(), "an unknown field is refused, got {s}");
}

#[tokio::test]
async fn unsupported_and_unknown_routes_are_openai_errors() {
    let (app, _) = app();
    let (s, v) = send_json(
        &app,
        post("/v1/images/generations", &json!({"prompt": "a cat"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "not_available");
    let (s, v) = send_json(&app, post("/v1/kb/search", &json!({"query": "x"}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "not_available");
    let (s, v) = send_json(
        &app,
        Request::get("/v2/nothing").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    error_of(&v);
    let (s, _) = send_json(
        &app,
        Request::get("/v1/chat/completions")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn health_metrics_openapi_and_playground() {
    let (app, _) = app();
    let _ = send(
        &app,
        Request::get("/v1/models").body(Body::empty()).unwrap(),
    )
    .await;
    let _ = send(
        &app,
        post("/v1/chat/completions", &chat(json!({"temperature": 9}))),
    )
    .await;
    let (s, v) = send_json(&app, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, h, text) = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        text.contains("muse_requests_total{route=\"/v1/models\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("muse_errors_total{route=\"/v1/chat/completions\"} 1"),
        "{text}"
    );
    assert!(text.contains("muse_queue_depth 0"));
    let (s, v) = send_json(
        &app,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        v["paths"]["/v1/chat/completions"]["post"].is_object(),
        "{v}"
    );
    let (s, _, html) = send(&app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("/v1/chat/completions") && html.contains("viewport"));
}

#[tokio::test]
async fn integers_may_be_written_as_whole_floats() {
    let (app, mock) = app();
    let body = chat(json!({"max_tokens": 12.0, "n": 2.0, "seed": 5.0}));
    let (s, v) = send_json(&app, post("/v1/chat/completions", &body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let req = mock.last.lock().unwrap().clone().unwrap();
    assert_eq!((req.max_tokens, req.n, req.sampling.seed), (12, 2, 5));
    for bad in [json!({"max_tokens": 1.5}), json!({"n": -1})] {
        let (s, v) = send_json(&app, post("/v1/chat/completions", &chat(bad.clone()))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        let key = bad.as_object().unwrap().keys().next().unwrap().clone();
        assert_eq!(error_of(&v).1, key.as_str());
    }
}

#[tokio::test]
async fn openapi_lists_the_served_models_and_limits() {
    let mock = Arc::new(Mock::default());
    let app = app_with(
        mock,
        ServerConfig {
            max_n: 3,
            ..ServerConfig::default()
        },
    );
    let (_, v) = send_json(
        &app,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    let chat = &v["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]["properties"];
    assert_eq!(chat["model"]["enum"], json!(["mock-text"]));
    assert_eq!(chat["n"]["anyOf"][0]["maximum"], 3);
    let emb = &v["paths"]["/v1/embeddings"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        ["properties"];
    assert_eq!(emb["model"]["enum"], json!(["mock-embed"]));
}

#[tokio::test]
async fn logprobs_are_reported_when_asked() {
    let (app, mock) = app();
    let body = chat(json!({"logprobs": true, "top_logprobs": 2}));
    let (s, v) = send_json(&app, post("/v1/chat/completions", &body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        mock.last.lock().unwrap().as_ref().unwrap().logprobs,
        Some(2)
    );
    let content = &v["choices"][0]["logprobs"]["content"];
    assert_eq!(content[0]["token"], "Hello");
    assert_eq!(content[0]["logprob"], -0.5);
    assert_eq!(content[0]["bytes"], json!([72, 101, 108, 108, 111]));
    assert_eq!(content[0]["top_logprobs"][1]["token"], "Hi");
    // top_logprobs alone implies logprobs.
    let (_, v) = send_json(
        &app,
        post("/v1/chat/completions", &chat(json!({"top_logprobs": 1}))),
    )
    .await;
    assert_eq!(
        v["choices"][0]["logprobs"]["content"][0]["top_logprobs"][0]["token"],
        "Hello"
    );
    // Not asked: null, and the backend is not asked either.
    let (_, v) = send_json(&app, post("/v1/chat/completions", &chat(json!({})))).await;
    assert!(v["choices"][0]["logprobs"].is_null());
    assert_eq!(mock.last.lock().unwrap().as_ref().unwrap().logprobs, None);
    // Streaming carries them in a chunk of their own.
    let body = chat(json!({"logprobs": true, "stream": true}));
    let (_, _, text) = send(&app, post("/v1/chat/completions", &body)).await;
    let lp: Vec<Value> = sse_data(&text)
        .iter()
        .filter(|d| d.contains("\"logprobs\":{"))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(lp.len(), 1, "{text}");
    assert_eq!(
        lp[0]["choices"][0]["logprobs"]["content"][0]["top_logprobs"],
        json!([])
    );
}

#[tokio::test]
async fn a_failure_after_the_stream_started_is_an_error_event_without_done() {
    let (app, _) = app();
    let body = json!({"model": "mock-text", "stream": true,
        "messages": [{"role": "user", "content": "FAIL LATER"}]});
    let (s, _, text) = send(&app, post("/v1/chat/completions", &body)).await;
    assert_eq!(s, StatusCode::OK);
    let data = sse_data(&text);
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["type"], "server_error", "{text}");
    assert!(!text.contains("[DONE]"));
    assert!(text.contains("Hel"));
}

fn image_app() -> (Router, Arc<Mock>) {
    let mock = Arc::new(Mock::default());
    mock.images.store(true, Ordering::SeqCst);
    mock.kb.store(true, Ordering::SeqCst);
    (app_with(mock.clone(), ServerConfig::default()), mock)
}

/// Standard base64 decoding, for checking the server's encoding.
fn unbase64(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let vals: Vec<u32> = s
        .bytes()
        .filter(|&b| b != b'=')
        .map(|b| A.iter().position(|&a| a == b).unwrap() as u32)
        .collect();
    let mut out = Vec::new();
    for c in vals.chunks(4) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, v)| n | (v << (18 - 6 * i)));
        for i in 0..c.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

#[tokio::test]
async fn images_answer_in_openai_shape_as_base64_or_served_urls() {
    let (app, mock) = image_app();
    let (s, v) = send_json(
        &app,
        post(
            "/v1/images/generations",
            &json!({"prompt": "a sneaker", "n": 2, "response_format": "b64_json", "size": "64x32", "seed": 7, "steps": 5, "guidance": 2.5}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["created"].is_u64());
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (i, d) in data.iter().enumerate() {
        assert_eq!(unbase64(d["b64_json"].as_str().unwrap()), mock::mock_png(i));
        assert!(d.get("url").is_none());
    }
    let job = mock.last_image.lock().unwrap().clone().unwrap();
    assert_eq!(job.prompt, "a sneaker");
    assert_eq!(job.size, Some((64, 32)));
    assert_eq!((job.seed, job.steps, job.guidance), (7, Some(5), Some(2.5)));

    // The default is a URL, served by Muse without the API key.
    let (s, v) = send_json(
        &app,
        Request::post("/v1/images/generations")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::HOST, "muse.local:9000")
            .body(Body::from(
                json!({"prompt": "a bag", "model": "dall-e-3"}).to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let url = v["data"][0]["url"].as_str().unwrap();
    let path = url.strip_prefix("http://muse.local:9000").unwrap();
    assert!(
        path.starts_with("/images/") && path.ends_with(".png"),
        "{url}"
    );
    let res = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "image/png");
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(bytes.to_vec(), mock::mock_png(0));
    let (s, v) = send_json(
        &app,
        Request::get("/images/0000.png")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    error_of(&v);
    // Two requests without a seed draw different seeds.
    let seed_of = |app: Router, mock: Arc<Mock>| async move {
        send_json(
            &app,
            post("/v1/images/generations", &json!({"prompt": "a hat"})),
        )
        .await;
        mock.last_image.lock().unwrap().clone().unwrap().seed
    };
    let a = seed_of(app.clone(), mock.clone()).await;
    let b = seed_of(app.clone(), mock.clone()).await;
    assert_ne!(a, b);
}

#[tokio::test]
async fn bad_image_requests_name_their_field() {
    let (app, _) = image_app();
    for (bad, status, field) in [
        (json!({"prompt": " "}), StatusCode::BAD_REQUEST, "prompt"),
        (
            json!({"prompt": "x".repeat(4001)}),
            StatusCode::BAD_REQUEST,
            "prompt",
        ),
        (json!({"prompt": "a", "n": 0}), StatusCode::BAD_REQUEST, "n"),
        (json!({"prompt": "a", "n": 5}), StatusCode::BAD_REQUEST, "n"),
        (
            json!({"prompt": "a", "size": "big"}),
            StatusCode::BAD_REQUEST,
            "size",
        ),
        (
            json!({"prompt": "a", "size": "4096x4096"}),
            StatusCode::BAD_REQUEST,
            "size",
        ),
        (
            json!({"prompt": "a", "size": "0x64"}),
            StatusCode::BAD_REQUEST,
            "size",
        ),
        (
            json!({"prompt": "a", "response_format": "jpeg"}),
            StatusCode::BAD_REQUEST,
            "response_format",
        ),
        (
            json!({"prompt": "a", "output_format": "webp"}),
            StatusCode::BAD_REQUEST,
            "output_format",
        ),
        (
            json!({"prompt": "a", "steps": 0}),
            StatusCode::BAD_REQUEST,
            "steps",
        ),
        (
            json!({"prompt": "a", "guidance": -1}),
            StatusCode::BAD_REQUEST,
            "guidance",
        ),
        (
            json!({"prompt": "a", "model": "sdxl"}),
            StatusCode::NOT_FOUND,
            "model",
        ),
        (
            json!({"prompt": 3}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "prompt",
        ),
    ] {
        let (s, v) = send_json(&app, post("/v1/images/generations", &bad)).await;
        assert_eq!(s, status, "{bad}: {v}");
        assert_eq!(error_of(&v).1, field, "{bad}: {v}");
    }
}

#[tokio::test]
async fn knowledge_base_add_search_and_list() {
    let (app, _) = image_app();
    let (s, v) = send_json(
        &app,
        post(
            "/v1/kb/add",
            &json!({"kb": "notes", "documents": [
                {"name": "tides.md", "text": "The moon raises tides."},
                {"name": "cats.txt", "text": "Cats purr."}
            ]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["kb"], "notes");
    assert_eq!(v["data"][0]["status"], "added");
    assert_eq!(v["data"][1]["name"], "cats.txt");
    let (s, v) = send_json(
        &app,
        post(
            "/v1/kb/search",
            &json!({"kb": "notes", "query": "moon", "k": 3}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["source"], "upload:tides.md");
    let (s, v) = send_json(&app, Request::get("/v1/kb").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"][0]["id"], "notes");
    assert_eq!(v["data"][0]["documents"], 2);

    for (uri, bad, field) in [
        ("/v1/kb/search", json!({"query": ""}), "query"),
        ("/v1/kb/search", json!({"query": "x", "k": 0}), "k"),
        ("/v1/kb/search", json!({"query": "x", "k": 51}), "k"),
        ("/v1/kb/search", json!({"query": "x", "kb": "../etc"}), "kb"),
        (
            "/v1/kb/search",
            json!({"query": "x", "kb": "/tmp/kb"}),
            "kb",
        ),
        (
            "/v1/kb/search",
            json!({"query": "x", "kb": ".hidden"}),
            "kb",
        ),
        ("/v1/kb/add", json!({"documents": []}), "documents"),
        (
            "/v1/kb/add",
            json!({"documents": [{"name": "a/b.txt", "text": "x"}]}),
            "documents[0].name",
        ),
        (
            "/v1/kb/add",
            json!({"documents": [{"name": "ok.txt", "text": "x"}, {"name": "..", "text": "x"}]}),
            "documents[1].name",
        ),
        (
            "/v1/kb/add",
            json!({"documents": [{"name": "a.txt", "text": "  "}]}),
            "documents[0].text",
        ),
    ] {
        let (s, v) = send_json(&app, post(uri, &bad)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri} {bad}: {v}");
        assert_eq!(error_of(&v).1, field, "{uri} {bad}");
    }
    let (s, _) = send_json(
        &app,
        post("/v1/kb/search", &json!({"query": "x", "bogus": 1})),
    )
    .await;
    assert!(s.is_client_error(), "an unknown field is refused");
    let (s, v) = send_json(
        &app,
        post("/v1/kb/search", &json!({"query": "x", "kb": "missing"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(error_of(&v).1, "kb");
    // Optional fields may be null, numbers may be written as floats.
    let (s, v) = send_json(
        &app,
        post(
            "/v1/kb/search",
            &json!({"query": "moon", "kb": "notes", "k": 2.0, "mode": null}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn legacy_completions_report_logprobs_in_their_own_shape() {
    let (app, mock) = app();
    let body = json!({"model": "mock-text", "prompt": "Say hi", "logprobs": 2});
    let (s, v) = send_json(&app, post("/v1/completions", &body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        mock.last.lock().unwrap().as_ref().unwrap().logprobs,
        Some(2)
    );
    let lp = &v["choices"][0]["logprobs"];
    assert_eq!(lp["tokens"], json!(["Hello"]));
    assert_eq!(lp["token_logprobs"], json!([-0.5]));
    assert_eq!(lp["top_logprobs"][0], json!({"Hello": -0.5, "Hi": -1.5}));
    assert_eq!(lp["text_offset"], json!([0]));
    // Not asked: null.
    let body = json!({"model": "mock-text", "prompt": "Say hi"});
    let (_, v) = send_json(&app, post("/v1/completions", &body)).await;
    assert!(v["choices"][0]["logprobs"].is_null(), "{v}");
    // Streamed: a chunk of their own.
    let body = json!({"model": "mock-text", "prompt": "Say hi", "logprobs": 0, "stream": true});
    let (_, _, text) = send(&app, post("/v1/completions", &body)).await;
    let lp: Vec<Value> = sse_data(&text)
        .iter()
        .filter(|d| d.contains("\"logprobs\":{"))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(lp.len(), 1, "{text}");
    assert_eq!(lp[0]["choices"][0]["logprobs"]["tokens"], json!(["Hello"]));
    assert_eq!(lp[0]["choices"][0]["logprobs"]["top_logprobs"], json!([{}]));
    // With echo, offsets count from the start of the prompt.
    let body = json!({"model": "mock-text", "prompt": "Say hi", "logprobs": 1, "echo": true});
    let (_, v) = send_json(&app, post("/v1/completions", &body)).await;
    assert_eq!(
        v["choices"][0]["logprobs"]["text_offset"],
        json!([6]),
        "{v}"
    );
    let bad = json!({"model": "mock-text", "prompt": "x", "logprobs": 6});
    let (s, v) = send_json(&app, post("/v1/completions", &bad)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    assert_eq!(error_of(&v).1, "logprobs");
}
