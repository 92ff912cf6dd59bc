//! The TwiML that connects a call to our Media Streams WebSocket
//! (protocols.md §1.4).
//!
//! The output is byte-for-byte what the `twilio` Python package's
//! `VoiceResponse` builds for the same call (attributes in name order, the
//! same escaping), which `tests/twilio_oracle.rs` checks.

/// One `<Connect><Stream>` response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectStream {
    /// `wss://` URL of the stream (no query string: Twilio drops it).
    pub url: String,
    /// Stream name, for stopping it by name later.
    pub name: Option<String>,
    /// Where Twilio posts stream status events.
    pub status_callback: Option<String>,
    /// `<Parameter>`s, delivered in `start.customParameters`.
    pub parameters: Vec<(String, String)>,
}

/// Escapes text for an XML attribute the way Python's `xml.sax.saxutils`
/// based builder in the `twilio` package does (`&`, `<`, `>`, `"`).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

impl ConnectStream {
    /// Renders the TwiML document.
    pub fn render(&self) -> String {
        let mut attrs: Vec<(&str, &str)> = vec![("url", &self.url)];
        if let Some(name) = &self.name {
            attrs.push(("name", name));
        }
        if let Some(cb) = &self.status_callback {
            attrs.push(("statusCallback", cb));
        }
        attrs.sort_by(|a, b| a.0.cmp(b.0));
        let mut xml =
            String::from(r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream"#);
        for (k, v) in attrs {
            xml.push_str(&format!(r#" {k}="{}""#, escape(v)));
        }
        xml.push('>');
        for (name, value) in &self.parameters {
            xml.push_str(&format!(
                r#"<Parameter name="{}" value="{}" />"#,
                escape(name),
                escape(value)
            ));
        }
        xml.push_str("</Stream></Connect></Response>");
        xml
    }
}

/// A `<Say>` then hang-up response, for refusing a call politely.
pub fn say_and_hang_up(text: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>{}</Say><Hangup /></Response>"#,
        escape(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_the_twilio_package_with_sorted_attributes_and_escaping() {
        let twiml = ConnectStream {
            url: "wss://example.com/twilio/stream".into(),
            name: Some("warmline".into()),
            status_callback: Some("https://example.com/twilio/stream-status".into()),
            parameters: vec![("call_token".into(), "abc&<>\"'".into())],
        }
        .render();
        assert_eq!(
            twiml,
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream name="warmline" statusCallback="https://example.com/twilio/stream-status" url="wss://example.com/twilio/stream"><Parameter name="call_token" value="abc&amp;&lt;&gt;&quot;'" /></Stream></Connect></Response>"#
        );
    }
}
