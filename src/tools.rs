//! The tools offered to the model on the action tier, in Ollama's `tools` format (JSON schema per
//! function). Executing them is the actions issue's work; this module only describes them, and
//! renders the same descriptions as text for models without native tool support.

use serde_json::{json, Value};

fn function(name: &str, description: &str, properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": { "type": "object", "properties": properties, "required": required }
        }
    })
}

/// Every tool, in Ollama's `tools` array form.
pub fn definitions() -> Vec<Value> {
    let list = json!({"type": "string", "description": "list name, e.g. shopping"});
    vec![
        function(
            "add_to_list",
            "Add items to a named list.",
            json!({"list": list, "items": {"type": "array", "items": {"type": "string"}}}),
            &["list", "items"],
        ),
        function(
            "remove_from_list",
            "Remove items from a named list.",
            json!({"list": list, "items": {"type": "array", "items": {"type": "string"}}}),
            &["list", "items"],
        ),
        function(
            "show_list",
            "Read out the items on a list.",
            json!({"list": list}),
            &["list"],
        ),
        function(
            "clear_list",
            "Remove every item from a list.",
            json!({"list": list}),
            &["list"],
        ),
        function(
            "set_timer",
            "Start a countdown timer.",
            json!({"seconds": {"type": "integer"}, "label": {"type": "string"}}),
            &["seconds"],
        ),
        function(
            "cancel_timer",
            "Cancel a running timer by label, or the only one.",
            json!({"label": {"type": "string"}}),
            &[],
        ),
        function(
            "list_timers",
            "Say which timers are running and the time left.",
            json!({}),
            &[],
        ),
        function(
            "set_reminder",
            "Remind the user of something at a time.",
            json!({"text": {"type": "string"}, "when": {"type": "string", "description": "ISO 8601 local time"}}),
            &["text", "when"],
        ),
        function(
            "remember_fact",
            "Remember a fact about the user.",
            json!({"key": {"type": "string"}, "value": {"type": "string"}}),
            &["key", "value"],
        ),
        function(
            "recall_fact",
            "Look up a remembered fact.",
            json!({"key": {"type": "string"}}),
            &["key"],
        ),
        function(
            "current_time",
            "The current local date and time.",
            json!({}),
            &[],
        ),
    ]
}

/// The same tools as text, for a model that rejects the `tools` field.
pub fn as_text() -> String {
    let mut s = String::from("\nTools you can ask for (reply with one line of JSON: {\"tool\": NAME, \"arguments\": {...}}):\n");
    for d in definitions() {
        let f = &d["function"];
        s.push_str(&format!(
            "- {}({}): {}\n",
            f["name"].as_str().unwrap_or_default(),
            f["parameters"]["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
            f["description"].as_str().unwrap_or_default()
        ));
    }
    s
}
