//! Just enough HTML reading to act like a browser on the real pages: find forms, their action, method,
//! hidden inputs and submit buttons, with character references decoded.

/// One `<form>` of a page.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub method: String,
    /// Named `<input>` fields with their values, in page order.
    pub fields: Vec<(String, String)>,
    /// Named submit buttons (`<button name value>` or `<input type=submit name value>`).
    pub buttons: Vec<(String, String)>,
}

impl Form {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every form of `html`.
pub fn forms(html: &str) -> Vec<Form> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<form").map(|i| i + at) {
        let end = lower[start..]
            .find("</form>")
            .map_or(html.len(), |i| i + start);
        let tag_end = lower[start..].find('>').map_or(end, |i| i + start);
        let tag = &html[start..=tag_end.min(html.len() - 1)];
        let mut form = Form {
            action: attr(tag, "action").unwrap_or_default(),
            method: attr(tag, "method")
                .unwrap_or_else(|| "get".into())
                .to_ascii_lowercase(),
            fields: Vec::new(),
            buttons: Vec::new(),
        };
        let body = &html[tag_end..end];
        for t in tags(body, "input") {
            let Some(name) = attr(t, "name") else {
                continue;
            };
            let value = attr(t, "value").unwrap_or_default();
            match attr(t, "type").map(|s| s.to_ascii_lowercase()).as_deref() {
                Some("submit") => form.buttons.push((name, value)),
                _ => form.fields.push((name, value)),
            }
        }
        for t in tags(body, "button") {
            if let Some(name) = attr(t, "name") {
                form.buttons
                    .push((name, attr(t, "value").unwrap_or_default()));
            }
        }
        out.push(form);
        at = end.max(start + 5);
    }
    out
}

/// The opening tags `<name ...>` in `html`.
fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let lower = html.to_ascii_lowercase();
    let open = format!("<{name}");
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find(&open).map(|i| i + at) {
        let end = lower[start..]
            .find('>')
            .map_or(html.len(), |i| i + start + 1);
        out.push(&html[start..end]);
        at = end;
    }
    out
}

/// The decoded value of attribute `name` in one tag.
pub fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut at = 0;
    while let Some(i) = lower[at..].find(name).map(|i| i + at) {
        let before_ok = i > 0 && lower.as_bytes()[i - 1].is_ascii_whitespace();
        let rest = lower[i + name.len()..].trim_start();
        if before_ok && rest.starts_with('=') {
            let value_start = tag.len() - rest.len() + 1;
            let raw = tag[value_start..].trim_start();
            let value = match raw.chars().next() {
                Some(q @ ('"' | '\'')) => raw[1..].split(q).next().unwrap_or(""),
                _ => raw
                    .split(|c: char| c.is_whitespace() || c == '>')
                    .next()
                    .unwrap_or(""),
            };
            return Some(decode(value));
        }
        at = i + name.len();
    }
    None
}

/// Decodes the character references a server may use when escaping.
pub fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest.find(';').filter(|&j| j <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if entity.starts_with("#x") || entity.starts_with("#X") => {
                u32::from_str_radix(&entity[2..], 16)
                    .ok()
                    .and_then(char::from_u32)
            }
            _ if entity.starts_with('#') => entity[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
