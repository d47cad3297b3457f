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
            "Remind the user of something at a time, once or on days of the week.",
            json!({
                "text": {"type": "string"},
                "when": {"type": "string", "description": "ISO 8601 local time (the first time)"},
                "repeat": {"type": "string", "description": "once (default), daily, weekdays, weekends, or weekday names: monday,friday"}
            }),
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
            "cancel_reminder",
            "Cancel pending reminders whose text mentions `about` (all of them without it).",
            json!({"about": {"type": "string"}}),
            &[],
        ),
        function(
            "set_alarm",
            "Set an alarm (it rings with a sound until the user says stop).",
            json!({
                "when": {"type": "string", "description": "the first ringing, ISO 8601 local time"},
                "repeat": {"type": "string", "description": "once (default), daily, weekdays, weekends, or weekday names: monday,friday"},
                "label": {"type": "string"}
            }),
            &["when"],
        ),
        function(
            "list_alarms",
            "Say which alarms are set.",
            json!({}),
            &[],
        ),
        function(
            "cancel_alarm",
            "Cancel alarms: the one at `time` (HH:MM, 24-hour) or with `label`, or all with all=true.",
            json!({"time": {"type": "string"}, "label": {"type": "string"}, "all": {"type": "boolean"}}),
            &[],
        ),
        function(
            "create_event",
            "Add an event to the user's calendar.",
            json!({
                "title": {"type": "string"},
                "start": {"type": "string", "description": "ISO 8601 local time, or a date (YYYY-MM-DD) for a whole day; the first one if it repeats"},
                "repeat": {"type": "string", "enum": ["once", "daily", "weekdays", "weekends", "weekly", "monthly", "yearly"]}
            }),
            &["title", "start"],
        ),
        function(
            "list_events",
            "Say what is on the calendar: from/to dates (YYYY-MM-DD), or without them the next event; `about`: words in its title.",
            json!({"from": {"type": "string"}, "to": {"type": "string"}, "about": {"type": "string"}}),
            &[],
        ),
        function(
            "delete_event",
            "Delete calendar events: those whose title holds `about`, on `date` (YYYY-MM-DD); all=true for every one that fits.",
            json!({"about": {"type": "string"}, "date": {"type": "string"}, "all": {"type": "boolean"}}),
            &[],
        ),
        function(
            "move_event",
            "Move the event whose title holds `about` (on `date`) to start at `to` (ISO 8601 local time).",
            json!({"about": {"type": "string"}, "date": {"type": "string"}, "to": {"type": "string"}}),
            &["to"],
        ),
        function(
            "adjust_timer",
            "Add time to a running timer, or take time off it (negative seconds).",
            json!({"seconds": {"type": "integer"}, "label": {"type": "string"}}),
            &["seconds"],
        ),
        function(
            "pause_timer",
            "Pause a running timer (by label, or the only one); it keeps the time it had left.",
            json!({"label": {"type": "string"}}),
            &[],
        ),
        function(
            "resume_timer",
            "Start a paused timer again (by label, or the only one).",
            json!({"label": {"type": "string"}}),
            &[],
        ),
        function(
            "current_time",
            "The current date and time: here, or in `place` (a city, state or time zone).",
            json!({"place": {"type": "string"}}),
            &[],
        ),
        function(
            "convert_time",
            "A clock time (HH:MM, 24-hour; now without it) in place `from` as the time in place `to`.",
            json!({"time": {"type": "string"}, "from": {"type": "string"}, "to": {"type": "string"}}),
            &["from", "to"],
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

/// What the text-protocol filter lets through.
#[derive(Debug, Clone, PartialEq)]
pub enum Filtered {
    /// Text to show and speak.
    Text(String),
    /// A tool call written as JSON in the text (`{"tool": NAME, "arguments": {...}}`, or `"name"`).
    Call { name: String, arguments: Value },
}

/// Removes tool calls written as JSON from a streamed reply, so raw JSON is never printed or
/// spoken. Push-style: text before a `{` passes at once; from a `{` on, text is held until it is
/// clearly not a tool call (released) or the object closes (parsed into a call; dropped if broken).
#[derive(Debug, Default)]
pub struct ToolTextFilter {
    held: String,
}

/// Characters after which a held `{...` must show it is a tool call.
const DECIDE_AFTER: usize = 16;
/// A held object longer than this is given up on (dropped, never spoken).
const MAX_HELD: usize = 8192;

fn is_tool_start(s: &str) -> Option<bool> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let probes = ["{\"tool\"", "{\"name\"", "{\"function\""];
    if probes.iter().any(|p| compact.starts_with(p)) {
        Some(true)
    } else if probes.iter().any(|p| p.starts_with(&compact)) && compact.len() < DECIDE_AFTER {
        None
    } else {
        Some(false)
    }
}

