//! Python's `json.dumps(value, sort_keys=True)` byte for byte (separators
//! `", "` and `": "`, or `","` and `":"` compact, non-ASCII escaped as
//! `\uXXXX`): Poetry, PDM and pipenv hash project content serialised that
//! way, and a lock is stale exactly when that hash changes.
use serde_json::Value;

/// A TOML value as JSON (dates as their TOML text, as `tomllib` would not
/// give them either way to JSON: Poetry and PDM keys hold none).
pub fn from_toml(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(from_toml).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.iter().map(|(k, v)| (k.clone(), from_toml(v))).collect())
        }
    }
}

/// `json.dumps(value, sort_keys=True)`.
pub fn dumps_sorted(value: &Value) -> String {
    let mut out = String::new();
    write(value, (", ", ": "), &mut out);
    out
}

/// `json.dumps(value, sort_keys=True, separators=(",", ":"))`.
pub fn dumps_sorted_compact(value: &Value) -> String {
    let mut out = String::new();
    write(value, (",", ":"), &mut out);
    out
}

fn write(value: &Value, separators: (&str, &str), out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64().filter(|_| n.is_f64()) {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e16 => out.push_str(&format!("{f:.1}")),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(separators.0);
                }
                write(item, separators, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(separators.0);
                }
                string(key, out);
                out.push_str(separators.1);
                write(&map[key], separators, out);
            }
            out.push('}');
        }
    }
}

fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pythons_json_dumps_sort_keys() {
        let v: Value =
            serde_json::from_str(r#"{"b": [1, "é", null], "a": {"y": true, "x": "q\"\n"}}"#)
                .unwrap();
        // python3 -c 'import json; print(json.dumps({"b": [1, "é", None], "a": {"y": True, "x": "q\"\n"}}, sort_keys=True))'
        assert_eq!(
            dumps_sorted(&v),
            r#"{"a": {"x": "q\"\n", "y": true}, "b": [1, "\u00e9", null]}"#
        );
        assert_eq!(
            dumps_sorted(&Value::String("😀".into())),
            r#""\ud83d\ude00""#
        );
    }
}
