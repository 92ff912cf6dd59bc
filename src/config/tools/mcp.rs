//! The checks of `kind = "mcp"` entries in `[[tools]]`.

use super::ToolConfig;

/// Headers the Streamable HTTP transport sets on every request.
const RESERVED_HEADERS: [&str; 5] = [
    "accept",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

/// The checks of a `kind = "mcp"` entry: a server URL, headers (for its
/// auth), a timeout; the webhook keys that do not apply are refused rather
/// than ignored.
pub(super) fn validate_mcp(tool: &ToolConfig, env: &dyn Fn(&str) -> bool) -> Result<(), String> {
    let not_for_mcp =
        |key: &str, why: &str| Err(format!("{key} does not apply to kind = \"mcp\": {why}"));
    if tool.parameters.is_some() || tool.parameters_file.is_some() {
        return not_for_mcp("parameters", "the server lists each tool's schema");
    }
    if !tool.description.is_empty() {
        return not_for_mcp("description", "the server describes each of its tools");
    }
    if tool.method != "POST" {
        return not_for_mcp("method", "MCP calls go through tools/call");
    }
    if tool.idempotent || tool.retries > 0 {
        return not_for_mcp("idempotent/retries", "a tools/call is made once");
    }
    if tool.secret_env.is_some() {
        return not_for_mcp(
            "secret_env",
            "MCP requests are not signed; authenticate with headers_env (e.g. Authorization)",
        );
    }
    if tool.name.contains(crate::tools::mcp::SEPARATOR) {
        return Err(format!(
            "an mcp entry's name must not contain {:?}: it separates the entry from the tool in the names the model sees",
            crate::tools::mcp::SEPARATOR
        ));
    }
    let Some(url) = &tool.url else {
        return Err("an mcp entry needs url (the server's Streamable HTTP endpoint)".into());
    };
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        Ok(_) => {
            return Err(format!(
                "url {url:?} must be http:// or https:// with a host"
            ))
        }
        Err(e) => return Err(format!("url {url:?} is not a URL: {e}")),
    }
    if !(100..=120_000).contains(&tool.timeout_ms) {
        return Err(format!(
            "timeout_ms ({}) must be 100..=120000",
            tool.timeout_ms
        ));
    }
    for header in tool.headers.keys().chain(tool.headers_env.keys()) {
        if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
            return Err(format!("{header:?} is not a valid header name"));
        }
        // The transport sets these itself on every request.
        if RESERVED_HEADERS
            .iter()
            .any(|r| header.eq_ignore_ascii_case(r))
        {
            return Err(format!(
                "header {header:?} is set by the MCP transport itself"
            ));
        }
    }
    for var in tool.named_env() {
        if !env(var) {
            return Err(format!("environment variable {var} is named but not set"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ToolKind};

    const SHOP: &str = r#"
[[tools]]
name = "shop"
kind = "mcp"
url = "https://mcp.example.com/mcp"
headers_env = { "Authorization" = "SHOP_AUTH" }
timeout_ms = 3000
"#;

    fn load(text: &str, vars: &[(&str, &str)]) -> Result<Config, String> {
        Config::from_toml_and_env(
            text,
            Path::new("test.toml"),
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn an_mcp_entry_loads_with_its_url_headers_and_timeout_and_needs_no_signing_key() {
        let config = load(SHOP, &[("SHOP_AUTH", "Bearer t")]).expect("valid");
        let tool = &config.tools[0];
        assert_eq!(tool.kind, ToolKind::Mcp);
        assert_eq!(tool.timeout_ms, 3_000);
        assert_eq!(tool.url.as_deref(), Some("https://mcp.example.com/mcp"));
    }

    #[test]
    fn check_refuses_an_mcp_entry_without_a_usable_url_or_with_unset_variables() {
        let cases = [
            (
                SHOP.replace("url = \"https://mcp.example.com/mcp\"\n", ""),
                "needs url",
            ),
            (
                SHOP.replace("https://mcp.example.com/mcp", "ws://x/mcp"),
                "http",
            ),
            (
                SHOP.replace("https://mcp.example.com/mcp", "not a url"),
                "not a URL",
            ),
            (SHOP.replace("3000", "50"), "timeout_ms"),
            (
                SHOP.replace("\"Authorization\"", "\"Bad Header\""),
                "header name",
            ),
            (
                SHOP.replace("name = \"shop\"", "name = \"my__shop\""),
                "\"__\"",
            ),
            (
                SHOP.replace("\"Authorization\"", "\"Mcp-Session-Id\""),
                "transport itself",
            ),
        ];
        for (text, needle) in cases {
            let message = load(&text, &[("SHOP_AUTH", "x")]).expect_err(needle);
            assert!(message.contains(needle), "{needle}: {message}");
        }
        let message = load(SHOP, &[]).expect_err("SHOP_AUTH unset");
        assert!(message.contains("SHOP_AUTH"), "{message}");
        assert!(message.contains("\"shop\""), "{message}");
    }

    #[test]
    fn webhook_keys_that_do_not_apply_to_mcp_are_refused_saying_why() {
        let cases = [
            ("description = \"Shop tools.\"\n", "description"),
            ("parameters = { type = \"object\" }\n", "parameters"),
            ("method = \"PUT\"\n", "method"),
            ("idempotent = true\n", "idempotent"),
            ("secret_env = \"SHOP_AUTH\"\n", "secret_env"),
        ];
        for (line, needle) in cases {
            let text = format!("{SHOP}{line}");
            let message = load(&text, &[("SHOP_AUTH", "x")]).expect_err(needle);
            assert!(message.contains(needle), "{needle}: {message}");
            assert!(message.contains("shop"), "{message}");
        }
    }
}