/// Byte length of the balanced JSON object at the start of `s`, if it has closed.
fn object_end(s: &str) -> Option<usize> {
    let (mut depth, mut in_str, mut escaped) = (0i32, false, false);
    for (i, c) in s.char_indices() {
        match (in_str, c) {
            (true, '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (true, '"') if !escaped => in_str = false,
            (false, '"') => in_str = true,
            (false, '{') => depth += 1,
            (false, '}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        escaped = false;
    }
    None
}

impl ToolTextFilter {
    pub fn push(&mut self, text: &str) -> Vec<Filtered> {
        let mut out = Vec::new();
        let mut rest = text.to_string();
        loop {
            if self.held.is_empty() {
                match rest.find('{') {
                    None => {
                        if !rest.is_empty() {
                            out.push(Filtered::Text(rest));
                        }
                        return out;
                    }
                    Some(i) => {
                        if i > 0 {
                            out.push(Filtered::Text(rest[..i].to_string()));
                        }
                        self.held = rest[i..].to_string();
                        rest.clear();
                    }
                }
            } else {
                self.held.push_str(&rest);
                rest.clear();
            }
            match is_tool_start(&self.held) {
                None => return out, // wait for more
                Some(false) => {
                    // Not a tool call: release the brace and look again after it.
                    let held = std::mem::take(&mut self.held);
                    out.push(Filtered::Text("{".into()));
                    rest = held[1..].to_string();
                    if rest.is_empty() {
                        return out;
                    }
                }
                Some(true) => match object_end(&self.held) {
                    None if self.held.len() > MAX_HELD => {
                        tracing::warn!("dropping an unterminated tool call from the reply");
                        self.held.clear();
                        return out;
                    }
                    None => return out,
                    Some(end) => {
                        let held = std::mem::take(&mut self.held);
                        out.extend(parse_call(&held[..end]));
                        rest = held[end..].to_string();
                    }
                },
            }
        }
    }

    /// End of the reply: held text that never became a call is dropped if it looked like one.
    pub fn finish(&mut self) -> Vec<Filtered> {
        let held = std::mem::take(&mut self.held);
        match is_tool_start(&held) {
            Some(false) => vec![Filtered::Text(held)],
            _ => Vec::new(),
        }
    }
}

fn parse_call(json: &str) -> Option<Filtered> {
    let v: Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("dropping a malformed tool call from the reply: {e}");
            return None;
        }
    };
    let f = v.get("function").unwrap_or(&v);
    let name = f
        .get("tool")
        .or_else(|| f.get("name"))
        .and_then(Value::as_str)?
        .to_string();
    let arguments = f
        .get("arguments")
        .or_else(|| f.get("parameters"))
        .cloned()
        .unwrap_or(Value::Null);
    Some(Filtered::Call { name, arguments })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tokens: &[&str]) -> (String, Vec<String>) {
        let mut f = ToolTextFilter::default();
        let mut text = String::new();
        let mut calls = Vec::new();
        let mut pieces: Vec<Filtered> = tokens.iter().flat_map(|t| f.push(t)).collect();
        pieces.extend(f.finish());
        for item in pieces {
            match item {
                Filtered::Text(s) => text.push_str(&s),
                Filtered::Call { name, arguments } => calls.push(format!("{name} {arguments}")),
            }
        }
        (text, calls)
    }

    /// Tool JSON split across tokens is removed and parsed; other braces pass through.
    #[test]
    fn filter_table() {
        let (t, c) = run(&["Sure. ", "{\"to", "ol\": \"add_to_list\", \"arguments\": {\"list\": \"shopping\", \"items\": [\"milk\"]}}", " Done."]);
        assert_eq!(t, "Sure.  Done.");
        assert_eq!(c, [r#"add_to_list {"items":["milk"],"list":"shopping"}"#]);
        let (t, c) = run(&[
            "```json\n",
            "{\"name\": \"set_timer\", \"parameters\": {\"seconds\": 60}}",
            "\n```",
        ]);
        assert_eq!(t, "```json\n\n```");
        assert_eq!(c, [r#"set_timer {"seconds":60}"#]);
        let (t, c) = run(&["Use {curly} braces and {\"a\": 1} data."]);
        assert_eq!(
            (t.as_str(), c.len()),
            ("Use {curly} braces and {\"a\": 1} data.", 0)
        );
        let (t, c) = run(&["Oops {\"tool\": \"x\", \"arguments\": {"]);
        assert_eq!(
            (t.as_str(), c.len()),
            ("Oops ", 0),
            "an unterminated call is never spoken"
        );
        let (t, c) = run(&["{\"tool\": \"show_list\", \"arguments\": {\"list\": \"a}b\"}}"]);
        assert_eq!(
            (t.as_str(), c),
            ("", vec![r#"show_list {"list":"a}b"}"#.to_string()])
        );
    }
}
