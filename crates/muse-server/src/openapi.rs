//! The OpenAPI document served at `/openapi.json`: the hand-written `openapi.json`, with the
//! request limits of the running configuration written into its schemas so that contract
//! testers generate the values the server accepts.

use crate::backend::{ModelCard, ModelKind};
use crate::config::ServerConfig;
use serde_json::Value;

fn ids(models: &[ModelCard], kind: ModelKind) -> Value {
    Value::from(
        models
            .iter()
            .filter(|m| m.kind == kind)
            .map(|m| m.id.clone())
            .collect::<Vec<_>>(),
    )
}

/// Sets `key` of the schema of property `field`; optional fields are `anyOf: [schema, null]`.
fn set(props: &mut Value, field: &str, key: &str, value: Value) {
    if let Some(f) = props.get_mut(field) {
        match f.pointer_mut("/anyOf/0") {
            Some(inner) => inner[key] = value,
            None => f[key] = value,
        }
    }
}

/// The document for `config`.
/// `models` are the served models: they become the `model` field's allowed values.
pub fn document(config: &ServerConfig, models: &[ModelCard]) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(crate::OPENAPI_JSON) else {
        return crate::OPENAPI_JSON.to_string();
    };
    for path in ["/v1/chat/completions", "/v1/completions"] {
        let pointer = format!(
            "/paths/{}/post/requestBody/content/application~1json/schema/properties",
            path.replace('/', "~1")
        );
        if let Some(props) = doc.pointer_mut(&pointer) {
            props["model"]["enum"] = ids(models, ModelKind::Text);
            for (field, max) in [
                ("n", config.max_n),
                ("max_tokens", config.max_tokens),
                ("max_completion_tokens", config.max_tokens),
            ] {
                set(props, field, "maximum", Value::from(max));
            }
        }
    }
    if let Some(p) = doc.pointer_mut(
        "/paths/~1v1~1embeddings/post/requestBody/content/application~1json/schema/properties/model",
    ) {
        p["enum"] = ids(models, ModelKind::Embedding);
    }
    for path in ["/v1/embeddings", "/v1/moderations"] {
        let pointer = format!(
            "/paths/{}/post/requestBody/content/application~1json/schema/properties/input/oneOf/1/maxItems",
            path.replace('/', "~1")
        );
        if let Some(v) = doc.pointer_mut(&pointer) {
            *v = Value::from(config.max_inputs);
        }
    }
    let images = "/paths/~1v1~1images~1generations/post/requestBody/content/application~1json/schema/properties";
    if let Some(props) = doc.pointer_mut(images) {
        set(props, "n", "maximum", Value::from(config.max_images));
        set(
            props,
            "steps",
            "maximum",
            Value::from(config.max_image_steps),
        );
        let mut names = ids(models, ModelKind::Image);
        if let Value::Array(a) = &mut names {
            a.extend(["dall-e-2", "dall-e-3", "gpt-image-1"].map(Value::from));
        }
        set(props, "model", "enum", names);
    }
    let kb_add = "/paths/~1v1~1kb~1add/post/requestBody/content/application~1json/schema/properties/documents/maxItems";
    if let Some(v) = doc.pointer_mut(kb_add) {
        *v = Value::from(config.max_inputs);
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_configuration() {
        let c = ServerConfig {
            max_n: 3,
            max_tokens: 77,
            ..ServerConfig::default()
        };
        let models = [ModelCard {
            id: "m".into(),
            kind: ModelKind::Text,
        }];
        let doc: Value = serde_json::from_str(&document(&c, &models)).unwrap_or_default();
        let props = &doc["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["properties"];
        assert_eq!(props["n"]["anyOf"][0]["maximum"], 3);
        assert_eq!(props["max_tokens"]["anyOf"][0]["maximum"], 77);
        assert_eq!(props["max_completion_tokens"]["anyOf"][0]["maximum"], 77);
        assert_eq!(props["model"]["enum"], serde_json::json!(["m"]));
    }
}
